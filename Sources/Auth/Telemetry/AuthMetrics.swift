import Metrics
import Platform

/// The metrics the `Auth` module emits through swift-metrics (the application chooses the
/// backend; keycloak-fcgi exports them in Prometheus format).
///
/// - `keycloak_fcgi_idp_requests_total{issuer,endpoint,outcome}` and
///   `keycloak_fcgi_idp_request_duration_seconds{issuer,endpoint}`: every call to a provider.
/// - `keycloak_fcgi_jwks_fetches_total{issuer,trigger,outcome}`: key set fetches, by what caused them.
///
/// `issuer` is the issuer as configured (`ProviderSettings.label`): the primary realm's, or one
/// of `AUTH_EXTRA_ISSUERS`.
/// - `keycloak_fcgi_auth_failures_total{reason}`: refused tokens, by `AuthError.Code`.
/// - `keycloak_fcgi_token_cache_lookups_total{result}`: verdict cache hits and misses.
public enum AuthMetrics {
    /// How a call to the provider ended.
    public enum Outcome: String, Sendable {
        /// A 2xx answer.
        case success
        /// An answer with another status (4xx, 5xx).
        case httpError = "http_error"
        /// No answer: connect failure or timeout.
        case unavailable
        /// An answer too large to read.
        case invalidResponse = "invalid_response"
        /// Not attempted: every provider slot was taken.
        case busy
    }

    /// Why a key set fetch happened.
    public enum FetchTrigger: String, Sendable {
        /// A token named a `kid` that was not cached.
        case unknownKeyID = "unknown_kid"
        /// Start-up or the periodic refresh.
        case refresh
    }

    static func providerCall(issuer: String, endpoint: String, outcome: Outcome, duration: Duration?) {
        Counter(
            label: "keycloak_fcgi_idp_requests_total",
            dimensions: [("issuer", issuer), ("endpoint", endpoint), ("outcome", outcome.rawValue)]
        ).increment()
        if let duration {
            Timer(label: "keycloak_fcgi_idp_request_duration_seconds", dimensions: [("issuer", issuer), ("endpoint", endpoint)])
                .recordNanoseconds(duration.nanoseconds)
        }
    }

    static func keyFetch(issuer: String, trigger: FetchTrigger, succeeded: Bool) {
        Counter(
            label: "keycloak_fcgi_jwks_fetches_total",
            dimensions: [("issuer", issuer), ("trigger", trigger.rawValue), ("outcome", succeeded ? "success" : "failure")]
        ).increment()
    }

    public static func verificationFailure(_ error: AuthError) {
        guard error.isCallerError else { return }
        Counter(label: "keycloak_fcgi_auth_failures_total", dimensions: [("reason", error.code.rawValue)]).increment()
    }

    /// Created on first use, which is after the application bootstrapped its metrics backend.
    private static let cacheHits = Counter(label: "keycloak_fcgi_token_cache_lookups_total", dimensions: [("result", "hit")])
    private static let cacheMisses = Counter(label: "keycloak_fcgi_token_cache_lookups_total", dimensions: [("result", "miss")])

    static func tokenCache(hit: Bool) {
        (hit ? cacheHits : cacheMisses).increment()
    }
}
