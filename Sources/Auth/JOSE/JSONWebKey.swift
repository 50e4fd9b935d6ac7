import Crypto
import CryptoExtras

/// One entry of a JWK Set (RFC 7517 §4), with only the members a verifier needs.
struct JSONWebKey: Decodable, Sendable {
    /// RFC 7517 §4.1: `RSA` or `EC` are usable here.
    let kty: String
    /// RFC 7517 §4.2: `sig` or `enc`; an encryption key is never used to verify.
    let use: String?
    /// RFC 7517 §4.4: when present, the only algorithm this key may verify.
    let alg: String?
    /// RFC 7517 §4.5.
    let kid: String?
    /// RFC 7517 §4.3: when present, the key may only be used for these operations.
    let keyOps: [String]?
    /// RFC 7518 §6.3.1: modulus and exponent.
    let n: String?
    let e: String?
    /// RFC 7518 §6.2.1: curve and coordinates.
    let crv: String?
    let x: String?
    let y: String?

    enum CodingKeys: String, CodingKey {
        case kty, use, alg, kid, n, e, crv, x, y
        case keyOps = "key_ops"
    }

    /// Largest RSA modulus accepted; bigger keys only cost CPU per request.
    static let maximumRSABits = 8192

    /// Builds the swift-crypto key, or explains (without secrets) why this entry is unusable.
    func verificationKey() throws(AuthError) -> VerificationKey {
        switch kty {
        case "RSA":
            guard let n, let e, let modulus = Base64URL.decode(n), let exponent = Base64URL.decode(e) else {
                throw AuthError(.identityProviderInvalidResponse, "RSA key \(kid ?? "?") lacks n/e")
            }
            guard let key = try? _RSA.Signing.PublicKey(n: modulus, e: exponent),
                key.keySizeInBits <= Self.maximumRSABits
            else {
                throw AuthError(.identityProviderInvalidResponse, "RSA key \(kid ?? "?") is not a 2048..8192-bit key")
            }
            return .rsa(key)
        case "EC":
            guard let x, let y, let xBytes = Base64URL.decode(x), let yBytes = Base64URL.decode(y) else {
                throw AuthError(.identityProviderInvalidResponse, "EC key \(kid ?? "?") lacks x/y")
            }
            do {
                switch (crv, xBytes.count, yBytes.count) {
                case ("P-256", 32, 32):
                    return .p256(try P256.Signing.PublicKey(rawRepresentation: xBytes + yBytes))
                case ("P-384", 48, 48):
                    return .p384(try P384.Signing.PublicKey(rawRepresentation: xBytes + yBytes))
                default:
                    throw AuthError(.identityProviderInvalidResponse, "EC key \(kid ?? "?") has an unsupported curve")
                }
            } catch let error as AuthError {
                throw error
            } catch {
                throw AuthError(.identityProviderInvalidResponse, "EC key \(kid ?? "?") is not a point on its curve")
            }
        default:
            throw AuthError(.identityProviderInvalidResponse, "key \(kid ?? "?") has unsupported kty \(kty)")
        }
    }
}
