import Auth
import Dispatch
import Synchronization
import Testing

@Suite("TokenCache")
struct TokenCacheTests {
    static func key(_ name: String) -> TokenDigest {
        TokenDigest(namespace: "test", token: name)
    }

    /// A cache of strings; the value stored under `key(name)` is always `name`.
    static func store(_ cache: TokenCache<String>, _ names: [String], expiresAt: Double = 1_000, keyID: String? = nil, now: Double = 0) {
        for name in names {
            cache.store(.init(value: name, expiresAt: expiresAt, keyID: keyID), for: key(name), now: now)
        }
    }

    /// The names that are still cached, looked up in the order given (which refreshes them).
    static func present(_ cache: TokenCache<String>, _ names: [String], now: Double = 0) -> [String] {
        names.filter { cache.value(for: key($0), now: now) == $0 }
    }

    @Test("a stored entry is found under its key, and only there")
    func storeAndLookup() {
        let cache = TokenCache<String>(capacity: 8)
        cache.store(.init(value: "alice", expiresAt: 100), for: Self.key("token-a"), now: 0)
        #expect(cache.value(for: Self.key("token-a"), now: 0) == "alice")
        #expect(cache.value(for: Self.key("token-b"), now: 0) == nil)
        #expect(cache.value(for: TokenDigest(namespace: "other", token: "token-a"), now: 0) == nil)
        #expect(cache.count == 1)
    }

    @Test("storing a key again replaces its value without growing the cache")
    func replace() {
        let cache = TokenCache<String>(capacity: 8)
        cache.store(.init(value: "first", expiresAt: 100), for: Self.key("t"), now: 0)
        cache.store(.init(value: "second", expiresAt: 200), for: Self.key("t"), now: 0)
        #expect(cache.value(for: Self.key("t"), now: 150) == "second")
        #expect(cache.count == 1)
    }

    @Test(
        "an entry is served strictly before expiresAt, never at or after it",
        arguments: [
            (99.999, true), (0, true), (100, false), (100.001, false), (10_000, false),
        ])
    func expiry(now: Double, served: Bool) {
        let cache = TokenCache<String>(capacity: 8)
        cache.store(.init(value: "alice", expiresAt: 100), for: Self.key("t"), now: 0)
        #expect((cache.value(for: Self.key("t"), now: now) != nil) == served)
    }

    @Test("looking up a dead entry removes it")
    func expiredEntryRemoved() {
        let cache = TokenCache<String>(capacity: 8)
        cache.store(.init(value: "alice", expiresAt: 100), for: Self.key("dead"), now: 0)
        cache.store(.init(value: "bob", expiresAt: 500), for: Self.key("live"), now: 0)
        #expect(cache.count == 2)
        #expect(cache.value(for: Self.key("dead"), now: 100) == nil)
        #expect(cache.count == 1)
        // Gone for good: an earlier clock does not bring it back.
        #expect(cache.value(for: Self.key("dead"), now: 50) == nil)
        #expect(cache.value(for: Self.key("live"), now: 100) == "bob")
    }

    @Test("an entry already dead when stored is not stored", arguments: [100.0, 100.5, 1_000])
    func alreadyExpired(now: Double) {
        let cache = TokenCache<String>(capacity: 8)
        cache.store(.init(value: "alice", expiresAt: 100), for: Self.key("t"), now: now)
        #expect(cache.count == 0)
        #expect(cache.value(for: Self.key("t"), now: 0) == nil)
    }

    @Test("a dead entry stored over a live one leaves the live one")
    func deadDoesNotReplace() {
        let cache = TokenCache<String>(capacity: 8)
        cache.store(.init(value: "live", expiresAt: 500), for: Self.key("t"), now: 0)
        cache.store(.init(value: "dead", expiresAt: 100), for: Self.key("t"), now: 200)
        #expect(cache.value(for: Self.key("t"), now: 200) == "live")
    }

    // MARK: LRU

    @Test("when full, the least recently stored entry goes first")
    func evictionOrder() {
        let cache = TokenCache<String>(capacity: 3, shardCount: 1, perThread: 0)
        #expect(cache.capacity == 3)
        Self.store(cache, ["a", "b", "c", "d"])
        #expect(cache.count == 3)
        #expect(Self.present(cache, ["a", "b", "c", "d"]) == ["b", "c", "d"])
        Self.store(cache, ["e"])
        // The lookups above touched b, c, d in that order: b is now the oldest.
        #expect(Self.present(cache, ["a", "b", "c", "d", "e"]) == ["c", "d", "e"])
    }

    @Test("a lookup makes an entry recently used")
    func lookupRefreshesRecency() {
        let cache = TokenCache<String>(capacity: 3, shardCount: 1, perThread: 0)
        Self.store(cache, ["a", "b", "c"])
        #expect(cache.value(for: Self.key("a"), now: 0) == "a")
        Self.store(cache, ["d"])
        #expect(cache.value(for: Self.key("b"), now: 0) == nil)
        #expect(cache.value(for: Self.key("a"), now: 0) == "a")
        Self.store(cache, ["e"])
        // Oldest first, after the second look-up of a: c, d, a.
        #expect(cache.value(for: Self.key("c"), now: 0) == nil)
        #expect(Self.present(cache, ["a", "d", "e"]) == ["a", "d", "e"])
    }

    @Test("storing an existing key again makes it recently used")
    func storeRefreshesRecency() {
        let cache = TokenCache<String>(capacity: 3, shardCount: 1, perThread: 0)
        Self.store(cache, ["a", "b", "c", "a", "d"])
        #expect(Self.present(cache, ["a", "b", "c", "d"]) == ["a", "c", "d"])
    }

    @Test("the bound holds over many inserts, and the newest entries are the ones kept")
    func capacityBound() {
        let cache = TokenCache<String>(capacity: 10, shardCount: 1)
        let names = (0..<1_000).map { "token-\($0)" }
        Self.store(cache, names)
        #expect(cache.count == 10)
        #expect(Self.present(cache, names) == Array(names.suffix(10)))
    }

    @Test(
        "capacity is split over the shards and rounded up, never below what was asked",
        arguments: [(1, 16, 1), (10, 1, 10), (100, 16, 112), (16, 16, 16), (3, 8, 3)])
    func shardedCapacity(requested: Int, shards: Int, expected: Int) {
        let cache = TokenCache<String>(capacity: requested, shardCount: shards)
        #expect(cache.capacity == expected)
        Self.store(cache, (0..<(requested * 20)).map { "t\($0)" })
        #expect(cache.count <= cache.capacity)
        #expect(cache.count > 0)
    }

    // MARK: Key withdrawal

    @Test("evict(keyIDs:) removes exactly the entries verified by those keys")
    func evictByKeyID() {
        let cache = TokenCache<String>(capacity: 16, shardCount: 4)
        Self.store(cache, ["k1-a", "k1-b"], keyID: "k1")
        Self.store(cache, ["k2-a"], keyID: "k2")
        Self.store(cache, ["k3-a"], keyID: "k3")
        Self.store(cache, ["none-a"])
        #expect(cache.evict(keyIDs: ["k1", "k3", "never-used"]) == 3)
        #expect(cache.count == 2)
        #expect(Self.present(cache, ["k1-a", "k1-b", "k2-a", "k3-a", "none-a"]) == ["k2-a", "none-a"])
        #expect(cache.evict(keyIDs: []) == 0)
        #expect(cache.evict(keyIDs: ["k1"]) == 0)
        #expect(cache.count == 2)
    }

    @Test("slots freed by eviction are reused without breaking the LRU order")
    func reuseAfterEvict() {
        let cache = TokenCache<String>(capacity: 4, shardCount: 1)
        Self.store(cache, ["a", "b"], keyID: "old")
        Self.store(cache, ["c", "d"], keyID: "new")
        #expect(cache.evict(keyIDs: ["old"]) == 2)
        Self.store(cache, ["e", "f", "g"])
        // Oldest first: c, d, e, f, g; capacity 4 drops c.
        #expect(cache.count == 4)
        #expect(Self.present(cache, ["a", "b", "c", "d", "e", "f", "g"]) == ["d", "e", "f", "g"])
    }

    // MARK: Threads

    @Test("many threads at once: the bound holds and a key never yields another key's value")
    func concurrentUse() {
        let cache = TokenCache<Int>(capacity: 256)
        let keys = (0..<2_000).map { TokenDigest(namespace: "concurrent", token: "token-\($0)") }
        let wrongValues = Atomic(0)
        let overCapacity = Atomic(0)
        let hits = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            var state = UInt64(thread + 1) &* 0x9E37_79B9_7F4A_7C15
            for step in 0..<20_000 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let index = Int((state >> 33) % UInt64(keys.count))
                if step % 3 == 0 {
                    cache.store(.init(value: index, expiresAt: 1_000, keyID: "k\(index % 7)"), for: keys[index], now: 0)
                } else if let value = cache.value(for: keys[index], now: 0) {
                    hits.add(1, ordering: .relaxed)
                    if value != index { wrongValues.add(1, ordering: .relaxed) }
                }
                if step % 1_000 == 0 {
                    if cache.count > cache.capacity { overCapacity.add(1, ordering: .relaxed) }
                    if thread == 0 { cache.evict(keyIDs: ["k\(step % 7)"]) }
                }
            }
        }
        #expect(wrongValues.load(ordering: .relaxed) == 0)
        #expect(overCapacity.load(ordering: .relaxed) == 0)
        #expect(cache.count <= cache.capacity)
        #expect(hits.load(ordering: .relaxed) > 0)
        // Whatever survived still maps to its own value.
        for (index, key) in keys.enumerated() {
            if let value = cache.value(for: key, now: 0) {
                #expect(value == index)
            }
        }
    }

    @Test("a thread's front entries: a hit while the shard has dropped the entry for room, gone after a key eviction or expiry")
    func perThreadFront() {
        let cache = TokenCache<String>(capacity: 1, shardCount: 1, perThread: 4)
        Self.store(cache, ["a"], expiresAt: 100, keyID: "k1")
        Self.store(cache, ["b"], expiresAt: 100, keyID: "k2")  // the shard holds only b now
        #expect(cache.count == 1)
        #expect(Self.present(cache, ["a", "b"]) == ["a", "b"])  // a: from this thread's front
        #expect(Self.present(cache, ["a"], now: 100) == [])  // expired, front or not
        Self.store(cache, ["c"], expiresAt: 100, keyID: "k1")
        #expect(Self.present(cache, ["c"]) == ["c"])
        cache.evict(keyIDs: ["k1"])
        // c went with its key; b, held only by this thread's front (the shard dropped it for c),
        // went with the front, which a key eviction clears.
        #expect(Self.present(cache, ["b", "c"]) == [])
    }

    @Test("another thread never sees a verdict after the eviction of its key returned")
    func evictionReachesOtherThreads() async {
        let cache = TokenCache<String>(capacity: 64)
        Self.store(cache, ["a"], keyID: "k1")
        // Other threads put a in their fronts.
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = cache.value(for: Self.key("a"), now: 0) } }
        }
        cache.evict(keyIDs: ["k1"])
        let seen = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 { group.addTask { cache.value(for: Self.key("a"), now: 0) != nil } }
            return await group.reduce(false) { $0 || $1 }
        }
        #expect(!seen)
    }
}
