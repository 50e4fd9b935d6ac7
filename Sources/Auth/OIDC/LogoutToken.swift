import FoundationEssentials

/// The claims of an OpenID Connect Back-Channel Logout 1.0 logout token (§2.4).
public struct LogoutTokenClaims: Decodable, Sendable, Equatable {
    public let iss: String?
    public let sub: String?
    public let aud: AccessTokenClaims.Audience?
    public let iat: Double?
    public let exp: Double?
    public let jti: String?
    public let sid: String?
    /// Must be absent: a nonce would let an ID token pass as a logout token (§2.4).
    public let nonce: String?
    /// Keycloak's token type, `Logout`.
    public let typ: String?
    /// Which members `events` has, and whether the back-channel member's value is an object.
    public let events: Events?

    public struct Events: Decodable, Sendable, Equatable {
        public let hasBackchannelLogoutObject: Bool

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            let key = AnyKey(stringValue: LogoutTokenClaims.backchannelLogoutEvent)
            hasBackchannelLogoutObject = (try? container.nestedContainer(keyedBy: AnyKey.self, forKey: key)) != nil
        }
    }

    /// The `events` member that makes a JWT a logout token (§2.4).
    public static let backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

extension JWTVerifier {
    /// How old a logout token's `iat` may be: the token is delivered as soon as the session
    /// ends, so minutes cover clock skew and retries.
    public static let logoutTokenMaximumAge: Double = 300

    /// Validates a logout token as Back-Channel Logout 1.0 §2.6 lists, except the `jti` replay
    /// check (the caller's, against the shared store): the signature with the provider's keys;
    /// `iss`; `aud` containing `clientID`; `iat` neither older than
    /// `logoutTokenMaximumAge` nor in the future; `exp` when present; the `events` member with
    /// the back-channel logout object; `sub` or `sid`; no `nonce`; a `jti`; the JOSE header
    /// `typ`, when present, `logout+jwt` or `JWT` (§2.4, and Keycloak's); Keycloak's `typ`
    /// claim, when present, `Logout`.
    public func verifyLogoutToken(_ token: String, provider: IdentityProvider, client: KeycloakClient, clientID: String, now: Date)
        throws(AuthError) -> LogoutTokenClaims
    {
        let (headerType, claims, issuer) = try verifiedPayload(token, as: LogoutTokenClaims.self, provider: provider, client: client)
        if let headerType, !["logout+jwt", "application/logout+jwt", "jwt"].contains(headerType.lowercased()) {
            throw AuthError(.wrongTokenType, "logout token header typ \(headerType.prefix(32))")
        }
        guard claims.iss == issuer else {
            throw AuthError(.issuerMismatch, "logout token iss \(claims.iss?.prefix(200) ?? "absent")")
        }
        guard claims.aud?.values.contains(clientID) == true else {
            throw AuthError(.audienceMismatch, "logout token aud does not contain the client id")
        }
        let seconds = now.timeIntervalSince1970
        guard let issuedAt = claims.iat else { throw AuthError(.missingClaim, "logout token iat") }
        guard issuedAt <= seconds + policy.clockSkewSeconds, issuedAt >= seconds - Self.logoutTokenMaximumAge - policy.clockSkewSeconds
        else {
            throw AuthError(.tokenExpired, "logout token iat \(Int64(issuedAt)) is outside the accepted window")
        }
        if let expiry = claims.exp, seconds >= expiry + policy.clockSkewSeconds {
            throw AuthError(.tokenExpired, "logout token exp \(Int64(expiry))")
        }
        guard claims.events?.hasBackchannelLogoutObject == true else {
            throw AuthError(.missingClaim, "logout token events without the back-channel logout event")
        }
        guard claims.sid?.isEmpty == false || claims.sub?.isEmpty == false else {
            throw AuthError(.missingClaim, "logout token has neither sid nor sub")
        }
        guard claims.nonce == nil else {
            throw AuthError(.wrongTokenType, "logout token carries a nonce")
        }
        if let type = claims.typ, type != "Logout" {
            throw AuthError(.wrongTokenType, "logout token typ \(type.prefix(32))")
        }
        guard let jti = claims.jti, !jti.isEmpty, jti.utf8.count <= 256 else {
            throw AuthError(.missingClaim, "logout token jti")
        }
        return claims
    }
}
