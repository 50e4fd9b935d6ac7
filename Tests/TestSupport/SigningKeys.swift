import Auth
import Crypto
import CryptoExtras
import Foundation

/// The fixture keys of `TestKeys`, loaded once, with their public halves as JWKs.
public enum SigningKeys {
    public static let rsaCurrent = load { try _RSA.Signing.PrivateKey(pemRepresentation: TestKeys.rsaCurrent) }
    public static let rsaOther = load { try _RSA.Signing.PrivateKey(pemRepresentation: TestKeys.rsaOther) }
    /// Below swift-crypto's 2048-bit floor, hence the `unsafe` initializer.
    public static let rsa1024 = load { try _RSA.Signing.PrivateKey(unsafePEMRepresentation: TestKeys.rsa1024) }
    public static let p256 = load { try P256.Signing.PrivateKey(pemRepresentation: TestKeys.p256) }
    public static let p384 = load { try P384.Signing.PrivateKey(pemRepresentation: TestKeys.p384) }

    private static func load<Key>(_ body: () throws -> Key) -> Key {
        do {
            return try body()
        } catch {
            fatalError("fixture key does not load; rerun scripts/make-test-keys.sh: \(error)")
        }
    }
}

/// Builds JWK JSON objects (RFC 7517) for the fixture keys, as a provider would publish them.
public enum JWK {
    public static func rsa(_ key: _RSA.Signing.PrivateKey, kid: String?, alg: String? = nil, use: String? = "sig") -> [String: Any] {
        let primitives: _RSA.Signing.PublicKey.Primitives
        do {
            primitives = try key.publicKey.getKeyPrimitives()
        } catch {
            fatalError("RSA primitives: \(error)")
        }
        var jwk: [String: Any] = [
            "kty": "RSA",
            "n": Base64URL.encode(primitives.modulus),
            "e": Base64URL.encode(primitives.publicExponent),
        ]
        jwk["kid"] = kid
        jwk["alg"] = alg
        jwk["use"] = use
        return jwk
    }

    public static func p256(_ key: P256.Signing.PrivateKey, kid: String, alg: String? = "ES256") -> [String: Any] {
        ec(key.publicKey.rawRepresentation, crv: "P-256", kid: kid, alg: alg)
    }

    public static func p384(_ key: P384.Signing.PrivateKey, kid: String, alg: String? = "ES384") -> [String: Any] {
        ec(key.publicKey.rawRepresentation, crv: "P-384", kid: kid, alg: alg)
    }

    private static func ec(_ raw: Data, crv: String, kid: String, alg: String?) -> [String: Any] {
        let half = raw.count / 2
        var jwk: [String: Any] = [
            "kty": "EC", "use": "sig", "kid": kid, "crv": crv,
            "x": Base64URL.encode(raw.prefix(half)),
            "y": Base64URL.encode(raw.suffix(half)),
        ]
        jwk["alg"] = alg
        return jwk
    }

    /// `{"keys":[...]}` as bytes.
    public static func set(_ keys: [[String: Any]]) -> [UInt8] {
        JSON.bytes(["keys": keys])
    }
}

public enum JSON {
    public static func bytes(_ object: Any) -> [UInt8] {
        do {
            return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        } catch {
            fatalError("fixture JSON: \(error)")
        }
    }
}
