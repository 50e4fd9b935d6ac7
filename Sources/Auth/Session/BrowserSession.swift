import FoundationEssentials

/// What a browser's session cookie holds: everything the gate needs to answer without the
/// provider while the access token lasts (who, which session, roles and scopes, until when),
/// the refresh token to renew it, and the ID token for the end-session request. Stateless:
/// any replica with the keys reads it; nothing is stored server-side.
///
/// Encoded as compact JSON with short member names (a cookie is at most 4 KB a chunk), then
/// sealed with `SessionKeyring` for the purpose `session`.
public struct BrowserSession: Codable, Sendable, Equatable {
    /// Format version; a cookie of another version is not a session.
    public var version: Int = 1
    public var issuer: String
    public var subject: String
    public var sessionID: String?
    public var username: String
    public var email: String?
    public var fullName: String?
    public var roles: [String]
    public var scopes: [String]
    /// The access token's `iat`, whole seconds: a subject-wide logout after it ends the session.
    public var issuedAt: Int64
    /// The access token's `exp`: until then the gate answers from the cookie alone.
    public var accessExpiresAt: Int64
    /// When the refresh token (Keycloak's SSO session idle time) runs out.
    public var refreshExpiresAt: Int64?
    public var refreshToken: String?
    /// For `id_token_hint` at sign-out.
    public var idToken: String?
    /// The value a sign-out form must post back (CSRF): random, known only to pages this
    /// site rendered for this session.
    public var csrf: String

    enum CodingKeys: String, CodingKey {
        case version = "v", issuer = "iss", subject = "sub", sessionID = "sid", username = "usr", email = "eml", fullName = "nam"
        case roles = "rol", scopes = "scp", issuedAt = "iat", accessExpiresAt = "exp", refreshExpiresAt = "rex", refreshToken = "rt"
        case idToken = "idt", csrf = "csrf"
    }

    public init(
        user: AuthenticatedUser, issuer: String, accessExpiresAt: Int64, refreshExpiresAt: Int64?, refreshToken: String?, idToken: String?,
        csrf: String
    ) {
        self.issuer = user.issuer ?? issuer
        self.subject = user.subject ?? user.username
        self.sessionID = user.sessionID
        self.username = user.username
        self.email = user.email
        self.fullName = user.fullName
        self.roles = user.roles
        self.scopes = user.scopes
        self.issuedAt = user.issuedAt ?? 0
        self.accessExpiresAt = accessExpiresAt
        self.refreshExpiresAt = refreshExpiresAt
        self.refreshToken = refreshToken
        self.idToken = idToken
        self.csrf = csrf
    }

    /// The session's user, as a bearer token's would be.
    public var user: AuthenticatedUser {
        AuthenticatedUser(
            subject: subject, username: username, email: email, fullName: fullName, roles: roles, scopes: scopes, sessionID: sessionID,
            carriesIdentity: true, issuer: issuer, issuedAt: issuedAt)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
    private static let decoder = JSONDecoder()

    /// Sealed for a cookie.
    public func sealed(with keyring: SessionKeyring) -> String {
        guard let json = try? Self.encoder.encode(self) else { preconditionFailure("a session always encodes") }
        return keyring.seal(Array(json), purpose: "session")
    }

    /// The session in `sealed`, or nil when the keyring cannot open it or it is not a session
    /// of this version.
    public static func open(_ sealed: Substring, with keyring: SessionKeyring) -> BrowserSession? {
        guard let json = keyring.open(sealed, purpose: "session"),
            let session = try? decoder.decode(BrowserSession.self, from: Data(json)), session.version == 1
        else { return nil }
        return session
    }
}

/// What the sign-in start remembers until the callback, in a short-lived cookie sealed for the
/// purpose `signin`: the values the callback must see again (state, nonce, PKCE verifier) and
/// where to send the browser afterwards.
public struct SignInState: Codable, Sendable, Equatable {
    public var state: String
    public var nonce: String
    public var codeVerifier: String
    public var returnTo: String
    public var createdAt: Int64

    enum CodingKeys: String, CodingKey {
        case state = "s", nonce = "n", codeVerifier = "v", returnTo = "rd", createdAt = "t"
    }

    public init(state: String, nonce: String, codeVerifier: String, returnTo: String, createdAt: Int64) {
        self.state = state
        self.nonce = nonce
        self.codeVerifier = codeVerifier
        self.returnTo = returnTo
        self.createdAt = createdAt
    }

    /// A new sign-in: 256-bit random state, nonce and verifier.
    public static func new(returnTo: String, now: Int64) -> SignInState {
        SignInState(
            state: SessionKeyring.randomToken(), nonce: SessionKeyring.randomToken(), codeVerifier: SessionKeyring.randomToken(),
            returnTo: returnTo, createdAt: now)
    }

    public func sealed(with keyring: SessionKeyring) -> String {
        guard let json = try? JSONEncoder().encode(self) else { preconditionFailure("a sign-in state always encodes") }
        return keyring.seal(Array(json), purpose: "signin")
    }

    public static func open(_ sealed: Substring, with keyring: SessionKeyring) -> SignInState? {
        guard let json = keyring.open(sealed, purpose: "signin") else { return nil }
        return try? JSONDecoder().decode(SignInState.self, from: Data(json))
    }
}
