import Crypto

/// Remembers the `jti` of every accepted DPoP proof for as long as the proof could be accepted
/// (RFC 9449 §11.1), so a captured proof cannot be sent again.
///
/// In one process the set is split into shards by the first byte of SHA-256(key ‖ jti), each
/// with its own lock: two requests meet on a lock only when their proofs fall in the same one of
/// 32 shards. With a shared revocation store (Redis) the claim goes there instead
/// (`SET … NX EX`), so a proof used at one replica is refused at every other.
public final class DPoPReplayGuard: Sendable {
    private let shards: [OnceClaims<ReplayKey>]
    private let shared: (any RevocationStore)?

    /// - Parameters:
    ///   - shared: the store replicas share, or nil to keep the claims in this process.
    ///   - capacity: claims kept in this process before the ones expiring soonest are dropped.
    public init(shared: (any RevocationStore)? = nil, capacity: Int = 1 << 19) {
        self.shared = shared
        let perShard = max(1, capacity / Self.shardCount)
        shards = (0..<Self.shardCount).map { _ in OnceClaims(capacity: perShard) }
    }

    static let shardCount = 32

    /// True the first time `proof`'s `jti` is seen for its key within `ttlSeconds`; false for a replay.
    public func claim(_ proof: DPoPProof, ttlSeconds: Int64, now: Int64) -> Bool {
        var hasher = SHA256()
        hasher.update(data: Array(proof.thumbprint.utf8))
        hasher.update(data: [0])
        hasher.update(data: Array(proof.jti.utf8))
        let digest = Array(hasher.finalize())
        if let shared {
            return shared.claimOnce("dpop-jti:" + Base64URL.encode(digest), ttlSeconds: ttlSeconds, now: now)
        }
        return shards[Int(digest[0]) % Self.shardCount].claim(ReplayKey(digest), ttlSeconds: ttlSeconds, now: now)
    }

    /// The first 128 bits of the digest: two words inline in the map's storage instead of a
    /// 43-character string on the heap (about 100 bytes a claim measured with strings; a
    /// proof a minute at a few thousand requests a second is hundreds of thousands of claims).
    struct ReplayKey: Hashable, Sendable {
        let high: UInt64
        let low: UInt64

        init(_ digest: [UInt8]) {
            high = digest[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
            low = digest[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
        }
    }
}
