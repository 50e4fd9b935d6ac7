import Foundation

/// `AUTH_VERIFY=jwks`: verifies the token's signature and claims locally against the
/// provider's cached keys. No call to the provider except a rate-limited refetch when a token
/// names a `kid` that is not cached.
public struct LocalTokenAuthenticator: Authenticator {
    public let verifier: JWTVerifier
    public let provider: IdentityProvider

    public init(verifier: JWTVerifier, provider: IdentityProvider) {
        self.verifier = verifier
        self.provider = provider
    }

    private static let allAlgorithms = Set(SignatureAlgorithm.allCases)

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
        let algorithms = discovery?.allowedAlgorithms ?? Self.allAlgorithms
        let issuer = discovery?.metadata.issuer ?? ""
        let claims = try verifier.verify(token, now: now, issuer: issuer, allowedAlgorithms: algorithms) { kid throws(AuthError) in
            guard discovery != nil else {
                throw AuthError(.identityProviderUnavailable, "discovery has not succeeded yet")
            }
            return try provider.keys.signingKey(for: kid) { () throws(AuthError) in try client.fetchKeys() }
        }
        guard let username = claims.preferredUsername ?? claims.sub else {
            throw AuthError(.missingClaim, "preferred_username and sub")
        }
        return AuthenticatedUser(subject: claims.sub, username: username, email: claims.email, fullName: claims.name)
    }
}
