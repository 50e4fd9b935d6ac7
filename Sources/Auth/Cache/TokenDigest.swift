import Crypto

/// A cache key: SHA-256 over a namespace and the token, so the token itself is never stored
/// and two configurations (another issuer, client or audience) can never share an entry.
public struct TokenDigest: Hashable, Sendable {
    private let words: (UInt64, UInt64, UInt64, UInt64)

    /// - Parameter namespace: what the verdict depends on besides the token (issuer, client,
    ///   audiences, verification mode).
    public init(namespace: String, token: some StringProtocol) {
        var hasher = SHA256()
        Self.update(&hasher, with: namespace)
        hasher.update(data: [0])
        Self.update(&hasher, with: token)
        self.init(hasher.finalize())
    }

    /// A key over a namespace and two strings, each string preceded by its UTF-8 length, so
    /// no two pairs hash the same bytes.
    init(namespace: String, token first: String, _ second: String) {
        var hasher = SHA256()
        Self.update(&hasher, with: namespace)
        hasher.update(data: [0])
        for field in [first, second] {
            withUnsafeBytes(of: UInt64(field.utf8.count).bigEndian) { hasher.update(bufferPointer: $0) }
            Self.update(&hasher, with: field)
        }
        self.init(hasher.finalize())
    }

    private init(_ digest: SHA256.Digest) {
        words = digest.withUnsafeBytes { bytes in
            func word(_ offset: Int) -> UInt64 {
                bytes[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) }
            }
            return (word(0), word(8), word(16), word(24))
        }
    }

    /// Hashes the text's UTF-8 in place (a session cookie is 3–4 KB; no copy of it per request).
    private static func update(_ hasher: inout SHA256, with text: some StringProtocol) {
        let hashed = text.utf8.withContiguousStorageIfAvailable { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        if hashed == nil { hasher.update(data: Array(text.utf8)) }
    }

    /// Which shard of a sharded cache the key belongs to.
    func shard(of count: Int) -> Int {
        Int(words.0 % UInt64(count))
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.words == rhs.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
    }
}
