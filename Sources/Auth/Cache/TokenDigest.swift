import Crypto

/// A cache key: SHA-256 over a namespace and the token, so the token itself is never stored
/// and two configurations (another issuer, client or audience) can never share an entry.
public struct TokenDigest: Hashable, Sendable {
    private let words: (UInt64, UInt64, UInt64, UInt64)

    /// - Parameter namespace: what the verdict depends on besides the token (issuer, client,
    ///   audiences, verification mode).
    public init(namespace: String, token: String) {
        var hasher = SHA256()
        hasher.update(data: Array(namespace.utf8))
        hasher.update(data: [0])
        hasher.update(data: Array(token.utf8))
        let digest = Array(hasher.finalize())
        func word(_ offset: Int) -> UInt64 {
            digest[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) }
        }
        words = (word(0), word(8), word(16), word(24))
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
