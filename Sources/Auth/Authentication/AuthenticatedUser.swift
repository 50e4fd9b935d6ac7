/// Who a valid bearer token belongs to: what `/protected` returns.
public struct AuthenticatedUser: Sendable, Equatable {
    /// `sub`, for logs.
    public let subject: String?
    /// `preferred_username`, or `sub` when the provider omits it.
    public let username: String
    /// `email`, when the user has one.
    public let email: String?
    /// `name` (Keycloak builds it from first and last name), when set.
    public let fullName: String?

    public init(subject: String?, username: String, email: String?, fullName: String?) {
        self.subject = subject
        self.username = username
        self.email = email
        self.fullName = fullName
    }
}
