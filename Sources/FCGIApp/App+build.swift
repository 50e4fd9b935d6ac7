import Auth
import Logging
import Prometheus

/// The composition root: builds the whole service from a configuration. Tests call it with a
/// fake transport and drive `Application.Worker.respond(to:)` with plain request values.
/// `metricsRegistry` is what `/metrics` exports; the executable bootstraps swift-metrics with it.
func buildApplication(
    configuration: AppConfiguration,
    logger: Logger = Logger(label: "keycloak-fcgi"),
    metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    makeTransport: (@Sendable () throws(AuthError) -> any HTTPTransport)? = nil
) -> Application {
    let limits = configuration.provider.limits
    let transportFactory: @Sendable () throws(AuthError) -> any HTTPTransport
    if let makeTransport {
        transportFactory = makeTransport
    } else {
        transportFactory = { () throws(AuthError) -> any HTTPTransport in try CurlTransport(limits: limits) }
    }

    let totalTimeout = limits.totalTimeout
    let provider = IdentityProvider(
        settings: configuration.provider,
        keys: JWKSCache(minimumRefetchInterval: .seconds(10), maximumWait: totalTimeout + .seconds(1)),
        limiter: ProviderCallLimiter(capacity: configuration.maximumConcurrentProviderCalls))
    let monitor = ProviderMonitor(
        provider: provider, refreshInterval: configuration.jwksRefreshInterval, logger: logger,
        makeTransport: transportFactory)

    let verifier = JWTVerifier(policy: configuration.policy)
    let cacheSize = configuration.tokenCacheSize
    let authenticator: any Authenticator =
        switch configuration.verifyMode {
        case .jwks:
            LocalTokenAuthenticator(
                verifier: verifier, provider: provider, cache: cacheSize > 0 ? TokenCache(capacity: cacheSize) : nil)
        case .userinfo:
            UserinfoAuthenticator(maximumTokenBytes: configuration.policy.maximumTokenBytes, audiences: configuration.policy.audiences)
        case .introspect:
            IntrospectionAuthenticator(
                verifier: verifier, provider: provider,
                cache: cacheSize > 0 && configuration.introspectionTTLSeconds > 0 ? TokenCache(capacity: cacheSize) : nil,
                activeTTL: configuration.introspectionTTLSeconds)
        }

    var router = Router()
    router.add("GET", "/", RootHandler())
    router.add("POST", "/login", LoginHandler())
    router.add("GET", "/protected", ProtectedHandler(authenticator: authenticator, policy: configuration.authorization))
    router.add("POST", "/refresh", RefreshHandler())
    router.add("POST", "/logout", LogoutHandler(authenticator: authenticator))
    router.add("GET", "/auth", AuthGateHandler(authenticator: authenticator, defaultPolicy: configuration.authorization))
    router.add("GET", "/healthz", HealthHandler())
    router.add("GET", "/readyz", ReadinessHandler(provider: provider, needsKeys: configuration.verifyMode == .jwks), internalOnly: true)
    router.add("GET", "/metrics", MetricsHandler(registry: metricsRegistry), internalOnly: true)

    return Application(
        configuration: configuration, provider: provider, monitor: monitor, router: router, logger: logger,
        makeTransport: transportFactory)
}
