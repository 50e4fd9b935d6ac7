import Auth
import Logging
import Prometheus

/// The composition root: builds the whole service from a configuration. Tests call it with a
/// fake transport and drive `Application.Worker.respond(to:)` with plain request values.
/// `metricsRegistry` is what `/metrics` exports; the executable bootstraps swift-metrics with it.
package func buildApplication(
    configuration: AppConfiguration,
    logger: Logger = Logger(label: "keycloak-fcgi"),
    metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    revocationStore: any RevocationStore = MemoryRevocationStore(),
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
    let limiter = ProviderCallLimiter(capacity: configuration.maximumConcurrentProviderCalls)
    func makeProvider(_ settings: ProviderSettings) -> IdentityProvider {
        IdentityProvider(
            settings: settings,
            keys: JWKSCache(issuer: settings.label, minimumRefetchInterval: .seconds(10), maximumWait: totalTimeout + .seconds(1)),
            limiter: limiter)
    }
    let provider = makeProvider(configuration.provider)
    // Other realms: discovery and keys only (no client credentials are ever sent to them).
    let extraProviders = configuration.extraIssuers.map { extra in
        makeProvider(
            ProviderSettings(
                issuerCandidates: [extra.issuer], clientID: configuration.provider.clientID, clientSecret: Secret(""), limits: limits))
    }
    let monitors = ([provider] + extraProviders).map { provider in
        ProviderMonitor(
            provider: provider, refreshInterval: configuration.jwksRefreshInterval, logger: logger, makeTransport: transportFactory)
    }

    let verifier = JWTVerifier(policy: configuration.policy)
    let cacheSize = configuration.tokenCacheSize
    let strategy: any Authenticator =
        switch configuration.verifyMode {
        case .jwks:
            LocalTokenAuthenticator(
                verifier: verifier, provider: provider, cache: cacheSize > 0 ? TokenCache(capacity: cacheSize) : nil,
                extraIssuers: zip(configuration.extraIssuers, extraProviders).map { extra, provider in
                    var policy = configuration.policy
                    policy.audiences = extra.audiences ?? policy.audiences
                    return LocalTokenAuthenticator.TrustedIssuer(
                        provider: provider, verifier: JWTVerifier(policy: policy),
                        cache: cacheSize > 0 ? TokenCache(capacity: cacheSize) : nil)
                })
        case .userinfo:
            UserinfoAuthenticator(policy: configuration.policy)
        case .introspect:
            IntrospectionAuthenticator(
                verifier: verifier, provider: provider,
                cache: cacheSize > 0 && configuration.introspectionTTLSeconds > 0 ? TokenCache(capacity: cacheSize) : nil,
                activeTTL: configuration.introspectionTTLSeconds)
        }

    // Every strategy refuses what a back-channel logout revoked.
    let authenticator = RevocationCheckingAuthenticator(base: strategy, revocations: revocationStore.list, provider: provider)
    let clientID = configuration.provider.clientID

    let resourceServer = ResourceServer(
        settings: configuration.resourceServer, issuer: configuration.provider.issuerCandidates.first ?? "",
        scopes: ["openid"] + configuration.authorization.requiredScopes.filter { $0 != "openid" },
        replayGuard: DPoPReplayGuard(shared: revocationStore.status == .memory ? nil : revocationStore),
        nonceSecret: configuration.provider.clientSecret.value)

    var router = Router()
    router.add("GET", "/", RootHandler())
    router.add("POST", "/login", LoginHandler())
    router.add(
        "GET", "/protected",
        ProtectedHandler(authenticator: authenticator, policy: configuration.authorization, resourceServer: resourceServer))
    router.add("POST", "/refresh", RefreshHandler())
    router.add("POST", "/logout", LogoutHandler(authenticator: authenticator))
    let signIn = configuration.browserSignIn.map { settings in
        BrowserSignIn(
            settings: settings, authenticator: authenticator, verifier: verifier, clientID: clientID,
            openedSessions: cacheSize > 0 ? TokenCache(capacity: cacheSize) : nil)
    }
    router.add(
        "GET", "/auth",
        AuthGateHandler(
            authenticator: authenticator, defaultPolicy: configuration.authorization, resourceServer: resourceServer, signIn: signIn))
    let metadataHandler = ResourceMetadataHandler(resourceServer: resourceServer)
    router.add("GET", ResourceMetadataHandler.path, metadataHandler)
    if let resource = configuration.resourceServer.resource, case let path = ResourceServer.split(resource).path, path != "/" {
        // RFC 9728 §3.1: a resource with a path has its document at the well-known path + that path.
        router.add("GET", ResourceMetadataHandler.path + path, metadataHandler)
    }
    if let signIn {
        router.add("GET", "/oauth2/start", SignInStartHandler(signIn: signIn))
        router.add("GET", "/oauth2/callback", SignInCallbackHandler(signIn: signIn))
        router.add("GET", "/oauth2/sign_out", SignOutHandler(signIn: signIn))
        router.add("POST", "/oauth2/sign_out", SignOutHandler(signIn: signIn))
    }
    router.add(
        "POST", "/oauth2/backchannel-logout",
        BackchannelLogoutHandler(
            verifier: verifier, store: revocationStore, clientID: clientID, revocationTTL: Int64(configuration.revocationTTLSeconds)))
    router.add("GET", "/healthz", HealthHandler())
    router.add(
        "GET", "/readyz",
        ReadinessHandler(
            provider: provider, extraIssuers: extraProviders, needsKeys: configuration.verifyMode == .jwks, revocations: revocationStore),
        internalOnly: true)
    router.add("GET", "/metrics", MetricsHandler(registry: metricsRegistry), internalOnly: true)

    return Application(
        configuration: configuration, provider: provider, monitors: monitors, revocationStore: revocationStore, router: router,
        logger: logger, makeTransport: transportFactory)
}
