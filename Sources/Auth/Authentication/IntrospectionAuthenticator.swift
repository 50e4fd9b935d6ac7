import FoundationEssentials

/// `AUTH_VERIFY=introspect`: asks the provider about every token it has not seen lately
/// (RFC 7662), so a revoked token or an ended session stops working within the cache TTL.
///
/// The provider's answer gets the same claim checks as a locally verified token (issuer,
/// `exp`/`nbf`, `typ`, audience). Active answers are cached until the token's `exp`, at most
/// `activeTTL` seconds; inactive ones for `inactiveTTL`. The cache key is the token's SHA-256
/// with the issuer, client and audiences, so two configurations never share an entry.
public struct IntrospectionAuthenticator: Authenticator {
    /// A cached answer.
    public enum Verdict: Sendable {
        case active(AuthenticatedUser)
        case inactive
    }

    public let verifier: JWTVerifier
    public let provider: IdentityProvider
    public let cache: TokenCache<Verdict>?
    public let activeTTL: Double
    public let inactiveTTL: Double

    public init(verifier: JWTVerifier, provider: IdentityProvider, cache: TokenCache<Verdict>?, activeTTL: Double, inactiveTTL: Double = 2)
    {
        self.verifier = verifier
        self.provider = provider
        self.cache = cache
        self.activeTTL = activeTTL
        self.inactiveTTL = min(inactiveTTL, activeTTL)
    }

    public func verify(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser {
        try UnverifiedJWS.precheck(token, maximumBytes: verifier.policy.maximumTokenBytes)
        let discovery = try provider.discovery()
        let issuer = discovery.metadata.issuer
        let seconds = now.timeIntervalSince1970
        let key = TokenDigest(
            namespace: "introspect|\(issuer)|\(provider.settings.clientID)|\(verifier.policy.audiences.joined(separator: ","))",
            token: token)
        if let cache, let verdict = cache.value(for: key, now: seconds) {
            AuthMetrics.tokenCache(hit: true)
            switch verdict {
            case .active(let user): return user
            case .inactive: throw AuthError(.tokenRejectedByProvider, "introspection: inactive (cached)")
            }
        }
        if cache != nil { AuthMetrics.tokenCache(hit: false) }

        guard let claims = try client.introspect(token: token) else {
            cache?.store(.init(value: .inactive, expiresAt: seconds + inactiveTTL), for: key, now: seconds)
            throw AuthError(.tokenRejectedByProvider, "introspection: inactive")
        }
        // RFC 7662 §2.2: `iss` is optional in the answer; when present it must match.
        try verifier.check(claims, now: now, issuer: issuer, issuerRequired: false)
        let user = try AuthenticatedUser(claims: claims)
        if let cache, let expiry = claims.exp {
            cache.store(.init(value: .active(user), expiresAt: min(expiry, seconds + activeTTL)), for: key, now: seconds)
        }
        return user
    }
}
