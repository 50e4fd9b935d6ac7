import FoundationEssentials

/// Turns a bearer token into a user, or an `AuthError`. Three strategies, chosen by
/// `AUTH_VERIFY`: `LocalTokenAuthenticator` (jwks), `UserinfoAuthenticator` (userinfo) and
/// `IntrospectionAuthenticator` (introspect). Each implements `verify`; callers use
/// `authenticate`, which adds what every strategy shares (the refusal metrics).
public protocol Authenticator: Sendable {
    /// The strategy's own checks.
    ///
    /// - Parameters:
    ///   - token: the bearer token, already taken out of the `Authorization` header.
    ///   - client: the calling thread's provider client, for refetches or provider calls.
    ///   - now: the current time (injected for tests).
    func verify(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser
}

extension Authenticator {
    /// The user `token` belongs to; a refusal is counted in
    /// `keycloak_fcgi_auth_failures_total{reason}` before it is thrown.
    public func authenticate(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser {
        do {
            return try verify(token, using: client, now: now)
        } catch {
            AuthMetrics.verificationFailure(error)
            throw error
        }
    }
}
