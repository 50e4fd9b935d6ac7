import Auth
import TestSupport
import Crypto
import CryptoExtras
import Foundation
import Testing

@Suite("JWTVerifier")
struct JWTVerifierTests {
    typealias F = FixtureRealm

    /// One refused token and the error code it must produce.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let expected: AuthError.Code
        var policy = VerificationPolicy()
        var allowedAlgorithms = Set(SignatureAlgorithm.allCases)
        let token: @Sendable () -> String

        var testDescription: String { "\(name) → \(expected.rawValue)" }

        init(
            _ name: String, _ expected: AuthError.Code, audiences: [String] = [], requiresAtJWT: Bool = false,
            allowed: Set<SignatureAlgorithm> = Set(SignatureAlgorithm.allCases), token: @escaping @Sendable () -> String
        ) {
            self.name = name
            self.expected = expected
            self.policy = VerificationPolicy(audiences: audiences, requiresAccessTokenHeaderType: requiresAtJWT)
            self.allowedAlgorithms = allowed
            self.token = token
        }
    }

    static let seconds = F.now.timeIntervalSince1970
    static let header = ["alg": "RS256", "typ": "JWT", "kid": "rsa-current"]

    static let refusals: [Refusal] = [
        // Size, then shape.
        Refusal("16 KiB + 1 byte", .tokenTooLarge) { String(repeating: "a", count: 16 * 1024 + 1) },
        Refusal("a valid token padded past 16 KiB", .tokenTooLarge) { F.validToken(["pad": String(repeating: "x", count: 16 * 1024)]) },
        Refusal("one segment", .malformedToken) { "abcdef" },
        Refusal("two segments", .malformedToken) { "eyJhbGciOiJSUzI1NiJ9.e30" },
        Refusal("four segments", .malformedToken) { F.validToken() + ".AAAA" },
        Refusal("empty header segment", .malformedToken) { ".e30.AAAA" },
        Refusal("empty payload segment", .malformedToken) { Base64URL.encode(JSON.bytes(header)) + "..AAAA" },
        Refusal("empty signature segment", .malformedToken) { F.validToken().split(separator: ".").prefix(2).joined(separator: ".") + "." },
        Refusal("header not base64url", .malformedToken) { "eyJ@bGc.e30.AAAA" },
        Refusal("header padded base64", .malformedToken) { "eyJhbGciOiJSUzI1NiJ9==.e30.AAAA" },
        Refusal("signature not base64url", .malformedToken) { F.validToken() + "=" },
        Refusal("header not JSON", .malformedToken) { Base64URL.encode(Array("not json".utf8)) + ".e30.AAAA" },
        Refusal("header a JSON array", .malformedToken) { Base64URL.encode(Array("[\"RS256\"]".utf8)) + ".e30.AAAA" },
        Refusal("header without alg", .malformedToken) { TokenMinter.token(claims: F.claims(), header: ["kid": "rsa-current"]) },
        // Algorithm allow-list.
        Refusal("alg none", .unsupportedAlgorithm) {
            TokenMinter.unsigned(header: ["alg": "none", "kid": "rsa-current"], claims: F.claims())
        },
        Refusal("HS256 keyed with the public key", .unsupportedAlgorithm) { hmacForgery() },
        Refusal("alg rs256 in lower case", .unsupportedAlgorithm) {
            TokenMinter.token(claims: F.claims(), header: ["alg": "rs256", "kid": "rsa-current"])
        },
        Refusal("unknown alg", .unsupportedAlgorithm) {
            TokenMinter.token(claims: F.claims(), header: ["alg": "RS1024", "kid": "rsa-current"])
        },
        Refusal("EdDSA", .unsupportedAlgorithm) { TokenMinter.unsigned(header: ["alg": "EdDSA", "kid": "ed"], claims: F.claims()) },
        Refusal("ES256 not among the allowed algorithms", .unsupportedAlgorithm, allowed: [.rs256]) {
            TokenMinter.token(claims: F.claims(), kid: "ec-p256", signer: .es256(SigningKeys.p256))
        },
        Refusal("crit header", .malformedToken) {
            TokenMinter.token(claims: F.claims(), header: ["alg": "RS256", "kid": "rsa-current", "crit": ["exp"], "exp": seconds])
        },
        // Key selection.
        Refusal("no kid", .unknownKeyID) { TokenMinter.token(claims: F.claims(), kid: nil) },
        Refusal("empty kid", .unknownKeyID) { TokenMinter.token(claims: F.claims(), kid: "") },
        Refusal("unknown kid", .unknownKeyID) { TokenMinter.token(claims: F.claims(), kid: "rotated-away") },
        Refusal("PS256 token, key pinned to RS256", .unsupportedAlgorithm) {
            TokenMinter.token(claims: F.claims(), kid: "rsa-current", signer: .ps256(SigningKeys.rsaCurrent))
        },
        Refusal("ES256 token naming an RSA key", .unsupportedAlgorithm) {
            TokenMinter.token(claims: F.claims(), kid: "rsa-unpinned", signer: .es256(SigningKeys.p256))
        },
        Refusal("RS256 token naming an unpinned EC key", .unsupportedAlgorithm) {
            TokenMinter.token(claims: F.claims(), kid: "ec-p256-unpinned", signer: .rs256(SigningKeys.rsaCurrent))
        },
        Refusal("ES384 token naming a P-256 key", .unsupportedAlgorithm) {
            TokenMinter.token(claims: F.claims(), kid: "ec-p256-unpinned", signer: .es384(SigningKeys.p384))
        },
        // Signature.
        Refusal("one signature byte flipped", .signatureInvalid) { TokenMinter.flippingSignatureByte(of: F.validToken()) },
        Refusal("signed by another key", .signatureInvalid) { TokenMinter.token(claims: F.claims(), signer: .rs256(SigningKeys.rsaOther)) },
        Refusal("payload swapped after signing", .signatureInvalid) {
            let good = F.validToken().split(separator: ".")
            let other = Base64URL.encode(JSON.bytes(F.claims(["preferred_username": "admin"])))
            return "\(good[0]).\(other).\(good[2])"
        },
        Refusal("RS256 signature over a PS256-looking header", .signatureInvalid) {
            // Header says RS256 for an unpinned key, but the signature is PSS.
            let input =
                Base64URL.encode(JSON.bytes(["alg": "RS256", "kid": "rsa-unpinned"])) + "." + Base64URL.encode(JSON.bytes(F.claims()))
            return input + "." + Base64URL.encode(TokenMinter.Signer.ps256(SigningKeys.rsaCurrent).sign(Array(input.utf8)))
        },
        Refusal("ES256 signature in DER instead of R||S", .signatureInvalid) { derSignedES256() },
        Refusal("empty-looking ES256 signature", .signatureInvalid) {
            let good = TokenMinter.token(claims: F.claims(), kid: "ec-p256", signer: .es256(SigningKeys.p256)).split(separator: ".")
            return "\(good[0]).\(good[1]).\(Base64URL.encode([UInt8](repeating: 0, count: 64)))"
        },
        // Claims, in order.
        Refusal("another issuer", .issuerMismatch) { F.validToken(["iss": "https://evil.example.com/realms/testing"]) },
        Refusal("issuer with a trailing slash", .issuerMismatch) { F.validToken(["iss": F.issuer + "/"]) },
        Refusal("issuer over http instead of https", .issuerMismatch) { F.validToken(["iss": "http://sso.example.com/realms/testing"]) },
        Refusal("no iss", .missingClaim) { F.validToken(["iss": nil]) },
        Refusal("expired beyond the 30 s skew", .tokenExpired) { F.validToken(["exp": seconds - 31]) },
        Refusal("expired exactly the skew ago", .tokenExpired) { F.validToken(["exp": seconds - 30]) },
        Refusal("expired long ago", .tokenExpired) { F.validToken(["exp": 1]) },
        Refusal("no exp", .missingClaim) { F.validToken(["exp": nil]) },
        Refusal("nbf beyond the skew", .tokenNotYetValid) { F.validToken(["nbf": seconds + 31]) },
        Refusal("typ Refresh", .wrongTokenType) { F.validToken(["typ": "Refresh"]) },
        Refusal("typ ID", .wrongTokenType) { F.validToken(["typ": "ID"]) },
        Refusal("typ Logout", .wrongTokenType) { F.validToken(["typ": "Logout"]) },
        Refusal("typ Bearer with a trailing space", .wrongTokenType) { F.validToken(["typ": "Bearer "]) },
        Refusal("typ Bearerx", .wrongTokenType) { F.validToken(["typ": "bearerx"]) },
        // Another provider's ID token: no typ, but an ID token's own claims.
        Refusal("no typ, with nonce (an ID token)", .wrongTokenType) { F.validToken(["typ": nil, "nonce": "n-0S6_WzA2Mj"]) },
        Refusal("no typ, with at_hash (an ID token)", .wrongTokenType) { F.validToken(["typ": nil, "at_hash": "77QmUPtjPfzWtF2AnpK9RQ"]) },
        // RFC 9068 header type, when the provider marks its access tokens.
        Refusal("at+jwt required, header typ JWT", .wrongTokenType, requiresAtJWT: true) { F.validToken() },
        Refusal("at+jwt required, no header typ", .wrongTokenType, requiresAtJWT: true) {
            TokenMinter.token(claims: F.claims(), header: ["alg": "RS256", "kid": "rsa-current"])
        },
        Refusal("at+jwt required, header typ at+jwt+x", .wrongTokenType, requiresAtJWT: true) {
            TokenMinter.token(claims: F.claims(), header: ["alg": "RS256", "typ": "at+jwt+x", "kid": "rsa-current"])
        },
        Refusal("aud string and azp both other", .audienceMismatch, audiences: [F.clientID]) {
            F.validToken(["aud": "account", "azp": "other-client"])
        },
        Refusal("aud array without the client, no azp", .audienceMismatch, audiences: [F.clientID]) {
            F.validToken(["aud": ["account", "broker"], "azp": nil])
        },
        Refusal("neither aud nor azp", .audienceMismatch, audiences: [F.clientID]) { F.validToken(["aud": nil, "azp": nil]) },
        Refusal("payload not JSON, correctly signed", .malformedToken) {
            TokenMinter.token(rawHeader: JSON.bytes(header), rawPayload: Array("not json".utf8), signer: .rs256(SigningKeys.rsaCurrent))
        },
        Refusal("payload a JSON array, correctly signed", .malformedToken) {
            TokenMinter.token(rawHeader: JSON.bytes(header), rawPayload: Array("[1,2]".utf8), signer: .rs256(SigningKeys.rsaCurrent))
        },
        Refusal("payload not base64url, correctly signed", .malformedToken) {
            TokenMinter.signed(
                encodedHeader: Base64URL.encode(JSON.bytes(header)), encodedPayload: "e30=", signer: .rs256(SigningKeys.rsaCurrent))
        },
        // The order of the checks decides which error wins.
        Refusal("forged and expired: signature first", .signatureInvalid) {
            TokenMinter.token(claims: F.claims(["exp": 1]), signer: .rs256(SigningKeys.rsaOther))
        },
        Refusal("wrong issuer and expired: issuer first", .issuerMismatch) { F.validToken(["iss": "https://evil.example.com", "exp": 1]) },
        Refusal("expired refresh token: expiry first", .tokenExpired) { F.validToken(["typ": "Refresh", "exp": 1]) },
    ]

    @Test("refuses", arguments: refusals)
    func refuses(_ refusal: Refusal) {
        let token = refusal.token()
        #expect {
            try F.verify(token, policy: refusal.policy, allowedAlgorithms: refusal.allowedAlgorithms)
        } throws: { error in
            (error as? AuthError)?.code == refusal.expected
        }
    }

    @Test("a token of exactly 16 KiB is not refused for its size")
    func sizeBoundary() {
        #expect {
            try F.verify(String(repeating: "a", count: 16 * 1024))
        } throws: { error in
            (error as? AuthError)?.code == .malformedToken
        }
    }

    @Test("error descriptions never contain the token")
    func errorsDoNotEchoTheToken() {
        for refusal in Self.refusals {
            let token = refusal.token()
            do {
                _ = try F.verify(token, policy: refusal.policy, allowedAlgorithms: refusal.allowedAlgorithms)
                Issue.record("\(refusal.name) verified")
            } catch {
                let signature = token.split(separator: ".").last.map(String.init) ?? token
                #expect(!error.description.contains(token), "\(refusal.name)")
                if signature.count > 8 {
                    #expect(!error.description.contains(signature), "\(refusal.name)")
                }
            }
        }
    }

    @Test(
        "does not look a key up for a token refused before key selection",
        arguments: [
            String(repeating: "a", count: 16 * 1024 + 1),
            "abc.def",
            TokenMinter.unsigned(header: ["alg": "none", "kid": "rsa-current"], claims: FixtureRealm.claims()),
            TokenMinter.unsigned(header: ["alg": "HS256", "kid": "rsa-current"], claims: FixtureRealm.claims()),
        ])
    func noKeyLookupForJunk(token: String) {
        var lookups = 0
        #expect(throws: AuthError.self) {
            try JWTVerifier(policy: VerificationPolicy()).verify(
                token, now: F.now, issuer: F.issuer, allowedAlgorithms: Set(SignatureAlgorithm.allCases)
            ) { kid throws(AuthError) in
                lookups += 1
                throw AuthError(.unknownKeyID, kid)
            }
        }
        #expect(lookups == 0)
    }

    @Test("asks the key lookup for the token's kid and passes its error through")
    func keyLookupGetsKid() {
        var asked: [String] = []
        let error = #expect(throws: AuthError.self) {
            try JWTVerifier(policy: VerificationPolicy()).verify(F.validToken(), now: F.now, issuer: F.issuer, allowedAlgorithms: [.rs256])
            { kid throws(AuthError) in
                asked.append(kid)
                throw AuthError(.identityProviderUnavailable, "down")
            }
        }
        #expect(asked == ["rsa-current"])
        #expect(error?.code == .identityProviderUnavailable)
    }

    // MARK: Accepted tokens

    static let signers: [(String, String)] = [
        ("RS256", "rsa-current"), ("RS384", "rsa-unpinned"), ("RS512", "rsa-unpinned"), ("PS256", "rsa-unpinned"),
        ("PS384", "rsa-unpinned"), ("PS512", "rsa-unpinned"), ("ES256", "ec-p256"), ("ES384", "ec-p384"),
        ("ES256", "ec-p256-unpinned"),
    ]

    static func signer(_ alg: String) -> TokenMinter.Signer {
        switch alg {
        case "RS256": .rs256(SigningKeys.rsaCurrent)
        case "RS384": .rs384(SigningKeys.rsaCurrent)
        case "RS512": .rs512(SigningKeys.rsaCurrent)
        case "PS256": .ps256(SigningKeys.rsaCurrent)
        case "PS384": .ps384(SigningKeys.rsaCurrent)
        case "PS512": .ps512(SigningKeys.rsaCurrent)
        case "ES256": .es256(SigningKeys.p256)
        default: .es384(SigningKeys.p384)
        }
    }

    @Test("verifies every supported algorithm and decodes the claims", arguments: signers)
    func accepts(alg: String, kid: String) throws {
        let token = TokenMinter.token(claims: F.claims(), kid: kid, signer: Self.signer(alg))
        let claims = try F.verify(token)
        #expect(claims.preferredUsername == "abdullah")
        #expect(claims.email == "abdullah@example.com")
        #expect(claims.name == "Abdullah Alqahtani")
        #expect(claims.givenName == "Abdullah")
        #expect(claims.familyName == "Alqahtani")
        #expect(claims.sub == "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
        #expect(claims.iss == F.issuer)
        #expect(claims.azp == F.clientID)
        #expect(claims.typ == "Bearer")
        #expect(claims.scope == "openid email profile")
        #expect(claims.aud?.values == ["account"])
        #expect(claims.realmAccess?.roles == ["offline_access", "uma_authorization", "default-roles-testing"])
        #expect(claims.resourceAccess?["account"]?.roles == ["manage-account", "view-profile"])
    }

    @Test(
        "accepts within the clock skew",
        arguments: [
            ["exp": seconds - 29], ["exp": seconds + 1], ["nbf": seconds + 29], ["nbf": seconds - 100],
        ] as [[String: Double]])
    func withinSkew(changes: [String: Double]) throws {
        #expect(throws: Never.self) { try F.verify(F.validToken(changes.mapValues { $0 as Any? })) }
    }

    @Test("the skew is the policy's", arguments: [(0.0, AuthError.Code?.some(.tokenExpired)), (60.0, nil)])
    func skewFromPolicy(skew: Double, expected: AuthError.Code?) {
        let token = F.validToken(["exp": Self.seconds - 10])
        do {
            _ = try F.verify(token, policy: VerificationPolicy(clockSkewSeconds: skew))
            #expect(expected == nil)
        } catch {
            #expect(error.code == expected)
        }
    }

    @Test("the clock is the injected one")
    func injectedClock() throws {
        let token = F.validToken(["exp": Self.seconds + 300])
        _ = try F.verify(token, now: F.now.addingTimeInterval(300 + 29))
        #expect(throws: AuthError(.tokenExpired, "exp \(Int64(Self.seconds + 300))")) {
            try F.verify(token, now: F.now.addingTimeInterval(300 + 31))
        }
    }

    @Test("without typ the token is accepted (typ is checked only when present)")
    func noTyp() throws {
        #expect(try F.verify(F.validToken(["typ": nil])).typ == nil)
    }

    @Test("typ Bearer in any case (Keycloak's lower-case bearer option)", arguments: ["Bearer", "bearer", "BEARER", "bEaReR"])
    func bearerInAnyCase(typ: String) throws {
        #expect(try F.verify(F.validToken(["typ": typ])).typ == typ)
    }

    @Test("typ Bearer with a nonce passes: Keycloak before 24 put nonce in access tokens too")
    func bearerWithNonce() throws {
        #expect(try F.verify(F.validToken(["nonce": "abc"])).nonce == "abc")
    }

    @Test("at+jwt required: the RFC 9068 header types pass", arguments: ["at+jwt", "application/at+jwt", "AT+JWT"])
    func accessTokenHeaderType(typ: String) throws {
        let token = TokenMinter.token(claims: F.claims(), header: ["alg": "RS256", "typ": typ, "kid": "rsa-current"])
        #expect(throws: Never.self) { try F.verify(token, policy: VerificationPolicy(requiresAccessTokenHeaderType: true)) }
    }

    @Test("introspection answers may omit iss; when present it must match")
    func introspectionIssuerOptional() throws {
        let verifier = JWTVerifier(policy: VerificationPolicy())
        let claims = { (iss: String?) throws -> AccessTokenClaims in
            var payload = F.claims(["iss": iss])
            if iss == nil { payload["iss"] = nil }
            return try JSONDecoder().decode(AccessTokenClaims.self, from: Data(JSON.bytes(payload)))
        }
        #expect(throws: Never.self) { try verifier.check(try claims(nil), now: F.now, issuer: F.issuer, issuerRequired: false) }
        #expect(throws: AuthError(.missingClaim, "iss")) { try verifier.check(try claims(nil), now: F.now, issuer: F.issuer) }
        #expect {
            try verifier.check(try claims("https://evil.example.com/realms/testing"), now: F.now, issuer: F.issuer, issuerRequired: false)
        } throws: { ($0 as? AuthError)?.code == .issuerMismatch }
    }

    static let audienceCases: [AudienceCase] = [
        AudienceCase(changes: ["aud": "fastapi-keycloak", "azp": "other"], name: "aud string"),
        AudienceCase(changes: ["aud": ["account", "fastapi-keycloak"], "azp": "other"], name: "aud array"),
        AudienceCase(changes: ["aud": nil, "azp": "fastapi-keycloak"], name: "azp only"),
        AudienceCase(changes: ["aud": "account", "azp": "fastapi-keycloak"], name: "azp with another aud"),
    ]

    @Test("audience matches via", arguments: audienceCases)
    func audienceMatches(_ audience: AudienceCase) throws {
        let token = F.validToken(audience.changes)
        #expect(throws: Never.self) { try F.verify(token, policy: VerificationPolicy(audiences: ["other-api", F.clientID])) }
    }

    @Test("without configured audiences aud and azp are not checked")
    func audienceOptIn() throws {
        #expect(throws: Never.self) { try F.verify(F.validToken(["aud": "someone-else", "azp": "someone-else"])) }
    }

    struct AudienceCase: @unchecked Sendable, CustomTestStringConvertible {
        // @unchecked: the dictionary holds only strings, arrays of strings and nil.
        let changes: [String: Any?]
        let name: String
        var testDescription: String { name }
    }

    // MARK: Forgeries

    /// The classic RS256→HS256 confusion: HMAC keyed with the provider's public key.
    static func hmacForgery() -> String {
        let input = Base64URL.encode(JSON.bytes(["alg": "HS256", "kid": "rsa-current"])) + "." + Base64URL.encode(JSON.bytes(F.claims()))
        let secret = SymmetricKey(data: Array(SigningKeys.rsaCurrent.publicKey.pemRepresentation.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: secret)
        return input + "." + Base64URL.encode(Array(mac))
    }

    static func derSignedES256() -> String {
        let input = Base64URL.encode(JSON.bytes(["alg": "ES256", "kid": "ec-p256"])) + "." + Base64URL.encode(JSON.bytes(F.claims()))
        do {
            let der = try SigningKeys.p256.signature(for: Array(input.utf8)).derRepresentation
            return input + "." + Base64URL.encode(der)
        } catch {
            fatalError("\(error)")
        }
    }
}
