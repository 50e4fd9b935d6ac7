import Auth
import CryptoExtras
import Foundation

/// The realm every Swift test talks about: Keycloak's article realm at a fixed issuer, its
/// client, the injected clock, the published keys, and a Keycloak access token's claims.
/// Tokens are minted relative to `now` with `TokenMinter`.
public enum FixtureRealm {
    public static let issuer = "https://sso.example.com/realms/testing"
    public static let legacyIssuer = "https://sso.example.com/auth/realms/testing"
    public static let clientID = "fastapi-keycloak"
    /// Contains `&`, `+`, `%`, `#` and a non-ASCII letter: form encoding must be right.
    public static let clientSecret = "cl13nt-S3cret&+%#é"
    /// The user's password, with the same hazards.
    public static let password = "p&ss+w%rd é#1"
    /// The injected clock: every token is minted relative to it.
    public static let now = Date(timeIntervalSince1970: 1_700_000_000)
    /// The user's `sub`.
    public static let subject = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

    /// Keycloak-like JWKS: the current RSA key pinned to RS256, the same key unpinned (for the
    /// other RSA algorithms), EC keys pinned and unpinned.
    public static let keySet: JSONWebKeySet = {
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

    /// Keycloak's default `certs` as the provider publishes it: the encryption key first
    /// (`use: enc`, never to verify with), then the signing key.
    public static let keycloakJWKS = JWK.set([
        JWK.rsa(SigningKeys.rsaOther, kid: "enc-key", alg: "RSA-OAEP", use: "enc"),
        JWK.rsa(SigningKeys.rsaCurrent, kid: "rsa-current", alg: "RS256"),
    ])

    /// A Keycloak access token's claims; `changes` replaces claims, `nil` removes one.
    public static func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        let seconds = now.timeIntervalSince1970
        var claims: [String: Any] = [
            "exp": seconds + 300, "iat": seconds, "jti": "b6b4c0a8", "iss": issuer, "aud": "account",
            "sub": subject, "typ": "Bearer", "azp": clientID,
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

    /// A valid RS256 access token from the current key (`key` and `kid` to sign otherwise).
    public static func validToken(
        _ changes: [String: Any?] = [:], key: _RSA.Signing.PrivateKey = SigningKeys.rsaCurrent, kid: String = "rsa-current"
    ) -> String {
        TokenMinter.token(claims: claims(changes), kid: kid, signer: .rs256(key))
    }

    /// A refresh token shaped like Keycloak's (an HS512 JWS this service never verifies), with
    /// `sid` in its payload when given.
    public static func refreshToken(sid: String? = nil) -> String {
        var claims: [String: Any] = ["typ": "Refresh", "iss": issuer, "azp": clientID, "exp": now.timeIntervalSince1970 + 1800]
        claims["sid"] = sid
        return Base64URL.encode(JSON.bytes(["alg": "HS512", "typ": "JWT"])) + "." + Base64URL.encode(JSON.bytes(claims)) + "."
            + Base64URL.encode(Array("not-a-real-signature".utf8))
    }

    /// Verifies against the fixture key set at the fixture time.
    public static func verify(
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
