import Synchronization

/// Caps how many worker threads may wait on the identity provider at once.
///
/// A login waits up to the provider timeout. Without a cap, a slow or hanging provider would
/// hold every worker thread and `/protected` (which needs no provider call in jwks mode)
/// would starve. With it, calls past the cap fail fast with `identityProviderBusy` (503) and
/// the remaining threads keep serving.
public final class ProviderCallLimiter: Sendable {
    /// Most concurrent calls.
    public let capacity: Int
    private let inUse = Mutex(0)

    public init(capacity: Int) {
        precondition(capacity >= 1, "capacity must be positive")
        self.capacity = capacity
    }

    /// Runs `body` holding one slot, or throws `identityProviderBusy` when none is free.
    public func withSlot<Result>(_ endpoint: String, _ body: () throws(AuthError) -> Result) throws(AuthError) -> Result {
        let acquired = inUse.withLock { count in
            guard count < capacity else { return false }
            count += 1
            return true
        }
        guard acquired else {
            throw AuthError(.identityProviderBusy, "\(endpoint): \(capacity) calls already in flight")
        }
        defer { inUse.withLock { $0 -= 1 } }
        return try body()
    }

    /// Slots in use now.
    public var current: Int { inUse.withLock { $0 } }
}
