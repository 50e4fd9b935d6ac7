import Synchronization

/// A bounded set of claimed keys, each until its expiry: the replay guard when nothing is
/// shared (the in-memory store), or while Redis is unreachable.
///
/// When it is full it first forgets what expired, then the tenth of the keys that expire
/// soonest (the ones closest to no longer mattering), so a flood cannot grow it without bound
/// and the sweep's cost is spread over many claims.
final class OnceClaims<Key: Hashable & Sendable>: Sendable {
    private let claims = Mutex<[Key: Int64]>([:])
    let capacity: Int

    init(capacity: Int = 100_000) {
        precondition(capacity > 0, "OnceClaims needs room for at least one key")
        self.capacity = capacity
    }

    /// Claims `key` until `now + ttlSeconds`; true unless it was claimed and has not expired.
    func claim(_ key: Key, ttlSeconds: Int64, now: Int64) -> Bool {
        claims.withLock { claims in
            if let expiresAt = claims[key], expiresAt > now { return false }
            if claims.count >= capacity && claims[key] == nil { Self.makeRoom(in: &claims, capacity: capacity, now: now) }
            claims[key] = now + max(1, ttlSeconds)
            return true
        }
    }

    /// Takes every unexpired claim (key, seconds left) and forgets them: after an outage they
    /// are written to Redis, which is the guard again from then on.
    func drain(now: Int64) -> [(key: Key, ttlSeconds: Int64)] {
        claims.withLock { claims in
            let unexpired = claims.filter { $0.value > now }.map { (key: $0.key, ttlSeconds: $0.value - now) }
            claims = [:]
            return unexpired
        }
    }

    var count: Int { claims.withLock { $0.count } }

    private static func makeRoom(in claims: inout [Key: Int64], capacity: Int, now: Int64) {
        claims = claims.filter { $0.value > now }
        guard claims.count >= capacity else { return }
        let soonest = claims.sorted { $0.value < $1.value }.prefix(max(1, capacity / 10))
        for (key, _) in soonest { claims[key] = nil }
    }
}
