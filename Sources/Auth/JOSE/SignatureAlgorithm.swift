import Crypto
import CryptoExtras

/// The JWS algorithms this verifier accepts (RFC 7518 §3): asymmetric only.
///
/// `none` and the HMAC family are absent on purpose: with a public key anyone could forge an
/// HMAC, and `none` is no signature at all. The cryptography is swift-crypto's.
public enum SignatureAlgorithm: String, Sendable, CaseIterable, Hashable {
    case rs256 = "RS256", rs384 = "RS384", rs512 = "RS512"
    case ps256 = "PS256", ps384 = "PS384", ps512 = "PS512"
    case es256 = "ES256", es384 = "ES384"

    /// Whether a key of this kind can check this algorithm's signatures.
    func accepts(_ key: VerificationKey) -> Bool {
        switch (self, key) {
        case (.rs256, .rsa), (.rs384, .rsa), (.rs512, .rsa),
            (.ps256, .rsa), (.ps384, .rsa), (.ps512, .rsa),
            (.es256, .p256), (.es384, .p384):
            true
        default:
            false
        }
    }

    /// Checks `signature` over `signingInput` with `key`. A key of the wrong kind fails.
    func verify(_ signature: [UInt8], over signingInput: ArraySlice<UInt8>, with key: VerificationKey) -> Bool {
        switch (self, key) {
        case (.rs256, .rsa(let key)):
            return key.isValidSignature(
                .init(rawRepresentation: signature), for: SHA256.hash(data: signingInput), padding: .insecurePKCS1v1_5)
        case (.rs384, .rsa(let key)):
            return key.isValidSignature(
                .init(rawRepresentation: signature), for: SHA384.hash(data: signingInput), padding: .insecurePKCS1v1_5)
        case (.rs512, .rsa(let key)):
            return key.isValidSignature(
                .init(rawRepresentation: signature), for: SHA512.hash(data: signingInput), padding: .insecurePKCS1v1_5)
        case (.ps256, .rsa(let key)):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA256.hash(data: signingInput), padding: .PSS)
        case (.ps384, .rsa(let key)):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA384.hash(data: signingInput), padding: .PSS)
        case (.ps512, .rsa(let key)):
            return key.isValidSignature(.init(rawRepresentation: signature), for: SHA512.hash(data: signingInput), padding: .PSS)
        case (.es256, .p256(let key)):
            // RFC 7518 §3.4: R || S, 32 bytes each; anything else is not an ES256 signature.
            guard signature.count == 64,
                let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: SHA256.hash(data: signingInput))
        case (.es384, .p384(let key)):
            guard signature.count == 96,
                let parsed = try? P384.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: SHA384.hash(data: signingInput))
        default:
            return false
        }
    }
}
