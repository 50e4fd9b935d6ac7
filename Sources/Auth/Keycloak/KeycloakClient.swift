import Foundation
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
    private let logger: Logger
    private static let decoder = JSONDecoder()

    /// - Parameter usesLimiter: whether calls take a slot of the provider's call limiter
    ///   (worker threads do; the background monitor does not).
    public init(provider: IdentityProvider, transport: any HTTPTransport, usesLimiter: Bool = true, logger: Logger = Logger(label: "keycloak-fcgi.provider")) {
        self.provider = provider
        self.transport = transport
        self.usesLimiter = usesLimiter
        self.logger = logger
    }

    // MARK: Calls

    /// Fetches and checks the discovery document, trying each issuer candidate in turn while
    /// the provider answers 404 (OIDC Discovery §4.3: the document's `issuer` must equal the
    /// issuer it was fetched for).
    public func discover() throws(AuthError) -> ProviderMetadata {
        var lastError = AuthError(.identityProviderUnavailable, "no issuer configured")
        for issuer in provider.settings.issuerCandidates {
            let response = try send(OutgoingRequest(method: .get, url: IdentityProvider.discoveryURL(issuer: issuer)), endpoint: "discovery")
            if response.status == 404 {
                lastError = AuthError(.identityProviderError, "no discovery document at \(issuer.prefix(200))")
                continue
            }
            let metadata = try decodeSuccess(ProviderMetadata.self, from: response, endpoint: "discovery")
            guard metadata.issuer == issuer else {
                throw AuthError(.identityProviderInvalidResponse, "discovery names issuer \(metadata.issuer.prefix(200)), fetched for \(issuer.prefix(200))")
            }
            return metadata
        }
        throw lastError
    }

    /// The resource owner password credentials grant (RFC 6749 §4.3) with `scope=openid`,
    /// client_secret_post, every value form-encoded.
    public func passwordGrant(username: String, password: String) throws(AuthError) -> TokenSet {
        let metadata = try provider.metadata()
        let body = FormURLEncoding.encode([
            ("grant_type", "password"),
            ("client_id", provider.settings.clientID),
            ("client_secret", provider.settings.clientSecret.value),
            ("username", username),
            ("password", password),
            ("scope", "openid"),
        ])
        let request = OutgoingRequest(
            method: .post, url: metadata.tokenEndpoint,
            headers: [("Content-Type", "application/x-www-form-urlencoded")], body: body)
        let response = try send(request, endpoint: "token")
        return try decodeSuccess(TokenSet.self, from: response, endpoint: "token")
    }

    /// The userinfo endpoint (OIDC Core §5.3) with the caller's access token.
    public func userinfo(accessToken: String) throws(AuthError) -> UserinfoClaims {
        let metadata = try provider.metadata()
        guard let endpoint = metadata.userinfoEndpoint else {
            throw AuthError(.identityProviderInvalidResponse, "discovery has no userinfo_endpoint")
        }
        let request = OutgoingRequest(method: .get, url: endpoint, headers: [("Authorization", "Bearer \(accessToken)")])
        let response = try send(request, endpoint: "userinfo")
        // RFC 6750 §3.1: 401 invalid_token, 403 insufficient_scope: the token is not good here.
        if response.status == 401 || response.status == 403 {
            throw AuthError(.tokenRejectedByProvider, "userinfo answered \(response.status)")
        }
        return try decodeSuccess(UserinfoClaims.self, from: response, endpoint: "userinfo")
    }

    /// The provider's JWK Set.
    public func fetchKeys() throws(AuthError) -> JSONWebKeySet {
        let metadata = try provider.metadata()
        let response = try send(OutgoingRequest(method: .get, url: metadata.jwksURI), endpoint: "certs")
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

    private func send(_ request: OutgoingRequest, endpoint: String) throws(AuthError) -> IncomingResponse {
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
            AuthMetrics.providerCall(endpoint: endpoint, outcome: outcome, duration: duration)
            logger.debug("provider call", metadata: [
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
            AuthMetrics.providerCall(endpoint: endpoint, outcome: outcome, duration: outcome == .busy ? nil : ContinuousClock.now - start)
            throw error
        }
    }

    private func decodeSuccess<Value: Decodable>(_ type: Value.Type, from response: IncomingResponse, endpoint: String) throws(AuthError) -> Value {
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
        case (400, "invalid_grant"), (401, "invalid_grant"):
            // Keycloak: 401 up to 26.5, 400 from 26.6 for bad credentials; 400 for disabled
            // accounts and incomplete profiles. All of them are the caller's credentials.
            return AuthError(.invalidCredentials, "\(endpoint): \(oauthError.errorDescription?.prefix(80) ?? "invalid_grant")")
        case (_, "invalid_client"), (_, "unauthorized_client"):
            return AuthError(.identityProviderRejectedClient, "\(summary): \(oauthError.errorDescription?.prefix(120) ?? "")")
        default:
            return AuthError(.identityProviderError, "\(summary): \(oauthError.errorDescription?.prefix(120) ?? "")")
        }
    }
}
