import Auth

/// `GET /readyz`: readiness. 200 when discovery has succeeded, the signing keys are loaded
/// (jwks mode) and the provider answered its most recent call or probe; 503 otherwise, with
/// each check's state so an operator sees which one fails.
struct ReadinessHandler: RequestHandler {
    let provider: IdentityProvider
    let needsKeys: Bool

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let discovery = provider.isDiscovered
        let keys = !needsKeys || provider.keys.isLoaded
        let reachable = provider.health.isReachable == true
        let ready = discovery && keys && reachable
        let checks: [(String, JSONValue)] = [
            ("discovery", discovery ? "ok" : "pending"),
            ("keys", needsKeys ? (keys ? "ok" : "pending") : "not_needed"),
            ("provider", reachable ? "ok" : "unreachable"),
        ]
        return .json(
            .object([("status", ready ? "ready" : "not_ready"), ("checks", .object(checks))]),
            status: ready ? .ok : .serviceUnavailable,
            headers: [("Cache-Control", "no-store")])
    }
}
