import Synchronization

/// Whether the identity provider answered the most recent call that tried to reach it
/// (any HTTP answer counts as reachable; a connect failure or timeout does not).
/// The background monitor probes discovery periodically, so this stays current when idle.
public final class ProviderHealth: Sendable {
    private let reachable = Mutex<Bool?>(nil)

    public init() {}

    /// `nil` until the first call, then the outcome of the latest one.
    public var isReachable: Bool? { reachable.withLock { $0 } }

    func recordContact() {
        reachable.withLock { $0 = true }
    }

    func recordFailure() {
        reachable.withLock { $0 = false }
    }
}
