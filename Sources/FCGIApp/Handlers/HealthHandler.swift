/// `GET /healthz`: liveness. The process is up and its worker threads answer.
struct HealthHandler: RequestHandler {
    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        .json(.object([("status", "ok")]), headers: [("Cache-Control", "no-store")])
    }
}
