import Crypto

/// Server-provided DPoP nonces (RFC 9449 §9) without server state: a nonce is the time window it
/// was issued in and an HMAC of it. It is accepted in its window and the next (60 to 120 s).
///
/// The HMAC key is derived from the client secret (HKDF-SHA256), so replicas that share the
/// client share the nonces, and a nonce never reveals the secret.
public struct DPoPNonceIssuer: Sendable {
    private let key: SymmetricKey
    public static let windowSeconds: Int64 = 60

    public init(secret: String) {
        key = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: Array(secret.utf8)), info: Array("keycloak-fcgi DPoP nonce v1".utf8),
            outputByteCount: 32)
    }

    /// The nonce for the current window.
    public func nonce(now: Int64) -> String {
        let window = Self.bytes(of: now / Self.windowSeconds)
        return Base64URL.encode(window + Array(HMAC<SHA256>.authenticationCode(for: window, using: key)))
    }

    /// Whether `nonce` was issued by this key in the current or the previous window.
    public func accepts(_ nonce: String?, now: Int64) -> Bool {
        guard let nonce, nonce.utf8.count == 54, let bytes = Base64URL.decode(nonce), bytes.count == 40 else { return false }
        let window = Array(bytes[..<8])
        let issued = window.reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let current = now / Self.windowSeconds
        guard issued == current || issued == current - 1 else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(bytes[8...], authenticating: window, using: key)
    }

    private static func bytes(of value: Int64) -> [UInt8] {
        (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }
}
