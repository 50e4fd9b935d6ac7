import Crypto
import CryptoExtras
import Foundation
import TestSupport
import Testing

@testable import Auth

@Suite("DPoP proofs (RFC 9449 §4.3)")
struct DPoPProofTests {
    static let now: Int64 = 1_800_000_000
    static let uri = "https://api.example.com/protected"
    static let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    static let key = SigningKeys.p256
    static let otherKey = P256.Signing.PrivateKey()

    static func jwk(_ key: P256.Signing.PrivateKey = key) -> [String: Any] {
        let raw = key.publicKey.rawRepresentation
        return ["kty": "EC", "crv": "P-256", "x": Base64URL.encode(raw.prefix(32)), "y": Base64URL.encode(raw.suffix(32))]
    }

    static func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        var claims: [String: Any] = [
            "jti": UUID().uuidString, "htm": "GET", "htu": uri, "iat": now, "ath": DPoPProof.accessTokenHash(token),
        ]
        for (name, value) in changes { claims[name] = value }
        return claims
    }

    static func proof(
        header: [String: Any?] = [:], claims changes: [String: Any?] = [:], signer: TokenMinter.Signer = .es256(key)
    ) -> String {
        var protected: [String: Any] = ["typ": "dpop+jwt", "alg": "ES256", "jwk": jwk()]
        for (name, value) in header { protected[name] = value }
        return TokenMinter.token(rawHeader: JSON.bytes(protected), rawPayload: JSON.bytes(claims(changes)), signer: signer)
    }

    static func verify(_ proof: String, method: String = "GET", uri: String = uri, token: String = token) throws(AuthError) -> DPoPProof {
        try DPoPProof.verify(proof, method: method, targetURI: uri, accessToken: token, policy: DPoPPolicy(), now: now)
    }

    /// One refused proof and the `error_description` it must give.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let description: String
        let proof: @Sendable () -> String
        var testDescription: String { "\(name) → \(description)" }
        init(_ name: String, _ description: String, _ proof: @escaping @Sendable () -> String) {
            self.name = name
            self.description = description
            self.proof = proof
        }
    }

    static let refusals: [Refusal] = [
        Refusal("not a JWS", "malformed DPoP proof") { "not-a-jws" },
        Refusal("payload not JSON", "malformed DPoP proof") {
            TokenMinter.token(
                rawHeader: JSON.bytes(["typ": "dpop+jwt", "alg": "ES256", "jwk": jwk()]), rawPayload: Array("nope".utf8),
                signer: .es256(key))
        },
        Refusal("typ JWT", "typ is not dpop+jwt") { proof(header: ["typ": "JWT"]) },
        Refusal("typ in upper case", "typ is not dpop+jwt") { proof(header: ["typ": "DPOP+JWT"]) },
        Refusal("no typ", "typ is not dpop+jwt") { proof(header: ["typ": nil]) },
        Refusal("alg none", "alg is not allowed") {
            TokenMinter.unsigned(header: ["typ": "dpop+jwt", "alg": "none", "jwk": jwk()], claims: claims())
        },
        Refusal("alg HS256", "alg is not allowed") { proof(header: ["alg": "HS256"]) },
        Refusal("no jwk", "jwk is missing or not a public key") { proof(header: ["jwk": nil]) },
        Refusal("jwk with d", "jwk contains private key material") {
            var key = jwk()
            key["d"] = Base64URL.encode(Self.key.rawRepresentation)
            return proof(header: ["jwk": key])
        },
        Refusal("symmetric jwk", "jwk contains private key material") { proof(header: ["jwk": ["kty": "oct", "k": "AAAA"]]) },
        Refusal("RSA jwk for ES256", "jwk is missing or not a public key") {
            proof(header: ["jwk": JWK.rsa(SigningKeys.rsaCurrent, kid: nil, use: nil)])
        },
        Refusal("point not on the curve", "jwk is missing or not a public key") {
            var key = jwk()
            key["y"] = key["x"]
            return proof(header: ["jwk": key])
        },
        Refusal("signed by another key", "signature does not verify with the jwk") { proof(signer: .es256(otherKey)) },
        Refusal("no jti", "missing claim jti") { proof(claims: ["jti": nil]) },
        Refusal("no htm", "missing claim htm") { proof(claims: ["htm": nil]) },
        Refusal("no htu", "missing claim htu") { proof(claims: ["htu": nil]) },
        Refusal("no iat", "missing claim iat") { proof(claims: ["iat": nil]) },
        Refusal("no ath", "missing claim ath") { proof(claims: ["ath": nil]) },
        Refusal("iat a string", "malformed DPoP proof") { proof(claims: ["iat": "now"]) },
        Refusal("htm POST", "htm does not match the request method") { proof(claims: ["htm": "POST"]) },
        Refusal("htm get", "htm does not match the request method") { proof(claims: ["htm": "get"]) },
        Refusal("htu with a query", "htu has a query or fragment") { proof(claims: ["htu": uri + "?a=1"]) },
        Refusal("htu with a fragment", "htu has a query or fragment") { proof(claims: ["htu": uri + "#x"]) },
        Refusal("htu another path", "htu does not match the request URI") { proof(claims: ["htu": "https://api.example.com/other"]) },
        Refusal("htu another host", "htu does not match the request URI") { proof(claims: ["htu": "https://evil.example.com/protected"]) },
        Refusal("htu http", "htu does not match the request URI") { proof(claims: ["htu": "http://api.example.com/protected"]) },
        Refusal("iat 61 s old", "iat is outside the accepted window") { proof(claims: ["iat": now - 61]) },
        Refusal("iat 6 s ahead", "iat is outside the accepted window") { proof(claims: ["iat": now + 6]) },
        Refusal("ath of another token", "ath does not match the access token") {
            proof(claims: ["ath": DPoPProof.accessTokenHash(token + "x")])
        },
    ]

    @Test(arguments: refusals)
    func refuses(_ refusal: Refusal) {
        #expect(throws: AuthError(.invalidDPoPProof, refusal.description)) { try Self.verify(refusal.proof()) }
    }

    @Test func acceptsAValidProofAndReportsItsKeysThumbprint() throws {
        let checked = try Self.verify(Self.proof(claims: ["jti": "one", "nonce": "n"]))
        #expect(checked.jti == "one")
        #expect(checked.nonce == "n")
        #expect(checked.issuedAt == Self.now)
        let jwk = Self.jwk()
        let canonical = #"{"crv":"P-256","kty":"EC","x":"\#(jwk["x"]!)","y":"\#(jwk["y"]!)"}"#
        #expect(checked.thumbprint == Base64URL.encode(SHA256.hash(data: Array(canonical.utf8))))
    }

    @Test func acceptsTheEdgesOfTheWindowAndPSS() throws {
        _ = try Self.verify(Self.proof(claims: ["iat": Self.now - 60]))
        _ = try Self.verify(Self.proof(claims: ["iat": Self.now + 5]))
        let rsa = JWK.rsa(SigningKeys.rsaCurrent, kid: nil, use: nil)
        _ = try Self.verify(Self.proof(header: ["alg": "PS256", "jwk": rsa], signer: .ps256(SigningKeys.rsaCurrent)))
    }

    @Test func comparesHtuAfterNormalisation() throws {
        for htu in ["HTTPS://API.example.COM/protected", "https://api.example.com:443/protected", "https://api.example.com/%70rotected"] {
            _ = try Self.verify(Self.proof(claims: ["htu": htu]))
        }
    }

    @Test func refusesAnAlgorithmLeftOutOfThePolicy() {
        #expect(throws: AuthError(.invalidDPoPProof, "alg is not allowed")) {
            try DPoPProof.verify(
                Self.proof(), method: "GET", targetURI: Self.uri, accessToken: Self.token, policy: DPoPPolicy(algorithms: [.ps256]),
                now: Self.now)
        }
    }

    /// RFC 9449's own examples: §4.1's proof key and §7.1's access token.
    @Test func matchesTheRFCsExamples() throws {
        let key = try JSONDecoder().decode(
            JSONWebKey.self,
            from: Data(
                #"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#
                    .utf8))
        #expect(key.thumbprintSHA256() == "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
        #expect(DPoPProof.accessTokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo")
    }

    /// RFC 7638 §3.1's RSA example.
    @Test func matchesRFC7638sExample() throws {
        let n =
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        let key = try JSONDecoder().decode(
            JSONWebKey.self, from: Data(#"{"kty":"RSA","e":"AQAB","n":"\#(n)","alg":"RS256","kid":"2011-04-29"}"#.utf8))
        #expect(key.thumbprintSHA256() == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test func replayGuardRefusesASecondUseUntilTheWindowEnds() {
        let guardian = DPoPReplayGuard()
        let proof = DPoPProof(thumbprint: "t", jti: "j", issuedAt: Self.now, nonce: nil)
        #expect(guardian.claim(proof, ttlSeconds: 66, now: Self.now))
        #expect(!guardian.claim(proof, ttlSeconds: 66, now: Self.now + 65))
        #expect(guardian.claim(DPoPProof(thumbprint: "other key", jti: "j", issuedAt: Self.now, nonce: nil), ttlSeconds: 66, now: Self.now))
        #expect(guardian.claim(proof, ttlSeconds: 66, now: Self.now + 66))
    }

    @Test func replayGuardUsesTheSharedStoreWhenThereIsOne() {
        let store = MemoryRevocationStore()
        let first = DPoPReplayGuard(shared: store)
        let second = DPoPReplayGuard(shared: store)
        let proof = DPoPProof(thumbprint: "t", jti: "j", issuedAt: Self.now, nonce: nil)
        #expect(first.claim(proof, ttlSeconds: 66, now: Self.now))
        #expect(!second.claim(proof, ttlSeconds: 66, now: Self.now))
    }

    @Test func noncesLastTheirWindowAndTheNextAndNeedTheKey() {
        let issuer = DPoPNonceIssuer(secret: "client secret")
        let nonce = issuer.nonce(now: Self.now)
        #expect(issuer.accepts(nonce, now: Self.now))
        #expect(issuer.accepts(nonce, now: Self.now + DPoPNonceIssuer.windowSeconds))
        #expect(!issuer.accepts(nonce, now: Self.now + 2 * DPoPNonceIssuer.windowSeconds))
        #expect(!DPoPNonceIssuer(secret: "another secret").accepts(nonce, now: Self.now))
        #expect(!issuer.accepts(nil, now: Self.now))
        var bytes = Base64URL.decode(nonce)!
        bytes[20] ^= 1
        #expect(!issuer.accepts(Base64URL.encode(bytes), now: Self.now))
    }
}

@Suite("HTTPURI (RFC 3986 §6.2.2-6.2.3)")
struct HTTPURITests {
    @Test(arguments: [
        ("HTTPS://Example.COM/a", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com:08443/a", "https://example.com:8443/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%7euser/%2f", "https://example.com/~user/%2F"),
        ("https://example.com/a?q=1#f", "https://example.com/a"),
        ("https://[::1]:8443/a", "https://[::1]:8443/a"),
    ])
    func normalises(_ input: String, _ expected: String) {
        #expect(HTTPURI.normalized(input) == expected)
    }

    @Test(arguments: [
        "ftp://example.com/", "https://user@example.com/", "https://example.com:99999/", "https://example.com/%zz", "/relative",
        "https://:443/",
    ])
    func refuses(_ input: String) {
        #expect(HTTPURI.normalized(input) == nil)
    }
}

@Suite("TraceContext (W3C Trace Context §3)")
struct TraceContextTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func continuesAValidTraceWithANewSpan() {
        let trace = TraceContext.start(traceparent: Self.valid, tracestate: "congo=t61rcWkgMzE")
        #expect(trace.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.parentSpanID == "00f067aa0ba902b7")
        #expect(trace.spanID.count == 16 && trace.spanID != "00f067aa0ba902b7")
        #expect(trace.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(trace.spanID)-01")
        #expect(trace.traceState == "congo=t61rcWkgMzE")
    }

    @Test(arguments: [
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "garbage",
    ])
    func startsANewTraceForAnInvalidHeader(_ header: String) {
        let trace = TraceContext.start(traceparent: header, tracestate: "a=b")
        #expect(trace.parentSpanID == nil)
        #expect(trace.traceState == nil)
        #expect(trace.traceID.count == 32 && trace.traceID != "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.flags == "01")
    }

    @Test func acceptsALaterVersionWithMoreFields() {
        let trace = TraceContext.start(traceparent: "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever", tracestate: nil)
        #expect(trace.parentSpanID == "00f067aa0ba902b7")
    }
}
