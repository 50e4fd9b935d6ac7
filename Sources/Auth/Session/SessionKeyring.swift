import Crypto
import FoundationEssentials

/// The keys that seal browser cookies (the session and the sign-in state) with AES-256-GCM:
/// encrypted and authenticated, so a cookie can neither be read nor changed by its holder.
///
/// Keys rotate: the first key seals, every key opens. A sealed value names its key by a 4-byte
/// id (the start of the key's SHA-256), so opening costs one AES-GCM attempt, not one per key;
/// a key removed from the list no longer opens anything sealed with it.
///
/// Sealed form: `v1.` + base64url(key id ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag). The
/// `purpose` (the cookie's role, e.g. `session`) is authenticated as associated data, so a
/// value sealed for one purpose never opens as another.
public struct SessionKeyring: Sendable {
    private let keys: [(id: [UInt8], key: SymmetricKey)]

    /// - Parameter keys: 32-byte keys, the sealing key first.
    public init(keys: [[UInt8]]) throws(AuthError) {
        guard !keys.isEmpty else { throw AuthError(.missingClaim, "no session key") }
        guard keys.allSatisfy({ $0.count == 32 }) else { throw AuthError(.malformedToken, "a session key is not 32 bytes") }
        self.keys = keys.map { bytes in (Array(SHA256.hash(data: bytes).prefix(4)), SymmetricKey(data: bytes)) }
    }

    /// The keys of a key file: one key per line, 32 bytes written as base64, base64url or 64 hex
    /// digits; blank lines and `#` comments ignored. The first key seals. Errors name the line,
    /// never its content.
    public static func parseKeyFile(_ text: String) -> Result<[[UInt8]], KeyFileError> {
        var keys: [[UInt8]] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.filter { $0 != " " && $0 != "\t" && $0 != "\r" }
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let key = decodeKey(String(line)) else { return .failure(KeyFileError(line: index + 1)) }
            keys.append(key)
        }
        return keys.isEmpty ? .failure(KeyFileError(line: 0)) : .success(keys)
    }

    /// A key file line that is not a 32-byte key (line 0: the file has no key).
    public struct KeyFileError: Error, Sendable, Equatable {
        public let line: Int

        public init(line: Int) { self.line = line }
    }

    static func decodeKey(_ text: String) -> [UInt8]? {
        if text.utf8.count == 64, let bytes = hexBytes(text) { return bytes }
        let unpadded = text.hasSuffix("=") ? String(text.prefix { $0 != "=" }) : text
        let urlSafe = String(unpadded.map { $0 == "+" ? "-" : $0 == "/" ? "_" : $0 })
        guard let bytes = Base64URL.decode(urlSafe), bytes.count == 32 else { return nil }
        return bytes
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = hexValue(high), let l = hexValue(low) else { return nil }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// `plaintext` sealed with the first key for `purpose`.
    public func seal(_ plaintext: [UInt8], purpose: String) -> String {
        let (id, key) = keys[0]
        // AES.GCM draws a fresh random 12-byte nonce for every seal.
        guard let box = try? AES.GCM.seal(plaintext, using: key, authenticating: Array(purpose.utf8)) else {
            preconditionFailure("AES-GCM sealing with a 256-bit key cannot fail")
        }
        return "v1." + Base64URL.encode(id + Array(box.nonce) + Array(box.ciphertext) + Array(box.tag))
    }

    /// The plaintext of `sealed`, or nil when it is not a value this keyring sealed for
    /// `purpose` (altered, truncated, another key, a rotated-out key, another purpose).
    public func open(_ sealed: Substring, purpose: String) -> [UInt8]? {
        guard sealed.hasPrefix("v1."), let bytes = Base64URL.decode(String(sealed.dropFirst(3))), bytes.count >= 4 + 12 + 16 else {
            return nil
        }
        let id = Array(bytes[0..<4])
        guard let key = keys.first(where: { $0.id == id })?.key,
            let box = try? AES.GCM.SealedBox(
                nonce: AES.GCM.Nonce(data: bytes[4..<16]), ciphertext: bytes[16..<(bytes.count - 16)],
                tag: bytes[(bytes.count - 16)...])
        else { return nil }
        return try? Array(AES.GCM.open(box, using: key, authenticating: Array(purpose.utf8)))
    }

    /// `count` random bytes from the system's secure generator, base64url: state, nonce, PKCE
    /// verifier and CSRF values.
    public static func randomToken(bytes count: Int = 32) -> String {
        let key = SymmetricKey(size: SymmetricKeySize(bitCount: count * 8))
        return key.withUnsafeBytes { Base64URL.encode($0) }
    }

    /// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
    public static func pkceChallenge(_ verifier: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(verifier.utf8)))
    }
}
