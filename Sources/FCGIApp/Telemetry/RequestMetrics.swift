import Metrics
import Platform

/// Per-request metrics: `keycloak_fcgi_http_requests_total{route,status}` and the latency
/// histogram `keycloak_fcgi_http_request_duration_seconds{route}`.
///
/// Handles are cached per (route, status): creating a swift-metrics handle looks the metric up
/// in the backend's registry under a lock. Each worker thread owns one `RequestMetrics`, so
/// the cache needs no lock (a shared one showed up as lock contention under load); the handles
/// themselves are shared, thread-safe counters in the registry.
final class RequestMetrics {
    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private struct Handles {
        let counter: Counter
        let timer: Timer
    }

    private var handles: [Key: Handles] = [:]

    /// Records one request. `route` must come from a bounded set (the router's paths).
    func record(route: String, status: Int, duration: Duration) {
        let key = Key(route: route, status: status)
        let handle: Handles
        if let existing = handles[key] {
            handle = existing
        } else {
            handle = Handles(
                counter: Counter(label: "keycloak_fcgi_http_requests_total", dimensions: [("route", route), ("status", String(status))]),
                timer: Timer(label: "keycloak_fcgi_http_request_duration_seconds", dimensions: [("route", route)]))
            handles[key] = handle
        }
        handle.counter.increment()
        handle.timer.recordNanoseconds(duration.nanoseconds)
    }
}
