import Auth
import FoundationEssentials

/// Everything the browser sign-in's handlers and the gate share: the settings, the cookie jar,
/// the verifier for ID tokens, the authenticator for the access tokens it receives (the same
/// strategy and revocation list as bearer tokens), and the session's life cycle.
struct BrowserSignIn: Sendable {
    let settings: BrowserSignInSettings
    let jar: SessionCookieJar
    /// The configured strategy behind the revocation check.
    let authenticator: RevocationCheckingAuthenticator
    let verifier: JWTVerifier
    let clientID: String
    /// The users of session cookies already opened, by the SHA-256 of the sealed value, until
    /// their access token expires (`AUTH_TOKEN_CACHE_SIZE` entries; nil when 0). A browser
    /// sends the same cookie with every request, and opening it (base64url, AES-GCM, JSON)
    /// costs more than the rest of the check. Only a value that opened is stored, so a hit is
    /// the same authenticated bytes; the revocation check still runs on every hit.
    let openedSessions: TokenCache<AuthenticatedUser>?

    /// How long a sign-in may take from `/oauth2/start` to the callback.
    static let signInLifetime: Int64 = 600

    init(
        settings: BrowserSignInSettings, authenticator: RevocationCheckingAuthenticator, verifier: JWTVerifier, clientID: String,
        openedSessions: TokenCache<AuthenticatedUser>? = nil
    ) {
        self.settings = settings
        self.openedSessions = openedSessions
        self.jar = SessionCookieJar(name: settings.cookieName, keyring: settings.keyring)
        self.authenticator = authenticator
        self.verifier = verifier
        self.clientID = clientID
    }

    /// The cookie holding the sign-in state for `state`: named after the state's start, so
    /// sign-ins in several tabs do not overwrite each other.
    func signInCookieName(state: Substring) -> String {
        "\(settings.cookieName)-signin-\(state.prefix(16))"
    }

    /// The session a token set describes: its access token authenticated like a bearer token
    /// (signature, claims, revocations), its lifetimes, refresh and ID tokens.
    func session(from tokens: TokenSet, idToken: String?, csrf: String, context: RequestContext) throws(AuthError) -> BrowserSession {
        let user = try authenticator.authenticate(tokens.accessToken, using: context.client, now: context.now)
        let now = Int64(context.now.timeIntervalSince1970)
        let issuer = (try? context.client.provider.discovery().metadata.issuer) ?? context.client.provider.settings.label
        return BrowserSession(
            user: user, issuer: issuer, accessExpiresAt: now + Int64(max(1, tokens.expiresIn ?? 60)),
            refreshExpiresAt: tokens.refreshExpiresIn.flatMap { $0 > 0 ? now + Int64($0) : nil },
            refreshToken: tokens.refreshToken, idToken: idToken ?? tokens.idToken, csrf: csrf)
    }

    /// How long the session cookie lives: as long as the refresh token, when known.
    func cookieMaxAge(of session: BrowserSession, now: Int64) -> Int64? {
        session.refreshExpiresAt.map { $0 - now }
    }

    /// Why a session cookie was not accepted (logged; the browser is sent to sign in again).
    enum Refusal: Error {
        /// Not readable with any key: altered, truncated, a chunk missing, an old key.
        case unreadable
        /// Its session or subject was logged out (back-channel logout).
        case revoked
        /// The refresh token ran out or the provider refused it.
        case ended(String)
    }

    /// The user of the request's session cookie, renewed through the refresh token when its
    /// access token has expired (then with the new cookie's `Set-Cookie` values). Nil when the
    /// request has no session cookie. Provider failures are thrown as `.auth` (the session is
    /// kept: 503, not a sign-out).
    func authenticate(
        cookies: [(name: Substring, value: Substring)], context: RequestContext
    ) throws(HandlerError) -> Result<(user: AuthenticatedUser, setCookies: [String]), Refusal>? {
        guard let sealed = jar.sealedValue(in: cookies) else {
            // Chunks without their first (`_1` but no `_0`): a broken session, to be deleted.
            return jar.isPresent(in: cookies) ? .failure(.unreadable) : nil
        }
        let seconds = context.now.timeIntervalSince1970
        let cacheKey = openedSessions.map { _ in TokenDigest(namespace: "session", token: sealed) }
        if let cacheKey, let user = openedSessions?.value(for: cacheKey, now: seconds) {
            do { try authenticator.check(user, now: context.now) } catch { return .failure(.revoked) }
            return .success((user, []))
        }
        guard let session = BrowserSession.open(sealed, with: settings.keyring) else { return .failure(.unreadable) }
        let user = session.user
        do { try authenticator.check(user, now: context.now) } catch { return .failure(.revoked) }
        let now = Int64(seconds)
        if now < session.accessExpiresAt {
            if let cacheKey {
                openedSessions?.store(.init(value: user, expiresAt: Double(session.accessExpiresAt)), for: cacheKey, now: seconds)
            }
            return .success((user, []))
        }
        guard let refreshToken = session.refreshToken else { return .failure(.ended("no refresh token")) }
        if let end = session.refreshExpiresAt, now >= end { return .failure(.ended("refresh token expired")) }
        let renewed: BrowserSession
        do {
            let tokens = try context.client.refreshGrant(refreshToken: refreshToken)
            renewed = try self.session(from: tokens, idToken: tokens.idToken ?? session.idToken, csrf: session.csrf, context: context)
        } catch {
            switch error.code {
            case .invalidRefreshToken: return .failure(.ended("refresh refused by the provider"))
            case .sessionRevoked: return .failure(.revoked)
            default:
                if error.isCallerError { return .failure(.ended("refreshed access token refused: \(error)")) }
                throw .auth(error)
            }
        }
        guard let setCookies = jar.setCookies(for: renewed, maxAge: cookieMaxAge(of: renewed, now: now), replacing: cookies) else {
            return .failure(.ended("renewed session too large for its cookies"))
        }
        return .success((renewed.user, setCookies))
    }
}
