import FoundationEssentials
import Logging

/// Talks to the identity provider over one thread's transport: discovery, the password grant,
/// userinfo and the JWKS. Not shared between threads.
///
/// Every answer is classified here, so the rest of the product only sees `AuthError` codes:
/// `invalid_grant` → `invalidCredentials`; `invalid_client`/`unauthorized_client` →
/// `identityProviderRejectedClient`; other error statuses → `identityProviderError`;
/// unreadable bodies → `identityProviderInvalidResponse`; no answer → `identityProviderUnavailable`.
public final class KeycloakClient {
    public let provider: IdentityProvider
    private let transport: any HTTPTransport
    private let usesLimiter: Bool
    private let baseLogger: Logger
    /// `baseLogger` with the current request's trace fields, so its lines join the request's.
    /// Built when a line is logged, not per request: most requests call no provider.
    private var logger: Logger {
        guard let trace else { return baseLogger }
        var logger = baseLogger
        logger[metadataKey: "trace_id"] = "\(trace.traceID)"
        logger[metadataKey: "span_id"] = "\(trace.spanID)"
        if let parent = trace.parentSpanID { logger[metadataKey: "parent_span_id"] = "\(parent)" }
        return logger
    }
    private static let decoder = JSONDecoder()

    /// - Parameter usesLimiter: whether calls take a slot of the provider's call limiter
    ///   (worker threads do; the background monitor does not).
    public init(
        provider: IdentityProvider, transport: any HTTPTransport, usesLimiter: Bool = true,
        logger: Logger = Logger(label: "keycloak-fcgi.provider")
    ) {
        self.provider = provider
        self.transport = transport
        self.usesLimiter = usesLimiter
        self.baseLogger = logger
    }

    /// The trace of the request this thread is serving: calls carry its `traceparent` (a child
    /// of the request's span). nil between requests; background calls then start a trace each.
    public var trace: TraceContext?

    /// Clients for other issuers' providers (`AUTH_EXTRA_ISSUERS`) on this thread's transport.
    private var siblings: [ObjectIdentifier: KeycloakClient] = [:]

    /// This thread's client for `other` (another trusted issuer), sharing this client's
    /// transport: the same thread, the same curl handle, one call at a time.
    public func client(for other: IdentityProvider) -> KeycloakClient {
        if other === provider { return self }
        if let sibling = siblings[ObjectIdentifier(other)] {
            sibling.trace = trace
            return sibling
        }
        let sibling = KeycloakClient(provider: other, transport: transport, usesLimiter: usesLimiter, logger: baseLogger)
        sibling.trace = trace
        siblings[ObjectIdentifier(other)] = sibling
        return sibling
    }

    // MARK: Calls

    /// Fetches and checks the discovery document, trying each issuer candidate in turn while
    /// the provider answers 404 (OIDC Discovery §4.3: the document's `issuer` must equal the
    /// issuer it was fetched for).
    ///
    /// With a `discoveryURL` the document is fetched there instead, and its `issuer` must be one
    /// of the candidates (the back-channel URL differs from the public issuer).
    public func discover() throws(AuthError) -> ProviderMetadata {
        if let url = provider.settings.discoveryURL {
            let response = try send(OutgoingRequest(method: .get, url: url, endpoint: "discovery"))
            let metadata = try decodeSuccess(ProviderMetadata.self, from: response, endpoint: "discovery")
            guard provider.settings.issuerCandidates.contains(metadata.issuer) else {
                throw AuthError(
                    .identityProviderInvalidResponse,
                    "discovery at \(url.prefix(200)) names issuer \(metadata.issuer.prefix(200)), expected \(provider.settings.label.prefix(200))"
                )
            }
            return metadata
        }
        var lastError = AuthError(.identityProviderUnavailable, "no issuer configured")
        for issuer in provider.settings.issuerCandidates {
            let response = try send(
                OutgoingRequest(method: .get, url: IdentityProvider.discoveryURL(issuer: issuer), endpoint: "discovery"))
            if response.status == 404 {
                lastError = AuthError(.identityProviderError, "no discovery document at \(issuer.prefix(200))")
                continue
            }
            let metadata = try decodeSuccess(ProviderMetadata.self, from: response, endpoint: "discovery")
            guard metadata.issuer == issuer else {
                throw AuthError(
                    .identityProviderInvalidResponse,
                    "discovery names issuer \(metadata.issuer.prefix(200)), fetched for \(issuer.prefix(200))")
            }
            return metadata
        }
        throw lastError
    }

    /// The resource owner password credentials grant (RFC 6749 §4.3) with `scope=openid`,
    /// client_secret_post, every value form-encoded.
    ///
    /// - Parameter dpopProof: the client's DPoP proof for the token endpoint (RFC 9449 §5),
    ///   passed on as the `DPoP` header: the provider then binds the tokens to the client's key.
    public func passwordGrant(username: String, password: String, dpopProof: String? = nil) throws(AuthError) -> TokenSet {
        let metadata = try provider.metadata()
        var request = formPost(
            metadata.tokenEndpoint,
            [("grant_type", "password"), ("username", username), ("password", password), ("scope", "openid")], endpoint: "token")
        if let dpopProof { request.headers.append(("DPoP", dpopProof)) }
        let response = try send(request)
        return try decodeSuccess(TokenSet.self, from: response, endpoint: "token")
    }

    /// The authorization code grant (RFC 6749 §4.1.3) with the PKCE verifier (RFC 7636 §4.5):
    /// the browser sign-in's code for a token set with an ID token. A used, expired or
    /// unknown code, or a verifier that does not match, is Keycloak's `invalid_grant`:
    /// `invalidCredentials` here.
    public func authorizationCodeGrant(code: String, redirectURI: String, codeVerifier: String) throws(AuthError) -> TokenSet {
        let metadata = try provider.metadata()
        let response = try send(
            formPost(
                metadata.tokenEndpoint,
                [
                    ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI),
                    ("code_verifier", codeVerifier),
                ], endpoint: "token"))
        return try decodeSuccess(TokenSet.self, from: response, endpoint: "token")
    }

    /// The refresh token grant (RFC 6749 §6): a new token set for a live session.
    /// `invalidRefreshToken` when the token is expired, revoked or its session ended.
    public func refreshGrant(refreshToken: String, dpopProof: String? = nil) throws(AuthError) -> TokenSet {
        let metadata = try provider.metadata()
        var request = formPost(
            metadata.tokenEndpoint, [("grant_type", "refresh_token"), ("refresh_token", refreshToken)], endpoint: "token")
        if let dpopProof { request.headers.append(("DPoP", dpopProof)) }
        let response = try send(request)
        do {
            return try decodeSuccess(TokenSet.self, from: response, endpoint: "token")
        } catch  where error.code == .invalidCredentials {
            throw AuthError(.invalidRefreshToken, error.context)
        }
    }

    /// Ends the provider session of `refreshToken` at the end-session endpoint (Keycloak:
    /// back-channel logout with the refresh token, 204). `invalidRefreshToken` for a dead token.
    public func logout(refreshToken: String) throws(AuthError) {
        let metadata = try provider.metadata()
        guard let endpoint = metadata.endSessionEndpoint else {
            throw AuthError(.identityProviderInvalidResponse, "discovery has no end_session_endpoint")
        }
        let response = try send(formPost(endpoint, [("refresh_token", refreshToken)], endpoint: "logout"))
        guard (200..<300).contains(response.status) else {
            let error = classifyFailure(response, endpoint: "logout")
            throw error.code == .invalidCredentials ? AuthError(.invalidRefreshToken, error.context) : error
        }
        // Keycloak answers 204. A 2xx with a page in it (a proxy's login or error page) did not
        // end the session: only an empty body or JSON counts.
        let body = response.body.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard body.isEmpty || body.first == UInt8(ascii: "{") else {
            throw AuthError(.identityProviderInvalidResponse, "logout answered \(response.status) with a body that is not JSON")
        }
    }

    /// Token introspection (RFC 7662 §2) with this client's credentials. Answers whether the
    /// token is active and, when it is, its claims.
    public func introspect(token: String) throws(AuthError) -> AccessTokenClaims? {
        let metadata = try provider.metadata()
        guard let endpoint = metadata.introspectionEndpoint else {
            throw AuthError(.identityProviderInvalidResponse, "discovery has no introspection_endpoint")
        }
        let response = try send(formPost(endpoint, [("token", token), ("token_type_hint", "access_token")], endpoint: "introspect"))
        // Keycloak answers 400 invalid_request "Failed to introspect token." when introspecting
        // a crafted token fails inside it (keycloak#20174): a verdict on the token, not a
        // provider fault, so any caller must not be able to turn it into a 502 and an
        // error-level log line.
        if response.status == 400, let body = try? Self.decoder.decode(ProviderErrorBody.self, from: Data(response.body)),
            body.error == "invalid_request" || body.error == "invalid_token"
        {
            logger.debug("introspection refused the token", metadata: ["idp.error": "\(body.error)"])
            return nil
        }
        struct Status: Decodable { let active: Bool }
        let status = try decodeSuccess(Status.self, from: response, endpoint: "introspect")
        guard status.active else { return nil }
        return try decodeSuccess(AccessTokenClaims.self, from: response, endpoint: "introspect")
    }

    /// The userinfo endpoint (OIDC Core §5.3) with the caller's access token.
    public func userinfo(accessToken: String) throws(AuthError) -> UserinfoClaims {
        let metadata = try provider.metadata()
        guard let endpoint = metadata.userinfoEndpoint else {
            throw AuthError(.identityProviderInvalidResponse, "discovery has no userinfo_endpoint")
        }
        let request = OutgoingRequest(
            method: .get, url: endpoint, headers: [("Authorization", "Bearer \(accessToken)")], endpoint: "userinfo")
        let response = try send(request)
        // RFC 6750 §3.1: 401 invalid_token, 403 insufficient_scope: the token is not good here.
        if response.status == 401 || response.status == 403 {
            throw AuthError(.tokenRejectedByProvider, "userinfo answered \(response.status)")
        }
        return try decodeSuccess(UserinfoClaims.self, from: response, endpoint: "userinfo")
    }

    /// The provider's JWK Set.
    public func fetchKeys() throws(AuthError) -> JSONWebKeySet {
        let metadata = try provider.metadata()
        let response = try send(OutgoingRequest(method: .get, url: metadata.jwksURI, endpoint: "certs"))
        guard response.status == 200 else {
            throw classifyFailure(response, endpoint: "certs")
        }
        let keys = try JSONWebKeySet(json: response.body)
        if !keys.skipped.isEmpty {
            logger.debug("skipped JWKS entries", metadata: ["auth.skipped": "\(keys.skipped.joined(separator: "; "))"])
        }
        return keys
    }

    // MARK: Plumbing

    /// A form POST with client_secret_post authentication (RFC 6749 §2.3.1): the client id and
    /// secret first, then `fields`, every value form-encoded.
    private func formPost(_ url: String, _ fields: [(String, String)], endpoint: String) -> OutgoingRequest {
        let body = FormURLEncoding.encode(
            [("client_id", provider.settings.clientID), ("client_secret", provider.settings.clientSecret.value)] + fields)
        return OutgoingRequest(
            method: .post, url: url, headers: [("Content-Type", "application/x-www-form-urlencoded")], body: body, endpoint: endpoint)
    }

    private func send(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse {
        var request = request
        let trace = self.trace ?? TraceContext.root()
        request.headers.append(("traceparent", trace.traceparent))
        if let state = trace.traceState { request.headers.append(("tracestate", state)) }
        let endpoint = request.endpoint
        let start = ContinuousClock.now
        do {
            let response =
                if usesLimiter {
                    try provider.limiter.withSlot(endpoint) { () throws(AuthError) in try transport.send(request) }
                } else {
                    try transport.send(request)
                }
            let duration = ContinuousClock.now - start
            let outcome: AuthMetrics.Outcome = (200..<300).contains(response.status) ? .success : .httpError
            provider.health.recordContact()
            AuthMetrics.providerCall(issuer: provider.settings.label, endpoint: endpoint, outcome: outcome, duration: duration)
            logger.debug(
                "provider call",
                metadata: [
                    "idp.endpoint": "\(endpoint)", "idp.status": "\(response.status)", "idp.duration": "\(duration)",
                ])
            return response
        } catch {
            let outcome: AuthMetrics.Outcome
            switch error.code {
            case .identityProviderBusy: outcome = .busy
            case .identityProviderInvalidResponse: outcome = .invalidResponse
            default: outcome = .unavailable
            }
            if outcome == .unavailable {
                provider.health.recordFailure()
            }
            AuthMetrics.providerCall(
                issuer: provider.settings.label, endpoint: endpoint, outcome: outcome,
                duration: outcome == .busy ? nil : ContinuousClock.now - start)
            throw error
        }
    }

    private func decodeSuccess<Value: Decodable>(_ type: Value.Type, from response: IncomingResponse, endpoint: String) throws(AuthError)
        -> Value
    {
        guard (200..<300).contains(response.status) else {
            throw classifyFailure(response, endpoint: endpoint)
        }
        do {
            return try Self.decoder.decode(Value.self, from: Data(response.body))
        } catch {
            throw AuthError(.identityProviderInvalidResponse, "\(endpoint): \(response.status) answer is not the expected JSON")
        }
    }

    /// Maps a non-2xx answer to an error code (Keycloak's bodies: keycloak-reference.md).
    func classifyFailure(_ response: IncomingResponse, endpoint: String) -> AuthError {
        let oauthError = try? Self.decoder.decode(ProviderErrorBody.self, from: Data(response.body))
        let summary = "\(endpoint) answered \(response.status) \(oauthError?.error.prefix(64) ?? "without an OAuth error")"
        if response.status >= 500 {
            return AuthError(.identityProviderError, summary)
        }
        guard let oauthError else {
            return AuthError(.identityProviderInvalidResponse, summary)
        }
        switch (response.status, oauthError.error) {
        case (403, "invalid_request") where oauthError.errorDescription == "HTTPS required":
            // Keycloak's realm setting "Require SSL: external requests" (the default) refuses
            // plain HTTP from any address it does not count as local (loopback and private
            // ranges; not 100.64.0.0/10, not a public address): TokenEndpoint.checkSsl().
            return AuthError(
                .identityProviderError,
                "\(endpoint) answered 403 HTTPS required: Keycloak refuses plain HTTP from this service's address "
                    + "(realm setting Require SSL = external requests); use an https:// KEYCLOAK_SERVER_URL, "
                    + "or set the realm's Require SSL to none (deploy/README.md, Troubleshooting)")
        case (400, "invalid_grant"), (401, "invalid_grant"):
            // Keycloak: 401 up to 26.5, 400 from 26.6 for bad credentials; 400 for disabled
            // accounts and incomplete profiles. All of them are the caller's credentials.
            return AuthError(.invalidCredentials, "\(endpoint): \(oauthError.errorDescription?.prefix(80) ?? "invalid_grant")")
        case (400, "invalid_dpop_proof"), (400, "use_dpop_nonce"),
            (400, "invalid_request") where oauthError.errorDescription?.contains("DPoP") == true:
            // Keycloak's DPoPUtil refused the client's proof (passed on by /login or /refresh):
            // invalid_dpop_proof up to 26.0, invalid_request with a "DPoP …" description since
            // 26.1 (keycloak#34842); every DPoPUtil message names DPoP.
            return AuthError(
                .invalidDPoPProof, "\(endpoint): \(oauthError.errorDescription.map { String($0.prefix(120)) } ?? oauthError.error)")
        case (_, "invalid_client"), (_, "unauthorized_client"):
            return AuthError(.identityProviderRejectedClient, "\(summary): \(oauthError.errorDescription?.prefix(120) ?? "")")
        default:
            return AuthError(.identityProviderError, "\(summary): \(oauthError.errorDescription?.prefix(120) ?? "")")
        }
    }
}
