import Platform
import Synchronization

/// A bounded cache of token verdicts with least-recently-used eviction, sharded so worker
/// threads rarely wait for each other, with a few entries per thread in front of the shards.
///
/// Clients that share a token (a service account, a load test, one user's page making many
/// calls) all hash to one shard: under load every worker met that shard's lock, and its slow
/// path was 9 % of the responder's CPU. So each thread first looks in its own last few
/// verdicts (`ThreadLocal`, no lock, nothing shared written) and goes to the shard only on a
/// miss. Eviction by key id bumps a generation counter after clearing the shards, and a thread
/// drops its front entries when it sees a newer generation: an evicted verdict is never
/// returned by a lookup that starts after `evict` returned.
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
    /// Bumped by every eviction by key id; front entries of an older generation are dropped.
    private let generation = Atomic<UInt64>(0)
    private let fronts: ThreadLocal<Front>

    /// A thread's last `Front.size` verdicts; only its own thread touches it.
    private final class Front {
        let size: Int
        var keys: [TokenDigest?]
        var entries: [Entry?]
        var generation: UInt64 = 0
        var next = 0

        init(size: Int) {
            self.size = size
            keys = Array(repeating: nil, count: size)
            entries = Array(repeating: nil, count: size)
        }

        func lookup(_ key: TokenDigest, now: Double, generation current: UInt64) -> Value? {
            if generation != current {
                clear(generation: current)
                return nil
            }
            for index in 0..<size where keys[index] == key {
                guard let entry = entries[index], entry.expiresAt > now else {
                    keys[index] = nil
                    entries[index] = nil
                    return nil
                }
                return entry.value
            }
            return nil
        }

        func store(_ key: TokenDigest, _ entry: Entry, generation current: UInt64) {
            guard size > 0 else { return }
            if generation != current { clear(generation: current) }
            keys[next] = key
            entries[next] = entry
            next = (next + 1) % size
        }

        private func clear(generation current: UInt64) {
            for index in 0..<size {
                keys[index] = nil
                entries[index] = nil
            }
            generation = current
        }
    }

    /// - Parameters:
    ///   - capacity: most entries (at least 1), split evenly over the shards.
    ///   - perThread: entries each thread keeps in front of the shards (0: none). They count
    ///     beyond `capacity`, and live until their expiry or a key eviction.
    public init(capacity: Int, shardCount: Int = 16, perThread: Int = 8) {
        precondition(capacity >= 1, "capacity must be positive")
        let shardCount = max(1, min(shardCount, capacity))
        let perShard = (capacity + shardCount - 1) / shardCount
        self.capacity = perShard * shardCount
        self.shards = (0..<shardCount).map { _ in Shard(capacity: perShard) }
        let frontSize = max(0, perThread)
        self.fronts = ThreadLocal { Front(size: frontSize) }
    }

    /// The live entry for `key` at `now`, marking it recently used; expired entries are removed.
    public func value(for key: TokenDigest, now: Double) -> Value? {
        let current = generation.load(ordering: .acquiring)
        let front = fronts.value
        if let value = front.lookup(key, now: now, generation: current) { return value }
        guard let entry = shards[key.shard(of: shards.count)].state.withLock({ $0.lookup(key, now: now) }) else { return nil }
        front.store(key, entry, generation: current)
        return entry.value
    }

    /// Stores an entry (already-expired entries are not stored), evicting the least recently
    /// used one of its shard when full.
    public func store(_ entry: Entry, for key: TokenDigest, now: Double) {
        guard entry.expiresAt > now else { return }
        let current = generation.load(ordering: .acquiring)
        shards[key.shard(of: shards.count)].state.withLock { $0.insert(key, entry) }
        fronts.value.store(key, entry, generation: current)
    }

    /// Removes every entry verified by one of `keyIDs`; answers how many.
    @discardableResult
    public func evict(keyIDs: Set<String>) -> Int {
        guard !keyIDs.isEmpty else { return 0 }
        let removed = shards.reduce(0) { total, shard in
            total + shard.state.withLock { $0.removeAll(where: { $0.keyID.map(keyIDs.contains) ?? false }) }
        }
        // After the shards: a front entry taken from a shard before its removal carries the
        // generation read before this increment, so the next lookup drops it.
        generation.add(1, ordering: .sequentiallyConsistent)
        return removed
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

        mutating func lookup(_ key: TokenDigest, now: Double) -> Entry? {
            guard let slot = index[key], let entry = entries[slot] else { return nil }
            guard entry.expiresAt > now else {
                remove(slot)
                return nil
            }
            moveToHead(slot)
            return entry
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
