import Crypto
import CryptoExtras

/// A public key able to check signatures, built from a JWK by swift-crypto.
public enum VerificationKey: Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
}
