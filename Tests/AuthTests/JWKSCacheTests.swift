import Auth
import TestSupport
import Foundation
import Synchronization
import Testing

@Suite("JWKSCache")
struct JWKSCacheTests {
    static func keySet(_ kids: String...) -> JSONWebKeySet {
        do {
            return try JSONWebKeySet(json: JWK.set(kids.map { JWK.rsa(SigningKeys.rsaCurrent, kid: $0, alg: "RS256") }))
        } catch {
            fatalError("\(error)")
        }
    }

    @Test("a cached kid is served without a fetch")
    func hit() throws {
        let cache = JWKSCache()
        try cache.refresh { () throws(AuthError) in Self.keySet("k1") }
        let fetches = Counter()
        let key = try cache.signingKey(for: "k1") { () throws(AuthError) in
            fetches.increment()
            return Self.keySet("k1")
        }
        #expect(key.kid == "k1")
        #expect(fetches.value == 0)
        #expect(cache.isLoaded)
        #expect(cache.keyIDs == ["k1"])
    }

    @Test("an unknown kid triggers exactly one fetch, and the fetched key verifies")
    func missFetchesOnce() throws {
        let cache = JWKSCache()
        #expect(!cache.isLoaded)
        let fetches = Counter()
        let fetch = { () throws(AuthError) -> JSONWebKeySet in
            fetches.increment()
            return Self.keySet("old", "rsa-current")
        }
        let token = TokenMinter.token(claims: FixtureRealm.claims(), kid: "rsa-current")
        let claims = try JWTVerifier(policy: VerificationPolicy()).verify(
            token, now: FixtureRealm.now, issuer: FixtureRealm.issuer, allowedAlgorithms: [.rs256]
        ) { kid throws(AuthError) in
            try cache.signingKey(for: kid, fetch: fetch)
        }
        #expect(claims.preferredUsername == "abdullah")
        #expect(fetches.value == 1)
        // Now cached: a second lookup does not fetch.
        _ = try cache.signingKey(for: "rsa-current", fetch: fetch)
        #expect(fetches.value == 1)
        #expect(cache.keyIDs == ["old", "rsa-current"])
    }

    @Test("a second unknown kid within the interval does not fetch; after it, it does")
    func rateLimited() throws {
        let clock = ManualClock()
        let cache = JWKSCache(minimumRefetchInterval: .seconds(10), now: { clock.now })
        let fetches = Counter()
        let published = Mutex(["k1"])
        let fetch = { () throws(AuthError) -> JSONWebKeySet in
            fetches.increment()
            return JWKSCacheTests.keySetFromList(published.withLock { $0 })
        }
        _ = try cache.signingKey(for: "k1", fetch: fetch)
        #expect(fetches.value == 1)

        // The provider rotates, but a made-up kid 9.9 s later must not reach it.
        published.withLock { $0 = ["k1", "k2"] }
        clock.advance(by: .milliseconds(9_900))
        for kid in ["made-up", "k2"] {
            #expect {
                try cache.signingKey(for: kid, fetch: fetch)
            } throws: { error in
                (error as? AuthError)?.code == .unknownKeyID
            }
        }
        #expect(fetches.value == 1)

        clock.advance(by: .milliseconds(100))
        #expect(try cache.signingKey(for: "k2", fetch: fetch).kid == "k2")
        #expect(fetches.value == 2)

        // The interval restarts with that fetch.
        clock.advance(by: .seconds(5))
        #expect(throws: AuthError.self) { try cache.signingKey(for: "k3", fetch: fetch) }
        #expect(fetches.value == 2)
    }

    @Test("withdrawn and absent kids are refused without spending the refetch allowance")
    func knownMissingKids() throws {
        let clock = ManualClock()
        let cache = JWKSCache(minimumRefetchInterval: .seconds(10), now: { clock.now })
        let fetches = Counter()
        let published = Mutex(["k1", "k2"])
        let fetch = { () throws(AuthError) -> JSONWebKeySet in
            fetches.increment()
            return JWKSCacheTests.keySetFromList(published.withLock { $0 })
        }
        try cache.refresh(fetch: fetch)
        #expect(fetches.value == 1)

        // The provider rotates to k3 and drops k1 and k2; a k3 token refetches.
        published.withLock { $0 = ["k3"] }
        clock.advance(by: .seconds(11))
        #expect(try cache.signingKey(for: "k3", fetch: fetch).kid == "k3")
        #expect(fetches.value == 2)

        // Clients keep sending k1 tokens (withdrawn) and a made-up kid after the interval: the
        // withdrawn one is refused from memory, the made-up one spends the allowance once.
        clock.advance(by: .seconds(11))
        for _ in 0..<3 {
            #expect(throws: AuthError.self) { try cache.signingKey(for: "k1", fetch: fetch) }
        }
        #expect(fetches.value == 2)
        #expect(throws: AuthError.self) { try cache.signingKey(for: "made-up", fetch: fetch) }
        #expect(fetches.value == 3)
        // The made-up kid is now known to be absent, too.
        clock.advance(by: .seconds(11))
        #expect(throws: AuthError.self) { try cache.signingKey(for: "made-up", fetch: fetch) }
        #expect(fetches.value == 3)

        // So a key rotated in later is fetched at its first token.
        published.withLock { $0 = ["k3", "k4"] }
        #expect(try cache.signingKey(for: "k4", fetch: fetch).kid == "k4")
        #expect(fetches.value == 4)

        // The memory fades after five minutes: a kid that came back is found again.
        published.withLock { $0 = ["k1", "k3", "k4"] }
        clock.advance(by: .seconds(301))
        #expect(try cache.signingKey(for: "k1", fetch: fetch).kid == "k1")
    }

    @Test("a periodic refresh does not count toward the unknown-kid rate limit")
    func refreshDoesNotRateLimit() throws {
        let clock = ManualClock()
        let cache = JWKSCache(minimumRefetchInterval: .seconds(10), now: { clock.now })
        try cache.refresh { () throws(AuthError) in Self.keySet("k1") }
        // The provider rotated right after start-up: the new kid must still be fetched.
        clock.advance(by: .seconds(1))
        let fetches = Counter()
        let key = try cache.signingKey(for: "k2") { () throws(AuthError) in
            fetches.increment()
            return Self.keySet("k1", "k2")
        }
        #expect(key.kid == "k2")
        #expect(fetches.value == 1)
        // A refresh right after a triggered fetch does not reset the interval either way.
        try cache.refresh { () throws(AuthError) in Self.keySet("k1", "k2") }
        clock.advance(by: .seconds(1))
        #expect(throws: AuthError.self) {
            try cache.signingKey(for: "k3") { () throws(AuthError) in
                fetches.increment()
                return Self.keySet("k3")
            }
        }
        #expect(fetches.value == 1)
    }

    @Test("an unknown kid still unknown after the fetch is unknownKeyID")
    func unknownAfterFetch() {
        let cache = JWKSCache()
        let error = #expect(throws: AuthError.self) {
            try cache.signingKey(for: "nope") { () throws(AuthError) in Self.keySet("k1") }
        }
        #expect(error?.code == .unknownKeyID)
        #expect(cache.isLoaded)
    }

    @Test("a failed first load is identityProviderUnavailable, also while rate-limited")
    func failedFirstLoad() {
        let clock = ManualClock()
        let cache = JWKSCache(now: { clock.now })
        let fetches = Counter()
        let failing = { () throws(AuthError) -> JSONWebKeySet in
            fetches.increment()
            throw AuthError(.identityProviderUnavailable, "certs: cannot connect")
        }
        for _ in 0..<2 {
            #expect {
                try cache.signingKey(for: "k1", fetch: failing)
            } throws: { error in
                (error as? AuthError)?.code == .identityProviderUnavailable
            }
        }
        #expect(fetches.value == 1)
        #expect(!cache.isLoaded)
    }

    @Test("a failed refetch keeps the keys already loaded")
    func failedRefetchKeepsKeys() throws {
        let clock = ManualClock()
        let cache = JWKSCache(now: { clock.now })
        try cache.refresh { () throws(AuthError) in Self.keySet("k1") }
        clock.advance(by: .seconds(11))
        let error = #expect(throws: AuthError.self) {
            try cache.signingKey(for: "k2") { () throws(AuthError) in throw AuthError(.identityProviderUnavailable, "down") }
        }
        #expect(error?.code == .unknownKeyID)
        #expect(
            try cache.signingKey(for: "k1") { () throws(AuthError) in throw AuthError(.identityProviderUnavailable, "down") }.kid == "k1")
    }

    @Test("refresh replaces the key set, so dropped keys stop being trusted")
    func refreshReplaces() throws {
        let clock = ManualClock()
        let cache = JWKSCache(now: { clock.now })
        try cache.refresh { () throws(AuthError) in Self.keySet("old") }
        try cache.refresh { () throws(AuthError) in Self.keySet("new") }
        #expect(cache.keyIDs == ["new"])
        #expect(throws: AuthError.self) {
            try cache.signingKey(for: "old") { () throws(AuthError) in Self.keySet("new") }
        }
    }

    @Test("refresh passes the fetch error on")
    func refreshError() {
        let cache = JWKSCache()
        #expect(throws: AuthError(.identityProviderError, "certs answered 500")) {
            try cache.refresh { () throws(AuthError) in throw AuthError(.identityProviderError, "certs answered 500") }
        }
    }

    /// N threads ask for a kid nobody has seen at the same moment; the fetch is slow. Exactly
    /// one of them may reach the provider; the others wait for its result.
    @Test("single flight: concurrent misses cause one fetch", arguments: [8, 32])
    func singleFlight(threads: Int) {
        let cache = JWKSCache()
        let fetches = Counter()
        let results = Mutex<[String]>([])
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            Thread {
                start.wait()
                do {
                    let key = try cache.signingKey(for: "k1") { () throws(AuthError) in
                        fetches.increment()
                        Thread.sleep(forTimeInterval: 0.1)
                        return JWKSCacheTests.keySet("k1")
                    }
                    results.withLock { $0.append(key.kid) }
                } catch {
                    results.withLock { $0.append("error: \(error)") }
                }
                group.leave()
            }.start()
        }
        for _ in 0..<threads { start.signal() }
        #expect(group.wait(timeout: .now() + 10) == .success)
        #expect(results.withLock { $0 } == Array(repeating: "k1", count: threads))
        #expect(fetches.value == 1)
    }

    /// The same race, repeated: the window between deciding to fetch and marking the fetch in
    /// flight must be closed, not merely narrow.
    @Test("single flight holds over many rounds")
    func singleFlightStress() {
        var extraFetches = 0
        for _ in 0..<200 {
            let cache = JWKSCache()
            let fetches = Counter()
            let start = DispatchSemaphore(value: 0)
            let group = DispatchGroup()
            for _ in 0..<4 {
                group.enter()
                Thread {
                    start.wait()
                    _ = try? cache.signingKey(for: "k1") { () throws(AuthError) in
                        fetches.increment()
                        Thread.sleep(forTimeInterval: 0.002)
                        return JWKSCacheTests.keySet("k1")
                    }
                    group.leave()
                }.start()
            }
            for _ in 0..<4 { start.signal() }
            #expect(group.wait(timeout: .now() + 10) == .success)
            extraFetches += fetches.value - 1
        }
        #expect(extraFetches == 0)
    }

    @Test("a thread waiting for another's fetch gives up after maximumWait")
    func waitTimeout() {
        let cache = JWKSCache(maximumWait: .milliseconds(100))
        let fetching = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? cache.signingKey(for: "k1") { () throws(AuthError) in
                fetching.signal()
                release.wait()
                return JWKSCacheTests.keySet("k1")
            }
            done.signal()
        }.start()
        fetching.wait()
        let error = #expect(throws: AuthError.self) {
            try cache.signingKey(for: "k1") { () throws(AuthError) in
                Issue.record("a second fetch started while one was in flight")
                return JWKSCacheTests.keySet("k1")
            }
        }
        #expect(error?.code == .identityProviderUnavailable)
        release.signal()
        done.wait()
    }

    static func keySetFromList(_ kids: [String]) -> JSONWebKeySet {
        do {
            return try JSONWebKeySet(json: JWK.set(kids.map { JWK.rsa(SigningKeys.rsaCurrent, kid: $0, alg: "RS256") }))
        } catch {
            fatalError("\(error)")
        }
    }
}
