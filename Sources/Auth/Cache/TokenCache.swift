import Synchronization

/// A bounded cache of token verdicts with least-recently-used eviction, sharded so worker
/// threads rarely wait for each other.
///
/// Every entry carries an absolute expiry (seconds since 1970) and is never returned at or
/// after it: a cached verdict cannot outlive the token's `exp`. Entries can also carry the
/// `kid` that verified them, so a key the provider withdraws takes its verdicts with it.
public final class TokenCache<Value: Sendable>: Sendable {
    /// A cached verdict.
    public struct Entry: Sendable {
        public let value: Value
        /// Seconds since 1970 from which the entry is dead.
        public let expiresAt: Double
        /// The signing key that verified it, if any.
        public let keyID: String?

        public init(value: Value, expiresAt: Double, keyID: String? = nil) {
            self.value = value
            self.expiresAt = expiresAt
            self.keyID = keyID
        }
    }

    /// One lock per shard. A class, because `Mutex` cannot be an array element.
    private final class Shard: Sendable {
        let state: Mutex<LRU>
        init(capacity: Int) { state = Mutex(LRU(capacity: capacity)) }
    }

    private let shards: [Shard]
    /// Most entries held.
    public let capacity: Int

    /// - Parameter capacity: most entries (at least 1), split evenly over the shards.
    public init(capacity: Int, shardCount: Int = 16) {
        precondition(capacity >= 1, "capacity must be positive")
        let shardCount = max(1, min(shardCount, capacity))
        let perShard = (capacity + shardCount - 1) / shardCount
        self.capacity = perShard * shardCount
        self.shards = (0..<shardCount).map { _ in Shard(capacity: perShard) }
    }

    /// The live entry for `key` at `now`, marking it recently used; expired entries are removed.
    public func value(for key: TokenDigest, now: Double) -> Value? {
        shards[key.shard(of: shards.count)].state.withLock { $0.lookup(key, now: now) }
    }

    /// Stores an entry (already-expired entries are not stored), evicting the least recently
    /// used one of its shard when full.
    public func store(_ entry: Entry, for key: TokenDigest, now: Double) {
        guard entry.expiresAt > now else { return }
        shards[key.shard(of: shards.count)].state.withLock { $0.insert(key, entry) }
    }

    /// Removes every entry verified by one of `keyIDs`; answers how many.
    @discardableResult
    public func evict(keyIDs: Set<String>) -> Int {
        guard !keyIDs.isEmpty else { return 0 }
        return shards.reduce(0) { total, shard in
            total + shard.state.withLock { $0.removeAll(where: { $0.keyID.map(keyIDs.contains) ?? false }) }
        }
    }

    /// Entries held now (live or not yet swept).
    public var count: Int {
        shards.reduce(0) { $0 + $1.state.withLock { $0.count } }
    }

    /// One shard: a hash map into a doubly linked list kept in arrays (index links, no
    /// per-node allocation), most recently used at the head.
    private struct LRU {
        let capacity: Int
        var index: [TokenDigest: Int] = [:]
        var keys: [TokenDigest?] = []
        var entries: [Entry?] = []
        var previous: [Int] = []
        var next: [Int] = []
        var head = -1
        var tail = -1
        var free: [Int] = []

        init(capacity: Int) {
            self.capacity = capacity
            index.reserveCapacity(capacity)
        }

        var count: Int { index.count }

        mutating func lookup(_ key: TokenDigest, now: Double) -> Value? {
            guard let slot = index[key], let entry = entries[slot] else { return nil }
            guard entry.expiresAt > now else {
                remove(slot)
                return nil
            }
            moveToHead(slot)
            return entry.value
        }

        mutating func insert(_ key: TokenDigest, _ entry: Entry) {
            if let slot = index[key] {
                entries[slot] = entry
                moveToHead(slot)
                return
            }
            if index.count >= capacity, tail >= 0 {
                remove(tail)
            }
            let slot: Int
            if let reused = free.popLast() {
                slot = reused
                keys[slot] = key
                entries[slot] = entry
            } else {
                slot = keys.count
                keys.append(key)
                entries.append(entry)
                previous.append(-1)
                next.append(-1)
            }
            index[key] = slot
            linkAtHead(slot)
        }

        mutating func removeAll(where shouldRemove: (Entry) -> Bool) -> Int {
            var removed = 0
            var slot = head
            while slot >= 0 {
                let following = next[slot]
                if let entry = entries[slot], shouldRemove(entry) {
                    remove(slot)
                    removed += 1
                }
                slot = following
            }
            return removed
        }

        private mutating func remove(_ slot: Int) {
            unlink(slot)
            if let key = keys[slot] {
                index[key] = nil
            }
            keys[slot] = nil
            entries[slot] = nil
            free.append(slot)
        }

        private mutating func moveToHead(_ slot: Int) {
            guard slot != head else { return }
            unlink(slot)
            linkAtHead(slot)
        }

        private mutating func linkAtHead(_ slot: Int) {
            previous[slot] = -1
            next[slot] = head
            if head >= 0 { previous[head] = slot }
            head = slot
            if tail < 0 { tail = slot }
        }

        private mutating func unlink(_ slot: Int) {
            let before = previous[slot]
            let after = next[slot]
            if before >= 0 { next[before] = after } else { head = after }
            if after >= 0 { previous[after] = before } else { tail = before }
            previous[slot] = -1
            next[slot] = -1
        }
    }
}
