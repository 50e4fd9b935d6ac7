import Logging

/// The revocation store of a single instance: the list in memory and nothing shared. A
/// revocation reaches only the replica that received the logout, so with several replicas use
/// `RedisRevocationStore`.
public final class MemoryRevocationStore: RevocationStore {
    public let list = RevocationList()
    private let claims: OnceClaims<String>

    /// A store whose replay guard remembers at most `claimCapacity` keys.
    public init(claimCapacity: Int = 100_000) {
        claims = OnceClaims(capacity: claimCapacity)
    }

    public func start(logger: Logger) {}

    public func stop() {}

    /// Also drops expired entries: there is no background thread to do it.
    public func revoke(_ revocation: Revocation, logger: Logger) {
        list.removeExpired(now: unixNow())
        list.insert(revocation)
        RevocationMetrics.received(from: .local)
    }

    public func claimOnce(_ key: String, ttlSeconds: Int64, now: Int64) -> Bool {
        claims.claim(key, ttlSeconds: ttlSeconds, now: now)
    }

    public var status: RevocationStoreStatus { .memory }
}
