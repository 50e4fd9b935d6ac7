import Auth
import FoundationEssentials
import Logging

/// What a handler gets besides the request: the worker thread's provider client, a logger
/// carrying the request id, and the time (injected, so tests control it).
struct RequestContext {
    /// The calling worker's client; its curl handle belongs to this thread.
    let client: KeycloakClient
    let logger: Logger
    let now: Date
}

/// Handles one route. One file per handler under `Handlers/`.
protocol RequestHandler: Sendable {
    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse
}
