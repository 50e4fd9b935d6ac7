import Auth
import FoundationEssentials
import Logging

/// The composed service: configuration, the shared identity-provider state, the background
/// monitors (one per trusted issuer) and the routing table. Worker threads each create a
/// `Worker` from it.
package final class Application: Sendable {
    let configuration: AppConfiguration
    /// The primary realm: login, refresh, logout and its tokens.
    let provider: IdentityProvider
    /// Discovery and key refresh for the primary realm first, then each extra issuer.
    let monitors: [ProviderMonitor]
    /// Back-channel logouts: the process-local list every request checks, kept in step with
    /// the other replicas (Redis) or this process's only (memory).
    let revocationStore: any RevocationStore
    let router: Router
    let logger: Logger
    /// Creates a thread's HTTP transport (curl in production, a fake in tests).
    let makeTransport: @Sendable () throws(AuthError) -> any HTTPTransport

    init(
        configuration: AppConfiguration, provider: IdentityProvider, monitors: [ProviderMonitor], revocationStore: any RevocationStore,
        router: Router, logger: Logger,
        makeTransport: @escaping @Sendable () throws(AuthError) -> any HTTPTransport
    ) {
        self.configuration = configuration
        self.provider = provider
        self.monitors = monitors
        self.revocationStore = revocationStore
        self.router = router
        self.logger = logger
        self.makeTransport = makeTransport
    }

    /// Per-thread state: the provider client with its own transport.
    final class Worker {
        let application: Application
        let client: KeycloakClient
        /// This thread's request counters and latency histograms.
        let metrics = RequestMetrics()

        init(application: Application) throws(AuthError) {
            self.application = application
            self.client = KeycloakClient(
                provider: application.provider, transport: try application.makeTransport(), logger: application.logger)
        }

        /// Routes one request.
        /// - Parameter trace: the request's trace; the provider calls made for it carry its
        ///   `traceparent`.
        func respond(to request: HTTPRequest, logger: Logger, now: Date = Date(), trace: TraceContext? = nil) -> HTTPResponse {
            client.trace = trace
            defer { client.trace = nil }
            return application.router.respond(to: request, context: RequestContext(client: client, logger: logger, now: now))
        }
    }

    /// Creates the calling thread's worker state.
    func makeWorker() throws(AuthError) -> Worker {
        try Worker(application: self)
    }
}
