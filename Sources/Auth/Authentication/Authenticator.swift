import FoundationEssentials

/// Turns a bearer token into a user, or an `AuthError`. Two strategies exist, chosen by
/// `AUTH_VERIFY`: `LocalTokenAuthenticator` (jwks) and `UserinfoAuthenticator` (userinfo).
public protocol Authenticator: Sendable {
    /// - Parameters:
    ///   - token: the bearer token, already taken out of the `Authorization` header.
    ///   - client: the calling thread's provider client, for refetches or userinfo calls.
    ///   - now: the current time (injected for tests).
    func authenticate(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser
}
