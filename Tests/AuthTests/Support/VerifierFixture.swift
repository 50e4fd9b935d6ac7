import Auth
import Foundation

/// A realm as the verifier tests see it: issuer, clock, the published keys and a standard
/// Keycloak access token's claims.
enum VerifierFixture {
    static let issuer = "https://sso.example.com/realms/testing"
    static let clientID = "fastapi-keycloak"
    /// The injected clock: every token is minted relative to it.
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    /// Keycloak-like JWKS: the current RSA key pinned to RS256, the same key unpinned (for the
    /// other RSA algorithms), EC keys pinned and unpinned.
    static let keySet: JSONWebKeySet = {
        let json = JWK.set([
            JWK.rsa(SigningKeys.rsaCurrent, kid: "rsa-current", alg: "RS256"),
            JWK.rsa(SigningKeys.rsaCurrent, kid: "rsa-unpinned"),
            JWK.p256(SigningKeys.p256, kid: "ec-p256"),
            JWK.p256(SigningKeys.p256, kid: "ec-p256-unpinned", alg: nil),
            JWK.p384(SigningKeys.p384, kid: "ec-p384"),
        ])
        do {
            return try JSONWebKeySet(json: json)
        } catch {
            fatalError("fixture JWKS does not parse: \(error)")
        }
    }()

    /// A Keycloak access token's claims; `changes` replaces claims, `nil` removes one.
    static func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        let seconds = now.timeIntervalSince1970
        var claims: [String: Any] = [
            "exp": seconds + 300, "iat": seconds, "jti": "b6b4c0a8", "iss": issuer, "aud": "account",
            "sub": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "typ": "Bearer", "azp": clientID,
            "sid": "5a6b7c8d", "acr": "1", "scope": "openid email profile", "email_verified": true,
            "realm_access": ["roles": ["offline_access", "uma_authorization", "default-roles-testing"]],
            "resource_access": ["account": ["roles": ["manage-account", "view-profile"]]],
            "name": "Abdullah Alqahtani", "preferred_username": "abdullah", "given_name": "Abdullah",
            "family_name": "Alqahtani", "email": "abdullah@example.com",
        ]
        for (name, value) in changes {
            claims[name] = value
        }
        return claims
    }

    /// A valid RS256 access token from the current key.
    static func validToken(_ changes: [String: Any?] = [:]) -> String {
        TokenMinter.token(claims: claims(changes))
    }

    /// Verifies against the fixture key set at the fixture time.
    static func verify(
        _ token: String,
        policy: VerificationPolicy = VerificationPolicy(),
        allowedAlgorithms: Set<SignatureAlgorithm> = Set(SignatureAlgorithm.allCases),
        now: Date = now
    ) throws(AuthError) -> AccessTokenClaims {
        try JWTVerifier(policy: policy).verify(token, now: now, issuer: issuer, allowedAlgorithms: allowedAlgorithms) {
            kid throws(AuthError) in
            guard let key = keySet[kid] else { throw AuthError(.unknownKeyID, kid) }
            return key
        }
    }
}
