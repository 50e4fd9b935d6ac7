import FoundationEssentials
import Platform

/// The provider's signing keys, shared by every worker thread.
///
/// A lookup for an unknown `kid` triggers a refetch that is single-flight (one thread fetches,
/// the others wait for its result) and rate-limited (at most one per `minimumRefetchInterval`),
/// so a stream of tokens with made-up `kid`s costs the provider at most one request per
/// interval.
public final class JWKSCache: @unchecked Sendable {
    // @unchecked: every stored var is read and written only with `condition` locked.
    private let condition = Condition()
    private var keySet: JSONWebKeySet?
    private var fetchInFlight = false
    /// When the last refetch triggered by an unknown `kid` started (periodic refreshes do not
    /// count: a key rotated just after start-up must still be found).
    private var lastTriggeredFetch: ContinuousClock.Instant?
    private var generation = 0
    private var removalObservers: [@Sendable (Set<String>) -> Void] = []
    /// `kid`s a fetch found absent, and when. They are refused without using up the refetch
    /// allowance: tokens of a withdrawn key, still sent by clients, must not keep a freshly
    /// rotated key from being fetched.
    private var knownMissing: [String: ContinuousClock.Instant] = [:]
    /// How long a `kid` found absent is refused without a refetch.
    public static let missingKeyMemory: Duration = .seconds(300)
    /// Most `kid`s remembered as absent (the memory is cleared when full).
    public static let missingKeyCapacity = 1024

    /// Least time between two refetches triggered by unknown `kid`s.
    public let minimumRefetchInterval: Duration
    /// How long a thread waits for another thread's fetch before giving up.
    public let maximumWait: Duration
    /// The issuer these keys belong to, for the `issuer` label of the fetch metrics.
    public let issuer: String
    private let now: @Sendable () -> ContinuousClock.Instant

    public init(
        issuer: String = "",
        minimumRefetchInterval: Duration = .seconds(10),
        maximumWait: Duration = .seconds(11),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }
    ) {
        self.issuer = issuer
        self.minimumRefetchInterval = minimumRefetchInterval
        self.maximumWait = maximumWait
        self.now = now
    }

    /// Calls `observer` with the key ids a fetch no longer finds (keys the provider withdrew),
    /// so that whatever they verified can be forgotten.
    public func onKeysRemoved(_ observer: @escaping @Sendable (Set<String>) -> Void) {
        condition.withLock { removalObservers.append(observer) }
    }

    /// Whether a key set has been loaded at least once.
    public var isLoaded: Bool {
        condition.withLock { keySet != nil }
    }

    /// Whether the current key set has a signing key with this `kid`.
    public func contains(kid: String) -> Bool {
        condition.withLock { keySet?[kid] != nil }
    }

    /// The loaded key ids, for logs and readiness.
    public var keyIDs: [String] {
        condition.withLock { keySet.map { Array($0.keys.keys).sorted() } ?? [] }
    }

    /// Returns the signing key for `kid`, refetching with `fetch` at most once (single-flight,
    /// rate-limited) when it is unknown.
    public func signingKey(
        for kid: String,
        fetch: () throws(AuthError) -> JSONWebKeySet
    ) throws(AuthError) -> JSONWebKeySet.SigningKey {
        condition.lock()
        // Taken only when this thread has to wait: most lookups find the key at once.
        var deadline: Deadline?
        while true {
            if let key = keySet?[kid] {
                condition.unlock()
                return key
            }
            if fetchInFlight {
                // Another thread is fetching: wait for its result, then look again.
                let waitUntil = deadline ?? .after(maximumWait)
                deadline = waitUntil
                if !condition.wait(until: waitUntil) {
                    condition.unlock()
                    throw AuthError(.identityProviderUnavailable, "timed out waiting for the JWKS refetch")
                }
                continue
            }
            let instant = now()
            if let missingSince = knownMissing[kid], missingSince.duration(to: instant) < Self.missingKeyMemory {
                condition.unlock()
                throw AuthError(.unknownKeyID, "kid \(kid.prefix(64)) (absent at the last fetch)")
            }
            if let started = lastTriggeredFetch, started.duration(to: instant) < minimumRefetchInterval {
                let loaded = keySet != nil
                condition.unlock()
                throw loaded
                    ? AuthError(.unknownKeyID, "kid \(kid.prefix(64)) (refetch rate-limited)")
                    : AuthError(.identityProviderUnavailable, "signing keys not loaded yet")
            }
            lastTriggeredFetch = instant
            fetchInFlight = true
            condition.unlock()
            let fetched = (try? runFetch(fetch, trigger: .unknownKeyID)) != nil
            condition.lock()
            if let key = keySet?[kid] {
                condition.unlock()
                return key
            }
            if fetched {
                if knownMissing.count >= Self.missingKeyCapacity { knownMissing.removeAll() }
                knownMissing[kid] = instant
            }
            let loaded = keySet != nil
            condition.unlock()
            if !fetched && !loaded {
                throw AuthError(.identityProviderUnavailable, "signing keys could not be fetched")
            }
            throw AuthError(.unknownKeyID, "kid \(kid.prefix(64))")
        }
    }

    /// Fetches the key set now (for start-up and periodic refresh), unless a fetch is already
    /// running, in which case this waits for it. Not rate-limited.
    public func refresh(fetch: () throws(AuthError) -> JSONWebKeySet) throws(AuthError) {
        condition.lock()
        if fetchInFlight {
            let target = generation + 1
            while fetchInFlight && generation < target {
                condition.wait()
            }
            condition.unlock()
            return
        }
        fetchInFlight = true
        condition.unlock()
        try runFetch(fetch, trigger: .refresh)
    }

    /// Runs a fetch the caller has marked in flight (unlocked), stores its result, clears the
    /// mark and wakes waiters.
    private func runFetch(_ fetch: () throws(AuthError) -> JSONWebKeySet, trigger: AuthMetrics.FetchTrigger) throws(AuthError) {
        let result: Result<JSONWebKeySet, AuthError>
        do throws(AuthError) {
            result = .success(try fetch())
        } catch {
            result = .failure(error)
        }
        if case .success = result {
            AuthMetrics.keyFetch(issuer: issuer, trigger: trigger, succeeded: true)
        } else {
            AuthMetrics.keyFetch(issuer: issuer, trigger: trigger, succeeded: false)
        }
        let (removed, observers) = condition.withLock { () -> (Set<String>, [@Sendable (Set<String>) -> Void]) in
            var removed = Set<String>()
            if case .success(let fresh) = result {
                if let old = keySet {
                    removed = Set(old.keys.keys).subtracting(fresh.keys.keys)
                }
                keySet = fresh
                // Withdrawn keys are known to be absent: their tokens, still in use by clients,
                // must not spend the refetch allowance a newly rotated key may need.
                let instant = now()
                if knownMissing.count + removed.count > Self.missingKeyCapacity { knownMissing.removeAll() }
                for kid in removed { knownMissing[kid] = instant }
                for kid in fresh.keys.keys { knownMissing[kid] = nil }
            }
            fetchInFlight = false
            generation += 1
            condition.broadcast()
            return (removed, removalObservers)
        }
        if !removed.isEmpty {
            for observer in observers { observer(removed) }
        }
        if case .failure(let error) = result {
            throw error
        }
    }
}
