import ArgumentParser
import Auth
import FoundationEssentials
import Logging
import Metrics
import Platform
import Prometheus

/// The `keycloak-fcgi` executable: a FastCGI responder that puts Keycloak authentication in
/// front of an API (`GET /`, `POST /login`, `GET /protected`).
struct KeycloakFCGI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keycloak-fcgi",
        abstract: "FastCGI responder for Keycloak (OpenID Connect) login and bearer-token checks behind nginx.",
        discussion: "Configuration comes from the environment and a .env file (the environment wins); see README.md.")

    @Flag(name: .customLong("check-config"), help: "Validate the configuration, print it with the secret redacted, and exit.")
    var checkConfig = false

    @Option(name: .customLong("env-file"), help: "The .env file to read (default: ./.env when it exists).")
    var envFile: String?

    func run() throws {
        // Before any thread exists, so that every thread inherits the blocked mask.
        ShutdownSignals.block()
        // glibc gives each of up to 8 × cores threads its own heap arena; with 64 mostly idle
        // worker threads that is idle heap kept per arena. Four arenas held throughput
        // (docs/design.md, "Memory"). MALLOC_ARENA_MAX still wins if set.
        if ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil {
            Memory.limitArenas(to: 4)
        }

        let configuration: AppConfiguration
        do {
            configuration = try AppConfiguration.load(environment: ProcessInfo.processInfo.environment, dotEnv: try readDotEnv())
        } catch let error as ConfigurationError {
            StandardStream.error.writeLine(error.description)
            throw ExitCode(78)  // EX_CONFIG
        }
        if checkConfig {
            StandardStream.output.writeLine((configuration.summary + ["configuration OK"]).joined(separator: "\n"))
            return
        }

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
            throw ExitCode(1)
        }
    }

    /// Starts everything, waits for SIGTERM/SIGINT, then stops in order.
    private func serve(_ configuration: AppConfiguration, logger: Logger, registry: PrometheusCollectorRegistry) throws {
        try Curl.initialize()
        try FastCGIListener.initializeLibrary()
        let application = buildApplication(configuration: configuration, logger: logger, metricsRegistry: registry)
        for monitor in application.monitors { monitor.start() }
        // Give discovery and the keys a moment before taking connections, so that a restarted
        // responder does not answer 503 for the few milliseconds it needs; with the provider
        // down it starts anyway after the bound (and answers 503 where the provider is needed).
        let ready = waitForProvider(application, limit: min(configuration.provider.limits.connectTimeout, .seconds(3)))
        if !ready {
            logger.warning("starting before the identity provider is ready; discovery keeps retrying in the background")
        }
        let listener = try FastCGIListener(address: configuration.listen, backlog: configuration.backlog, mode: configuration.socketMode)
        let server = FastCGIServer(application: application, listener: listener, workers: configuration.workers)
        server.start()
        logger.info("listening", metadata: [
            "fcgi.listen": "\(configuration.listen)", "fcgi.workers": "\(configuration.workers)",
            "auth.verify": "\(configuration.verifyMode.rawValue)", "curl": "\(Curl.version)",
        ])

        let signal = ShutdownSignals.wait()
        logger.info("stopping: no new requests, finishing those in flight", metadata: ["signal": "\(signal)"])
        let grace = configuration.provider.limits.totalTimeout + .seconds(2)
        let clean = server.stop(timeout: grace)
        for monitor in application.monitors { monitor.stop(timeout: .seconds(1)) }
        if clean {
            logger.info("stopped")
        } else {
            logger.warning("stopped with requests still running after the grace period", metadata: ["grace": "\(grace)"])
        }
    }

    /// Waits until discovery succeeded and (in jwks mode) the keys are loaded, at most `limit`.
    private func waitForProvider(_ application: Application, limit: Duration) -> Bool {
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

    /// The `.env` file's values: `--env-file` must exist; the default `./.env` may be absent.
    private func readDotEnv() throws -> [String: String] {
        let path = envFile ?? ".env"
        guard let text = Files.readText(path) else {
            if envFile != nil {
                throw ConfigurationError(problems: [("--env-file", "cannot read \(path)")])
            }
            return [:]
        }
        do {
            return try DotEnvFile.parse(text)
        } catch {
            throw ConfigurationError(problems: [(path, "line \(error.line): \(error.reason)")])
        }
    }

}
