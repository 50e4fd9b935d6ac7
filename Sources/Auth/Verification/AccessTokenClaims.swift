/// The claims of a Keycloak access token that this product reads (RFC 7519 §4.1 and
/// Keycloak's own). Every member is optional here; the verifier decides what is required.
public struct AccessTokenClaims: Decodable, Sendable, Equatable {
    /// Realm or client roles as Keycloak nests them: `{"roles": [...]}`.
    public struct Roles: Decodable, Sendable, Equatable {
        public let roles: [String]?
    }

    public let iss: String?
    public let sub: String?
    public let exp: Double?
    public let nbf: Double?
    public let iat: Double?
    /// Keycloak's token type: `Bearer` for access tokens, `ID` and `Refresh` otherwise.
    public let typ: String?
    public let azp: String?
    public let aud: Audience?
    public let scope: String?
    /// Keycloak's session id.
    public let sid: String?
    public let preferredUsername: String?
    public let email: String?
    public let name: String?
    public let givenName: String?
    public let familyName: String?
    public let realmAccess: Roles?
    public let resourceAccess: [String: Roles]?
    /// OIDC Core §2: the authentication request's `nonce`. Keycloak 24+ puts it in ID tokens
    /// only; from a provider whose ID tokens have no `typ`, it marks an ID token.
    public let nonce: String?
    /// OIDC Core §3.1.3.6: the access token's hash, an ID-token claim only.
    public let atHash: String?
    /// RFC 7800 `cnf`: what the token is bound to (DPoP key or client certificate).
    public let cnf: Confirmation?
    /// Keycloak's `allowed-origins`: the client's web origins (`*` allows any).
    public let allowedOrigins: [String]?

    enum CodingKeys: String, CodingKey {
        case iss, sub, exp, nbf, iat, typ, azp, aud, scope, email, name, sid, nonce
        case atHash = "at_hash"
        case cnf
        case allowedOrigins = "allowed-origins"
        case preferredUsername = "preferred_username"
        case givenName = "given_name"
        case familyName = "family_name"
        case realmAccess = "realm_access"
        case resourceAccess = "resource_access"
    }

    /// RFC 7800 §3.1 `cnf` as Keycloak writes it (`AccessToken.Confirmation`): `jkt` for a
    /// DPoP-bound token (RFC 9449 §6.1), `x5t#S256` for a certificate-bound one (RFC 8705 §3.1).
    /// Keycloak's Jackson mapper leaves null members out; a `null` member is read as absent.
    public struct Confirmation: Decodable, Sendable, Equatable, Hashable {
        public let jkt: String?
        public let x5tS256: String?

        public init(jkt: String? = nil, x5tS256: String? = nil) {
            self.jkt = jkt
            self.x5tS256 = x5tS256
        }

        enum CodingKeys: String, CodingKey {
            case jkt
            case x5tS256 = "x5t#S256"
        }

        /// Whether the token is bound to anything.
        public var isEmpty: Bool { jkt == nil && x5tS256 == nil }
    }

    /// `scope` split on spaces (RFC 6749 §3.3).
    public var scopes: [String] {
        scope.map { $0.split(separator: " ").map(String.init) } ?? []
    }

    /// RFC 7519 §4.1.3: a single string or an array of strings.
    public struct Audience: Decodable, Sendable, Equatable {
        public let values: [String]

        public init(_ values: [String]) {
            self.values = values
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let single = try? container.decode(String.self) {
                values = [single]
            } else {
                values = try container.decode([String].self)
            }
        }
    }
}
