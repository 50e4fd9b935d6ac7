import Prometheus

/// `GET /metrics`: every metric in the Prometheus text exposition format (0.0.4).
struct MetricsHandler: RequestHandler {
    let registry: PrometheusCollectorRegistry

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        HTTPResponse(
            status: .ok,
            headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"), ("Cache-Control", "no-store")],
            body: registry.emitToBuffer())
    }
}
