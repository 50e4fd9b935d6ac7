import FoundationEssentials

/// Any strategy, plus the back-channel logouts: a user whose session (`sid`) or subject the
/// provider logged out is refused with `sessionRevoked`, even while the token itself is still
/// valid (jwks mode would otherwise accept it until `exp`). The list is process-local, kept in
/// step across replicas by the revocation store, so the check never leaves the process; with
/// nothing revoked it takes no lock.
public struct RevocationCheckingAuthenticator: Authenticator {
    public let base: any Authenticator
    public let revocations: RevocationList
    /// The primary realm: its issuer stands in when an answer (userinfo) names none.
    public let provider: IdentityProvider

    public init(base: any Authenticator, revocations: RevocationList, provider: IdentityProvider) {
        self.base = base
        self.revocations = revocations
        self.provider = provider
    }

    public func verify(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser {
        let user = try base.verify(token, using: client, now: now)
        try check(user, now: now)
        return user
    }

    /// Throws `sessionRevoked` when a back-channel logout ended `user`'s session or subject.
    public func check(_ user: AuthenticatedUser, now: Date) throws(AuthError) {
        guard revocations.count > 0 else { return }
        let issuer = user.issuer ?? (try? provider.discovery().metadata.issuer) ?? provider.settings.label
        if revocations.isRevoked(
            issuer: issuer, sessionID: user.sessionID, subject: user.subject, issuedAt: user.issuedAt,
            now: Int64(now.timeIntervalSince1970))
        {
            throw AuthError(.sessionRevoked, user.sessionID != nil ? "session logged out" : "subject logged out")
        }
    }
}
