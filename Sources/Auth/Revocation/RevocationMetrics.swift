import Metrics

/// The revocation list's metrics (swift-metrics; keycloak-fcgi exports them in Prometheus
/// format), beside `AuthMetrics`:
///
/// - `keycloak_fcgi_revocation_list_entries`: entries in the list (expired ones until the
///   periodic sweep drops them).
/// - `keycloak_fcgi_revocations_received_total{source}`: revocations that reached the list:
///   `local` for each `revoke` on this replica, `redis` for each one from Redis (a message or
///   the load after a (re)connect) that this replica did not know yet.
/// - `keycloak_fcgi_revocation_store_connected`: 1 while the Redis store is connected, 0 while
///   it is not (not reported by the in-memory store).
enum RevocationMetrics {
    /// How a revocation reached the list.
    enum Source: String {
        case local
        case redis
    }

    /// Created on first use, which is after the application bootstrapped its metrics backend.
    private static let entries = Gauge(label: "keycloak_fcgi_revocation_list_entries")
    private static let receivedLocal = Counter(label: "keycloak_fcgi_revocations_received_total", dimensions: [("source", "local")])
    private static let receivedRedis = Counter(label: "keycloak_fcgi_revocations_received_total", dimensions: [("source", "redis")])
    private static let connected = Gauge(label: "keycloak_fcgi_revocation_store_connected")

    static func listSize(_ count: Int) {
        entries.record(count)
    }

    static func received(from source: Source, count: Int = 1) {
        guard count > 0 else { return }
        (source == .local ? receivedLocal : receivedRedis).increment(by: count)
    }

    static func storeConnected(_ isConnected: Bool) {
        connected.record(isConnected ? 1 : 0)
    }
}
