import FoundationEssentials
import Metrics

/// `AUTH_VERIFY=jwks`: verifies the token's signature and claims locally against the
/// provider's cached keys. No call to the provider except a rate-limited refetch when a token
/// names a `kid` that is not cached.
///
/// With a `cache`, a token that verified is remembered (by its SHA-256, with the issuer and
/// audiences in the key) until its `exp` plus the clock skew, and forgotten as soon as the key
/// that verified it leaves the provider's JWKS: repeated requests skip parsing and RSA.
public struct LocalTokenAuthenticator: Authenticator {
    public let verifier: JWTVerifier
    public let provider: IdentityProvider
    public let cache: TokenCache<AuthenticatedUser>?

    private static let allAlgorithms = Set(SignatureAlgorithm.allCases)

    public init(verifier: JWTVerifier, provider: IdentityProvider, cache: TokenCache<AuthenticatedUser>? = nil) {
        self.verifier = verifier
        self.provider = provider
        self.cache = cache
        if let cache {
            provider.keys.onKeysRemoved { keyIDs in cache.evict(keyIDs: keyIDs) }
        }
    }

    public func authenticate(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser {
        do {
            return try check(token, using: client, now: now)
        } catch {
            AuthMetrics.verificationFailure(error)
            throw error
        }
    }

    private func check(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser {
        // Until discovery succeeds every supported algorithm passes the allow-list, so
        // malformed tokens still get 401; the key lookup then answers "unavailable".
        let discovery = try? provider.discovery()
        let seconds = now.timeIntervalSince1970
        var cacheKey: TokenDigest?
        if let cache, let discovery, token.utf8.count <= verifier.policy.maximumTokenBytes {
            let key = TokenDigest(namespace: namespace(issuer: discovery.metadata.issuer), token: token)
            if let user = cache.value(for: key, now: seconds) {
                AuthMetrics.tokenCache(hit: true)
                return user
            }
            AuthMetrics.tokenCache(hit: false)
            cacheKey = key
        }
        let algorithms = discovery?.allowedAlgorithms ?? Self.allAlgorithms
        let issuer = discovery?.metadata.issuer ?? ""
        var keyID: String?
        let claims = try verifier.verify(token, now: now, issuer: issuer, allowedAlgorithms: algorithms) { kid throws(AuthError) in
            guard discovery != nil else {
                throw AuthError(.identityProviderUnavailable, "discovery has not succeeded yet")
            }
            keyID = kid
            return try provider.keys.signingKey(for: kid) { () throws(AuthError) in try client.fetchKeys() }
        }
        let user = try AuthenticatedUser(claims: claims)
        if let cache, let cacheKey, let expiry = claims.exp {
            cache.store(.init(value: user, expiresAt: expiry + verifier.policy.clockSkewSeconds, keyID: keyID), for: cacheKey, now: seconds)
            // The key may have been withdrawn (and its entries evicted) while this thread was
            // verifying; the refresh swaps the key set before it evicts, so checking after the
            // store closes that gap.
            if let keyID, !provider.keys.contains(kid: keyID) {
                cache.evict(keyIDs: [keyID])
            }
        }
        return user
    }

    /// Everything besides the token that the verdict depends on.
    private func namespace(issuer: String) -> String {
        "jwks|\(issuer)|\(verifier.policy.audiences.joined(separator: ","))"
    }
}
