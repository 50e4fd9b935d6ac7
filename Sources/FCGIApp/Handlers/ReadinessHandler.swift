import Auth

/// `GET /readyz`: readiness. 200 when discovery has succeeded, the signing keys are loaded
/// (jwks mode) and the provider answered its most recent call or probe; 503 otherwise, with
/// each check's state so an operator sees which one fails.
///
/// Extra issuers (`AUTH_EXTRA_ISSUERS`) are listed with the same checks under `issuers` but do
/// not decide readiness: one tenant's realm being down must not take the gate out of service
/// for every other realm (its cached keys keep serving its tokens meanwhile).
struct ReadinessHandler: RequestHandler {
    let provider: IdentityProvider
    var extraIssuers: [IdentityProvider] = []
    let needsKeys: Bool
    /// Reported, but never decides readiness: with the shared store down every replica still
    /// refuses what it already knows and what it receives itself (docs/revocation.md), and
    /// taking every replica out of service would stop all requests.
    var revocations: (any RevocationStore)?

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        var (ready, checks) = state(of: provider)
        // Memory (one instance) has nothing to report: the shared store's state only.
        if let revocations, revocations.status != .memory {
            switch revocations.status {
            case .memory: break
            case .connected: checks.append(("revocation_store", "ok"))
            case .disconnected(let since, _): checks.append(("revocation_store", .string("disconnected since \(since)")))
            }
            checks.append(("revocations", .integer(revocations.list.count)))
        }
        var body: [(String, JSONValue)] = [("status", ready ? "ready" : "not_ready"), ("checks", .object(checks))]
        if !extraIssuers.isEmpty {
            body.append(
                (
                    "issuers",
                    .object(
                        extraIssuers.map { extra in
                            let (ready, checks) = state(of: extra)
                            return (extra.settings.label, .object([("status", ready ? "ready" : "not_ready")] + checks))
                        })
                ))
        }
        return .json(.object(body), status: ready ? .ok : .serviceUnavailable, headers: [("Cache-Control", "no-store")])
    }

    private func state(of provider: IdentityProvider) -> (ready: Bool, checks: [(String, JSONValue)]) {
        let discovery = provider.isDiscovered
        let keys = !needsKeys || provider.keys.isLoaded
        let reachable = provider.health.isReachable == true
        let checks: [(String, JSONValue)] = [
            ("discovery", discovery ? "ok" : "pending"),
            ("keys", needsKeys ? (keys ? "ok" : "pending") : "not_needed"),
            ("provider", reachable ? "ok" : "unreachable"),
        ]
        return (discovery && keys && reachable, checks)
    }
}
