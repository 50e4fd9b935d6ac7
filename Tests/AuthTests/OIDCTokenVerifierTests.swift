import Auth
import Foundation
import Testing
import TestSupport

/// ID tokens (OIDC Core §3.1.3.7) and logout tokens (Back-Channel Logout 1.0 §2.6): each rule
/// is a row that must refuse, next to the valid token that passes.
@Suite("OIDC token verifiers")
struct OIDCTokenVerifierTests {
    typealias P = FakeKeycloak
    static let now = FixtureRealm.now
    static let seconds = now.timeIntervalSince1970
    static let client = FixtureRealm.clientID
    static let verifier = JWTVerifier(policy: VerificationPolicy())

    static func keycloak() -> KeycloakClient {
        let keys = JWK.set([JWK.rsa(SigningKeys.rsaCurrent, kid: "rsa-current", alg: "RS256")])
        let transport = FakeTransport { request throws(AuthError) in
            guard request.url == P.jwksURI else { return .html(404) }
            return IncomingResponse(status: 200, contentType: "application/json", body: keys)
        }
        return KeycloakClient(provider: P.provider(), transport: transport)
    }

    static func idClaims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        var claims: [String: Any] = [
            "iss": P.issuer, "aud": client, "azp": client, "sub": FixtureRealm.subject, "typ": "ID", "exp": seconds + 300,
            "iat": seconds - 1, "nonce": "n-1", "sid": "s-1",
        ]
        for (key, value) in changes { claims[key] = value }
        return claims
    }

    static func logoutClaims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        var claims: [String: Any] = [
            "iss": P.issuer, "aud": client, "sub": FixtureRealm.subject, "typ": "Logout", "iat": seconds - 1, "exp": seconds + 120,
            "jti": "j-1", "sid": "s-1", "events": [LogoutTokenClaims.backchannelLogoutEvent: [String: Any]()],
        ]
        for (key, value) in changes { claims[key] = value }
        return claims
    }

    @Test("a valid ID token passes")
    func validIDToken() throws {
        let claims = try Self.verifier.verifyIDToken(
            TokenMinter.token(claims: Self.idClaims()), provider: Self.keycloak().provider, client: Self.keycloak(), clientID: Self.client,
            nonce: "n-1", now: Self.now)
        #expect(claims.sid == "s-1")
    }

    nonisolated(unsafe) static let idTokenRows: [(String, [String: Any?], AuthError.Code)] = [
        ("wrong nonce", ["nonce": "other"], .nonceMismatch),
        ("no nonce", ["nonce": nil], .nonceMismatch),
        ("another audience", ["aud": "other-client", "azp": "other-client"], .audienceMismatch),
        ("azp of another client", ["azp": "other-client"], .audienceMismatch),
        ("several audiences without azp", ["aud": [client, "x"], "azp": nil], .audienceMismatch),
        ("another issuer", ["iss": "https://evil.example.com/realms/testing"], .issuerMismatch),
        ("expired", ["exp": seconds - 120], .tokenExpired),
        ("issued in the future", ["iat": seconds + 600], .tokenNotYetValid),
        ("an access token", ["typ": "Bearer"], .wrongTokenType),
        ("no sub", ["sub": nil], .missingClaim),
    ]

    @Test("ID token rules", arguments: idTokenRows.indices)
    func idTokenRules(index: Int) {
        let row = Self.idTokenRows[index]
        let token = TokenMinter.token(claims: Self.idClaims(row.1))
        let client = Self.keycloak()
        #expect(throws: AuthError.self) {
            do throws(AuthError) {
                _ = try Self.verifier.verifyIDToken(
                    token, provider: client.provider, client: client, clientID: Self.client, nonce: "n-1", now: Self.now)
            } catch {
                #expect(error.code == row.2, "\(row.0)")
                throw error
            }
        }
    }

    @Test("a valid logout token passes, with sid or with sub only")
    func validLogoutToken() throws {
        let client = Self.keycloak()
        for claims in [Self.logoutClaims(), Self.logoutClaims(["sid": nil])] {
            let verified = try Self.verifier.verifyLogoutToken(
                TokenMinter.token(claims: claims, header: ["alg": "RS256", "typ": "logout+jwt", "kid": "rsa-current"]),
                provider: client.provider, client: client, clientID: Self.client, now: Self.now)
            #expect(verified.jti == "j-1")
        }
    }

    nonisolated(unsafe) static let logoutRows: [(String, [String: Any?], AuthError.Code)] = [
        ("with a nonce", ["nonce": "n"], .wrongTokenType),
        ("without events", ["events": nil], .missingClaim),
        ("events without the back-channel member", ["events": ["http://example.com/other": [String: Any]()]], .missingClaim),
        ("the back-channel member is not an object", ["events": [LogoutTokenClaims.backchannelLogoutEvent: "yes"]], .missingClaim),
        ("another audience", ["aud": "other-client"], .audienceMismatch),
        ("another issuer", ["iss": "https://evil.example.com/realms/testing"], .issuerMismatch),
        ("neither sid nor sub", ["sid": nil, "sub": nil], .missingClaim),
        ("no jti", ["jti": nil], .missingClaim),
        ("no iat", ["iat": nil], .missingClaim),
        ("too old", ["iat": seconds - 3600, "exp": nil], .tokenExpired),
        ("issued in the future", ["iat": seconds + 600], .tokenExpired),
        ("expired", ["exp": seconds - 120], .tokenExpired),
        ("an access token", ["typ": "Bearer"], .wrongTokenType),
        ("an ID token", ["typ": "ID"], .wrongTokenType),
    ]

    @Test("logout token rules", arguments: logoutRows.indices)
    func logoutTokenRules(index: Int) {
        let row = Self.logoutRows[index]
        let token = TokenMinter.token(claims: Self.logoutClaims(row.1))
        let client = Self.keycloak()
        #expect(throws: AuthError.self) {
            do throws(AuthError) {
                _ = try Self.verifier.verifyLogoutToken(
                    token, provider: client.provider, client: client, clientID: Self.client, now: Self.now)
            } catch {
                #expect(error.code == row.2, "\(row.0)")
                throw error
            }
        }
    }

    @Test("a logout token signed by another key, or typed as an access token, is refused")
    func signatureAndHeaderType() {
        let client = Self.keycloak()
        let forged = TokenMinter.token(claims: Self.logoutClaims(), signer: .rs256(SigningKeys.rsaOther))
        #expect(throws: AuthError(.signatureInvalid, "kid rsa-current")) {
            _ = try Self.verifier.verifyLogoutToken(forged, provider: client.provider, client: client, clientID: Self.client, now: Self.now)
        }
        let typed = TokenMinter.token(claims: Self.logoutClaims(), header: ["alg": "RS256", "typ": "at+jwt", "kid": "rsa-current"])
        #expect(throws: AuthError.self) {
            _ = try Self.verifier.verifyLogoutToken(typed, provider: client.provider, client: client, clientID: Self.client, now: Self.now)
        }
    }
}
