import TestSupport
import Auth
import Crypto
import CryptoExtras
import Foundation

/// The fixture keys of `TestKeys` and an RS256 minter for the router tests. (The Auth tests
/// have the full minter; test targets cannot share sources.)
enum Tokens {
    static let current = load { try _RSA.Signing.PrivateKey(pemRepresentation: TestKeys.rsaCurrent) }
    static let other = load { try _RSA.Signing.PrivateKey(pemRepresentation: TestKeys.rsaOther) }

    static let issuer = "https://sso.example.com/realms/testing"
    static let clientID = "fastapi-keycloak"
    /// The injected clock of every router test.
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    /// A Keycloak access token's claims; `changes` replaces claims, `nil` removes one.
    static func claims(_ changes: [String: Any?] = [:]) -> [String: Any] {
        let seconds = now.timeIntervalSince1970
        var claims: [String: Any] = [
            "exp": seconds + 300, "iat": seconds, "iss": issuer, "aud": "account", "sub": "0f1e2d3c",
            "typ": "Bearer", "azp": clientID, "scope": "openid email profile",
            "realm_access": ["roles": ["default-roles-testing"]],
            "name": "Abdullah Alqahtani", "preferred_username": "abdullah", "email": "abdullah@example.com",
        ]
        for (name, value) in changes {
            claims[name] = value
        }
        return claims
    }

    /// An RS256 token signed by `key` with `kid`.
    static func token(_ changes: [String: Any?] = [:], key: _RSA.Signing.PrivateKey = current, kid: String = "rsa-current") -> String {
        let input = Base64URL.encode(json(["alg": "RS256", "typ": "JWT", "kid": kid])) + "." + Base64URL.encode(json(claims(changes)))
        do {
            let signature = try key.signature(for: SHA256.hash(data: Array(input.utf8)), padding: .insecurePKCS1v1_5)
            return input + "." + Base64URL.encode(signature.rawRepresentation)
        } catch {
            fatalError("\(error)")
        }
    }

    /// A refresh token shaped like Keycloak's (an HS512 JWS this service never verifies), with
    /// `sid` in its payload when given.
    static func refresh(sid: String? = nil) -> String {
        var claims: [String: Any] = ["typ": "Refresh", "iss": issuer, "azp": clientID, "exp": now.timeIntervalSince1970 + 1800]
        claims["sid"] = sid
        return Base64URL.encode(json(["alg": "HS512", "typ": "JWT"])) + "." + Base64URL.encode(json(claims)) + "."
            + Base64URL.encode(Array("not-a-real-signature".utf8))
    }

    /// Keycloak's default `certs`: the encryption key first, then the signing key.
    static func jwks() -> [UInt8] {
        json([
            "keys": [jwk(other, kid: "enc-key", alg: "RSA-OAEP", use: "enc"), jwk(current, kid: "rsa-current", alg: "RS256", use: "sig")]
        ])
    }

    static func jwk(_ key: _RSA.Signing.PrivateKey, kid: String, alg: String, use: String) -> [String: Any] {
        do {
            let primitives = try key.publicKey.getKeyPrimitives()
            return [
                "kid": kid, "kty": "RSA", "alg": alg, "use": use,
                "n": Base64URL.encode(primitives.modulus), "e": Base64URL.encode(primitives.publicExponent),
            ]
        } catch {
            fatalError("\(error)")
        }
    }

    static func json(_ object: Any) -> [UInt8] {
        do {
            return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        } catch {
            fatalError("\(error)")
        }
    }

    private static func load<Key>(_ body: () throws -> Key) -> Key {
        do {
            return try body()
        } catch {
            fatalError("fixture key does not load; rerun scripts/make-test-keys.sh: \(error)")
        }
    }
}
