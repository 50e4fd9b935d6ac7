import FoundationEssentials
import Metrics

/// `AUTH_VERIFY=jwks`: verifies the token's signature and claims locally against the
/// provider's cached keys. No call to the provider except a rate-limited refetch when a token
/// names a `kid` that is not cached.
///
/// With a `cache`, a token that verified is remembered (by its SHA-256, with the issuer and
/// audiences in the key) until its `exp` plus the clock skew, and forgotten as soon as the key
/// that verified it leaves the provider's JWKS: repeated requests skip parsing and RSA.
///
/// Several realms (`AUTH_EXTRA_ISSUERS`): each extra issuer is a `TrustedIssuer` with its own
/// discovery, keys, unknown-`kid` budget, algorithms, audiences and cache. The token's claimed
/// `iss` picks the issuer before any key lookup, and the signature is then checked only with
/// that issuer's keys, after which `iss` must equal that issuer exactly: a key of one realm can
/// never verify another realm's token, and a token naming an issuer not on the list costs no
/// key lookup. Without extra issuers the payload is not read before the signature passes.
public struct LocalTokenAuthenticator: Authenticator {
    /// One issuer whose tokens are accepted, with everything that is per issuer.
    public struct TrustedIssuer: Sendable {
        public let provider: IdentityProvider
        public let verifier: JWTVerifier
        public let cache: TokenCache<AuthenticatedUser>?

        public init(provider: IdentityProvider, verifier: JWTVerifier, cache: TokenCache<AuthenticatedUser>? = nil) {
            self.provider = provider
            self.verifier = verifier
            self.cache = cache
            if let cache {
                provider.keys.onKeysRemoved { keyIDs in cache.evict(keyIDs: keyIDs) }
            }
        }
    }

    /// The configured realm: `/login`, `/refresh` and `/logout` use it too.
    public let primary: TrustedIssuer
    /// `AUTH_EXTRA_ISSUERS`, by issuer URL.
    public let extraIssuers: [String: TrustedIssuer]

    private static let allAlgorithms = Set(SignatureAlgorithm.allCases)

    public init(
        verifier: JWTVerifier, provider: IdentityProvider, cache: TokenCache<AuthenticatedUser>? = nil, extraIssuers: [TrustedIssuer] = []
    ) {
        self.primary = TrustedIssuer(provider: provider, verifier: verifier, cache: cache)
        self.extraIssuers = Dictionary(extraIssuers.map { ($0.provider.settings.label, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func verify(_ token: String, using client: KeycloakClient, now: Date) throws(AuthError) -> AuthenticatedUser {
        guard !extraIssuers.isEmpty, token.utf8.count <= primary.verifier.policy.maximumTokenBytes,
            let claimed = Self.claimedIssuer(of: token)
        else {
            return try verify(token, at: primary, using: client, now: now)
        }
        if let extra = extraIssuers[claimed] {
            return try verify(token, at: extra, using: client.client(for: extra.provider), now: now)
        }
        if let primaryIssuer = try? primary.provider.discovery().metadata.issuer, claimed != primaryIssuer {
            throw AuthError(.issuerMismatch, "iss \(claimed.prefix(200)) is not a trusted issuer")
        }
        return try verify(token, at: primary, using: client, now: now)
    }

    private func verify(_ token: String, at issuer: TrustedIssuer, using client: KeycloakClient, now: Date) throws(AuthError)
        -> AuthenticatedUser
    {
        let provider = issuer.provider
        let verifier = issuer.verifier
        // Until discovery succeeds every supported algorithm passes the allow-list, so
        // malformed tokens still get 401; the key lookup then answers "unavailable".
        let discovery = try? provider.discovery()
        let seconds = now.timeIntervalSince1970
        var cacheKey: TokenDigest?
        if let cache = issuer.cache, let discovery, token.utf8.count <= verifier.policy.maximumTokenBytes {
            let key = TokenDigest(namespace: namespace(issuer: discovery.metadata.issuer, verifier: verifier), token: token)
            if let user = cache.value(for: key, now: seconds) {
                AuthMetrics.tokenCache(hit: true)
                return user
            }
            AuthMetrics.tokenCache(hit: false)
            cacheKey = key
        }
        let algorithms = discovery?.allowedAlgorithms ?? Self.allAlgorithms
        let expectedIssuer = discovery?.metadata.issuer ?? ""
        var keyID: String?
        let claims = try verifier.verify(token, now: now, issuer: expectedIssuer, allowedAlgorithms: algorithms) { kid throws(AuthError) in
            guard discovery != nil else {
                throw AuthError(.identityProviderUnavailable, "discovery has not succeeded yet")
            }
            keyID = kid
            return try provider.keys.signingKey(for: kid) { () throws(AuthError) in try client.fetchKeys() }
        }
        let user = try AuthenticatedUser(claims: claims)
        if let cache = issuer.cache, let cacheKey, let expiry = claims.exp {
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
    private func namespace(issuer: String, verifier: JWTVerifier) -> String {
        "jwks|\(issuer)|\(verifier.policy.audiences.joined(separator: ","))"
    }

    /// The `iss` a token claims, read without any check: it only chooses whose keys to try.
    static func claimedIssuer(of token: String) -> String? {
        struct Issuer: Decodable { let iss: String? }
        return UnverifiedJWS.payload(of: token, as: Issuer.self)?.iss
    }
}
