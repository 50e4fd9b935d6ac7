import FoundationEssentials

/// `AUTH_VERIFY=userinfo`: the seed's behaviour, one call to the provider's userinfo endpoint
/// per request. Revocation takes effect at once, at the cost of a round trip each time.
///
/// Tokens that are too large or not even shaped like a compact JWS are refused without
/// calling the provider.
public struct UserinfoAuthenticator: Authenticator {
    /// The size limit and `AUTH_AUDIENCE` (checked against the token's `aud`/`azp` once the
    /// provider accepted it).
    public let policy: VerificationPolicy

    public init(policy: VerificationPolicy = VerificationPolicy()) {
        self.policy = policy
    }

    public func verify(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser {
        try UnverifiedJWS.precheck(token, maximumBytes: policy.maximumTokenBytes)
        let claims = try client.userinfo(accessToken: token)
        guard let username = claims.preferredUsername ?? claims.sub else {
            throw AuthError(.identityProviderInvalidResponse, "userinfo has neither preferred_username nor sub")
        }
        // Userinfo carries no roles or audience. The provider has just accepted this token, so
        // its payload is authentic: audience, roles, scopes and session come from there.
        let payload = UnverifiedJWS.claims(of: token)
        try policy.checkAudience(aud: payload?.aud, azp: payload?.azp)
        return AuthenticatedUser(
            subject: claims.sub, username: username, email: claims.email, fullName: claims.name,
            roles: AuthenticatedUser.roles(realm: payload?.realmAccess, clients: payload?.resourceAccess),
            scopes: payload?.scopes ?? [], sessionID: payload?.sid)
    }
}
