import Metrics
import Synchronization

/// Per-request metrics: `keycloak_fcgi_http_requests_total{route,status}` and the latency
/// histogram `keycloak_fcgi_http_request_duration_seconds{route}`.
///
/// Handles are cached per (route, status): creating a swift-metrics handle looks the metric up
/// in the backend's registry under a lock, which is not free on every request.
final class RequestMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let status: Int
    }

    private struct Handles: @unchecked Sendable {
        // @unchecked: swift-metrics handles are thread-safe reference types.
        let counter: Counter
        let timer: Timer
    }

    private let handles = Mutex<[Key: Handles]>([:])

    /// Records one request. `route` must come from a bounded set (the router's paths).
    func record(route: String, status: Int, duration: Duration) {
        let key = Key(route: route, status: status)
        let handle = handles.withLock { cache in
            if let existing = cache[key] { return existing }
            let created = Handles(
                counter: Counter(label: "keycloak_fcgi_http_requests_total", dimensions: [("route", route), ("status", String(status))]),
                timer: Timer(label: "keycloak_fcgi_http_request_duration_seconds", dimensions: [("route", route)]))
            cache[key] = created
            return created
        }
        handle.counter.increment()
        let (seconds, attoseconds) = duration.components
        handle.timer.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
