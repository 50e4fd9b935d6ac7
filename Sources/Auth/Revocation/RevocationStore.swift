import FoundationEssentials
import Logging

/// Where the revocation store stands.
public enum RevocationStoreStatus: Sendable, Equatable {
    /// In-memory store: nothing is shared, nothing can be disconnected.
    case memory
    /// Connected to Redis: revocations are shared with the other replicas.
    case connected
    /// Redis is unreachable since `since` (unix seconds), for `reason` (never a secret). The
    /// local list still refuses what this replica knows; its own revocations are queued.
    case disconnected(since: Int64, reason: String)
}

/// The revocation list and how it is shared between replicas: every replica must refuse a
/// session or subject as soon as any replica received the back-channel logout for it.
///
/// `list` is what requests consult; the store keeps it filled. Neither `revoke` nor
/// `claimOnce` throws or waits long for the shared store: when it is unreachable the replica
/// goes on with what it knows, and catches up when it is back.
public protocol RevocationStore: AnyObject, Sendable {
    /// The process-local list, checked on every request.
    var list: RevocationList { get }

    /// Loads what the shared store holds and starts following it (Redis: a background
    /// thread). Memory: nothing to do.
    func start(logger: Logger)

    /// Stops following the shared store (within about a second).
    func stop()

    /// Records `revocation` in `list` at once, so this replica refuses at once whatever
    /// happens next, then shares it. Never throws; never blocks the caller longer than a short
    /// timeout (about 250 ms).
    func revoke(_ revocation: Revocation, logger: Logger)

    /// True the first time `key` is claimed within `ttlSeconds`, false after: the replay guard
    /// for a logout token's `jti` (Back-Channel Logout 1.0 §2.6, step 10), later for DPoP
    /// proofs' `jti`. Shared by all replicas when the store is.
    func claimOnce(_ key: String, ttlSeconds: Int64, now: Int64) -> Bool

    /// Where the store stands, for readiness and logs.
    var status: RevocationStoreStatus { get }
}

/// The wall clock in unix seconds, for TTLs and the periodic sweep (requests pass their own
/// `now`).
func unixNow() -> Int64 {
    Int64(Date().timeIntervalSince1970)
}
