import FoundationEssentials

/// `AUTH_VERIFY=userinfo`: the seed's behaviour, one call to the provider's userinfo endpoint
/// per request. Revocation takes effect at once, at the cost of a round trip each time.
///
/// Tokens that are too large or not even shaped like a compact JWS are refused without
/// calling the provider.
public struct UserinfoAuthenticator: Authenticator {
    public let maximumTokenBytes: Int
    /// `AUTH_AUDIENCE`: checked against the token's `aud`/`azp` once the provider accepted it.
    public let audiences: [String]

    public init(maximumTokenBytes: Int = VerificationPolicy.defaultMaximumTokenBytes, audiences: [String] = []) {
        self.maximumTokenBytes = maximumTokenBytes
        self.audiences = audiences
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
        let bytes = token.utf8
        guard bytes.count <= maximumTokenBytes else {
            throw AuthError(.tokenTooLarge, "\(bytes.count) bytes")
        }
        guard Self.looksLikeCompactJWS(bytes) else {
            throw AuthError(.malformedToken, "not a compact JWS")
        }
        let claims = try client.userinfo(accessToken: token)
        guard let username = claims.preferredUsername ?? claims.sub else {
            throw AuthError(.identityProviderInvalidResponse, "userinfo has neither preferred_username nor sub")
        }
        // Userinfo carries no roles or audience. The provider has just accepted this token, so
        // its payload is authentic: audience, roles, scopes and session come from there.
        let payload = Self.unverifiedPayloadClaims(of: token)
        if !audiences.isEmpty {
            let presented = (payload?.aud?.values ?? []) + (payload?.azp.map { [$0] } ?? [])
            guard presented.contains(where: audiences.contains) else {
                throw AuthError(.audienceMismatch, "aud/azp \(presented.joined(separator: ",").prefix(200))")
            }
        }
        return AuthenticatedUser(
            subject: claims.sub, username: username, email: claims.email, fullName: claims.name,
            roles: AuthenticatedUser.roles(realm: payload?.realmAccess, clients: payload?.resourceAccess),
            scopes: payload?.scope.map { $0.split(separator: " ").map(String.init) } ?? [], sessionID: payload?.sid)
    }

    /// The payload of a compact JWS, decoded without checking its signature; only for a token
    /// the provider has vouched for (or to read a `sid` the provider will check itself).
    public static func unverifiedPayloadClaims(of token: String) -> AccessTokenClaims? {
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3, let payload = Base64URL.decode(ArraySlice(segments[1])) else { return nil }
        return try? JSONDecoder().decode(AccessTokenClaims.self, from: Data(payload))
    }

    /// Three non-empty segments of base64url characters.
    static func looksLikeCompactJWS(_ bytes: String.UTF8View) -> Bool {
        var segments = 1
        var segmentLength = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "."):
                if segmentLength == 0 { return false }
                segments += 1
                segmentLength = 0
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                segmentLength += 1
            default:
                return false
            }
        }
        return segments == 3 && segmentLength > 0
    }
}
