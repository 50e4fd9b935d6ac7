import Auth
import FoundationEssentials
import Logging
import Metrics
import Platform
import Prometheus

/// The running service: logging and metrics set up, the provider monitors started, the FastCGI
/// listener and its worker threads serving until SIGTERM or SIGINT, then an orderly stop.
package enum Service {
    /// Runs until a shutdown signal. Call with SIGTERM/SIGINT blocked
    /// (`ShutdownSignals.block()`) before any thread exists.
    package static func run(_ configuration: AppConfiguration) throws {
        LogSetup.bootstrap(level: configuration.logLevel, format: configuration.logFormat)
        let registry = PrometheusCollectorRegistry()
        var metrics = PrometheusMetricsFactory(registry: registry)
        metrics.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(metrics)
        let logger = Logger(label: "keycloak-fcgi")
        do {
            try serve(configuration, logger: logger, registry: registry)
        } catch {
            logger.critical("cannot start", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Starts everything, waits for SIGTERM/SIGINT, then stops in order.
    private static func serve(_ configuration: AppConfiguration, logger: Logger, registry: PrometheusCollectorRegistry) throws {
        try Curl.initialize()
        try FastCGIListener.initializeLibrary()
        let revocationStore: any RevocationStore =
            if let url = configuration.revocationStoreURL {
                try RedisRevocationStore(url: url.value)
            } else {
                MemoryRevocationStore()
            }
        let application = buildApplication(
            configuration: configuration, logger: logger, metricsRegistry: registry, revocationStore: revocationStore)
        for monitor in application.monitors { monitor.start() }
        revocationStore.start(logger: logger)
        // Give discovery and the keys a moment before taking connections, so that a restarted
        // responder does not answer 503 for the few milliseconds it needs; with the provider
        // down it starts anyway after the bound (and answers 503 where the provider is needed).
        let ready = waitForProvider(application, limit: min(configuration.provider.limits.connectTimeout, .seconds(3)))
        if !ready {
            logger.warning("starting before the identity provider is ready; discovery keeps retrying in the background")
        }
        let listener = try FastCGIListener(
            address: configuration.listen, backlog: configuration.backlog, mode: configuration.socketMode,
            systemd: configuration.systemdSockets)
        let server = try FastCGIServer(
            application: application, listener: listener, workers: configuration.workers,
            maximumConnections: configuration.maximumConnections)
        server.start()
        logger.info(
            "listening",
            metadata: [
                "fcgi.listen": "\(configuration.listen)", "fcgi.workers": "\(configuration.workers)",
                "fcgi.max_connections": "\(configuration.maximumConnections)",
                "auth.verify": "\(configuration.verifyMode.rawValue)", "curl": "\(Curl.version)",
            ])

        let signal = ShutdownSignals.wait()
        logger.info("stopping: no new requests, finishing those in flight", metadata: ["signal": "\(signal)"])
        let grace = configuration.provider.limits.totalTimeout + .seconds(2)
        let clean = server.stop(timeout: grace)
        for monitor in application.monitors { monitor.stop(timeout: .seconds(1)) }
        revocationStore.stop()
        if clean {
            logger.info("stopped")
        } else {
            logger.warning("stopped with requests still running after the grace period", metadata: ["grace": "\(grace)"])
        }
    }

    /// Waits until discovery succeeded and (in jwks mode) the keys are loaded, at most `limit`.
    private static func waitForProvider(_ application: Application, limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        let needsKeys = application.configuration.verifyMode == .jwks
        while ContinuousClock.now < deadline {
            if application.provider.isDiscovered && (!needsKeys || application.provider.keys.isLoaded) {
                return true
            }
            sleepThread(.milliseconds(5))
        }
        return false
    }
}
