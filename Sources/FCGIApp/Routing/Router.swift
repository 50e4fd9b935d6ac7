import Auth

/// The one routing table: exact paths, then methods. Unknown paths answer 404, known paths
/// with another method 405 with `Allow`; `HEAD` is served by the `GET` handler without a body.
/// Internal routes (readiness, metrics) answer 404 unless the request came through nginx's
/// internal listener.
struct Router: Sendable {
    private var routes: [String: [(method: String, handler: any RequestHandler)]] = [:]
    private var internalPaths: Set<String> = []

    /// Adds a route; `internalOnly` routes are hidden from requests that are not internal.
    mutating func add(_ method: String, _ path: String, _ handler: some RequestHandler, internalOnly: Bool = false) {
        routes[path, default: []].append((method, handler))
        if internalOnly { internalPaths.insert(path) }
    }

    /// The metrics label for a path: the route itself, or `unmatched` (bounded cardinality).
    func routeLabel(for path: String) -> String {
        routes[path] == nil ? "unmatched" : path
    }

    /// Routes `request`, turning any handler error into its response.
    func respond(to request: HTTPRequest, context: RequestContext) -> HTTPResponse {
        do {
            var response = try dispatch(request, context: context)
            if request.method == "HEAD" {
                response.body = []
            }
            return response
        } catch {
            var response = HTTPResponse(error: error)
            switch error {
            case .auth(let authError), .challenged(let authError, _):
                response.logMetadata["auth.error"] = "\(authError)"
            default:
                break
            }
            if request.method == "HEAD" {
                response.body = []
            }
            return response
        }
    }

    private func dispatch(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        guard let candidates = routes[request.path], request.isInternal || !internalPaths.contains(request.path) else {
            throw .notFound
        }
        let method = request.method == "HEAD" ? "GET" : request.method
        guard let route = candidates.first(where: { $0.method == method }) else {
            var allowed = candidates.map(\.method)
            if allowed.contains("GET") { allowed.append("HEAD") }
            throw .methodNotAllowed(allowed: allowed)
        }
        return try route.handler.handle(request, context: context)
    }
}
