/// A token endpoint success answer (RFC 6749 §5.1; Keycloak adds `refresh_expires_in`).
public struct TokenSet: Decodable, Sendable, Equatable {
    public let accessToken: String
    public let tokenType: String?
    public let expiresIn: Int?
    public let refreshToken: String?
    public let refreshExpiresIn: Int?
    public let scope: String?
    /// The ID token (OIDC Core §3.1.3.3) when the request's scope had `openid`.
    public let idToken: String?

    enum CodingKeys: String, CodingKey {
        case idToken = "id_token"
        case accessToken = "access_token"
        case tokenType = "token_type"
        case expiresIn = "expires_in"
        case refreshToken = "refresh_token"
        case refreshExpiresIn = "refresh_expires_in"
        case scope
    }
}

/// An OAuth error answer (RFC 6749 §5.2): `{"error","error_description"}`.
struct ProviderErrorBody: Decodable {
    let error: String
    let errorDescription: String?

    enum CodingKeys: String, CodingKey {
        case error
        case errorDescription = "error_description"
    }
}

/// The userinfo answer (OIDC Core §5.3.2), the claims used.
public struct UserinfoClaims: Decodable, Sendable, Equatable {
    public let sub: String?
    public let preferredUsername: String?
    public let email: String?
    public let name: String?

    enum CodingKeys: String, CodingKey {
        case sub, email, name
        case preferredUsername = "preferred_username"
    }
}
