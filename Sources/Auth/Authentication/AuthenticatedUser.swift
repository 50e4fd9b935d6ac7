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
    /// (`resource_access.<client>.roles`) as `client:name`, in token order.
    public let roles: [String]
    /// The token's `scope`, split on spaces.
    public let scopes: [String]
    /// `sid`: the provider session the token belongs to, when present.
    public let sessionID: String?

    public init(
        subject: String?, username: String, email: String?, fullName: String?, roles: [String] = [], scopes: [String] = [],
        sessionID: String? = nil
    ) {
        self.subject = subject
        self.username = username
        self.email = email
        self.fullName = fullName
        self.roles = roles
        self.scopes = scopes
        self.sessionID = sessionID
    }

    /// The user a verified access token describes; `missingClaim` without a username or `sub`.
    init(claims: AccessTokenClaims) throws(AuthError) {
        guard let username = claims.preferredUsername ?? claims.sub else {
            throw AuthError(.missingClaim, "preferred_username and sub")
        }
        self.init(
            subject: claims.sub, username: username, email: claims.email, fullName: claims.name,
            roles: Self.roles(realm: claims.realmAccess, clients: claims.resourceAccess),
            scopes: claims.scope.map { $0.split(separator: " ").map(String.init) } ?? [], sessionID: claims.sid)
    }

    /// Realm roles as they are, client roles prefixed with their client id; clients sorted so
    /// the order does not depend on JSON object order.
    static func roles(realm: AccessTokenClaims.Roles?, clients: [String: AccessTokenClaims.Roles]?) -> [String] {
        var roles = realm?.roles ?? []
        for client in (clients ?? [:]).keys.sorted() {
            for role in clients?[client]?.roles ?? [] {
                roles.append("\(client):\(role)")
            }
        }
        return roles
    }
}
