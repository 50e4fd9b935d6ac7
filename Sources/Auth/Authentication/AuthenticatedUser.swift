/// Who a valid bearer token belongs to, and what it may do: what `/protected` returns and what
/// `/auth` hands to nginx.
public struct AuthenticatedUser: Sendable, Equatable {
    /// `sub`, for logs and `X-Auth-Subject`.
    public let subject: String?
    /// `preferred_username`, or `sub` when the provider omits it.
    public let username: String
    /// `email`, when the user has one.
    public let email: String?
    /// `name` (Keycloak builds it from first and last name), when set.
    public let fullName: String?
    /// Realm roles (`realm_access.roles`) as `name`, then client roles
    /// (`resource_access.<client>.roles`) as `client:name`, each group sorted (Keycloak keeps
    /// roles in sets, so the token's order means nothing and may differ between two tokens).
    public let roles: [String]
    /// The token's `scope`, split on spaces.
    public let scopes: [String]
    /// `sid`: the provider session the token belongs to, when present.
    public let sessionID: String?
    /// Whether the token said anything about who the user is beyond `sub`: a username, email,
    /// name or roles. Keycloak's lightweight access tokens (a client option) carry none of
    /// them; only introspection or userinfo can tell who such a token belongs to.
    public let carriesIdentity: Bool
    /// `iss`, when the token or answer named it: a back-channel logout's `sid` and `sub` are
    /// only unique per issuer.
    public let issuer: String?
    /// `iat` in whole seconds: a subject-wide logout refuses the tokens issued before it.
    public let issuedAt: Int64?
    /// `cnf`: the key (DPoP) or certificate (mTLS) the token is bound to; nil for a bearer token.
    public let confirmation: AccessTokenClaims.Confirmation?
    /// Keycloak's `allowed-origins` claim, when the token has one.
    public let allowedOrigins: [String]?

    public init(
        subject: String?, username: String, email: String?, fullName: String?, roles: [String] = [], scopes: [String] = [],
        sessionID: String? = nil, carriesIdentity: Bool = true, issuer: String? = nil, issuedAt: Int64? = nil,
        confirmation: AccessTokenClaims.Confirmation? = nil, allowedOrigins: [String]? = nil
    ) {
        self.confirmation = confirmation?.isEmpty == true ? nil : confirmation
        self.allowedOrigins = allowedOrigins
        self.issuer = issuer
        self.issuedAt = issuedAt
        self.subject = subject
        self.username = username
        self.email = email
        self.fullName = fullName
        self.roles = roles
        self.scopes = scopes
        self.sessionID = sessionID
        self.carriesIdentity = carriesIdentity
    }

    /// The user a verified access token describes; `missingClaim` without a username or `sub`,
    /// `noIdentityClaims` when the token says nothing of its user at all (a Keycloak 26
    /// lightweight access token has not even `sub`).
    init(claims: AccessTokenClaims) throws(AuthError) {
        let carriesIdentity =
            claims.preferredUsername != nil || claims.email != nil || claims.name != nil || claims.givenName != nil
            || claims.familyName != nil || claims.realmAccess != nil || claims.resourceAccess != nil
        guard let username = claims.preferredUsername ?? claims.sub else {
            throw carriesIdentity
                ? AuthError(.missingClaim, "preferred_username and sub")
                : AuthError(.noIdentityClaims, Self.lightweightHint)
        }
        self.init(
            subject: claims.sub, username: username, email: claims.email, fullName: claims.name,
            roles: Self.roles(realm: claims.realmAccess, clients: claims.resourceAccess),
            scopes: claims.scopes, sessionID: claims.sid,
            carriesIdentity: carriesIdentity, issuer: claims.iss, issuedAt: claims.iat.map { Int64($0) },
            confirmation: claims.cnf, allowedOrigins: claims.allowedOrigins)
    }

    /// The log context for a token without identity claims: what it is and what to do.
    public static let lightweightHint =
        "no sub, preferred_username, email, name or roles: a lightweight access token needs AUTH_VERIFY=introspect"

    /// Realm roles sorted, then client roles prefixed with their client id, sorted by client
    /// and role: Keycloak holds both in sets (`AccessToken.Access.roles` is a `Set<String>`),
    /// so the order in the token is arbitrary and must not leak into answers.
    static func roles(realm: AccessTokenClaims.Roles?, clients: [String: AccessTokenClaims.Roles]?) -> [String] {
        var roles = (realm?.roles ?? []).sorted()
        for client in (clients ?? [:]).keys.sorted() {
            for role in (clients?[client]?.roles ?? []).sorted() {
                roles.append("\(client):\(role)")
            }
        }
        return roles
    }
}
