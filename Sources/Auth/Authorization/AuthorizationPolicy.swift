/// What a user must hold beyond a valid token: roles and scopes, all of them.
///
/// A role is written `name` for a realm role (`realm_access.roles`) and `client:name` for a
/// client role (`resource_access.<client>.roles`), the way `AuthenticatedUser.roles` lists them.
public struct AuthorizationPolicy: Sendable, Equatable {
    public var requiredRoles: [String]
    public var requiredScopes: [String]

    /// No requirement: every authenticated user passes.
    public static let none = AuthorizationPolicy(requiredRoles: [], requiredScopes: [])

    public init(requiredRoles: [String], requiredScopes: [String]) {
        self.requiredRoles = requiredRoles
        self.requiredScopes = requiredScopes
    }

    /// Parses comma- or space-separated lists, as in `AUTH_REQUIRED_ROLES` and nginx params.
    public init(roles: String?, scopes: String?) {
        self.init(requiredRoles: Self.list(roles), requiredScopes: Self.list(scopes))
    }

    public var isEmpty: Bool { requiredRoles.isEmpty && requiredScopes.isEmpty }

    /// The requirements `user` lacks (empty when it may pass), for logs.
    public func missing(for user: AuthenticatedUser) -> [String] {
        requiredRoles.filter { !user.roles.contains($0) }.map { "role \($0)" }
            + requiredScopes.filter { !user.scopes.contains($0) }.map { "scope \($0)" }
    }

    /// Throws `insufficientPermissions` naming what is missing.
    public func check(_ user: AuthenticatedUser) throws(AuthError) {
        let missing = missing(for: user)
        guard missing.isEmpty else {
            throw AuthError(.insufficientPermissions, missing.joined(separator: ", ").prefixString(200))
        }
    }

    /// A list separated by commas or spaces, as in `AUTH_REQUIRED_ROLES` and nginx params.
    public static func list(_ text: String?) -> [String] {
        (text ?? "").split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
    }
}

extension String {
    fileprivate func prefixString(_ count: Int) -> String { String(prefix(count)) }
}
