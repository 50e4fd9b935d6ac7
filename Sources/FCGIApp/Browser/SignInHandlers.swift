import Auth
import FoundationEssentials

/// `GET /oauth2/start?rd=<where to return>`: starts the authorization code flow with PKCE
/// (RFC 7636, S256), `state` and `nonce`. The values the callback must see again are sealed in
/// a short-lived cookie; the browser goes to the provider's authorization endpoint.
struct SignInStartHandler: RequestHandler {
    let signIn: BrowserSignIn

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let query = Query(request.parameter("QUERY_STRING"))
        let target = query.value("rd") ?? "/"
        guard let returnTo = SignInRedirect.validate(target, allowedOrigins: signIn.settings.allowedRedirectOrigins) else {
            var response = HTTPResponse.detail("Invalid redirect target", status: .badRequest, headers: [("Cache-Control", "no-store")])
            response.logMetadata["signin.error"] = "rd refused"
            return response
        }
        let endpoint = try HandlerError.authenticating { () throws(AuthError) in
            guard let endpoint = try context.client.provider.metadata().authorizationEndpoint else {
                throw AuthError(.identityProviderInvalidResponse, "discovery has no authorization_endpoint")
            }
            return endpoint
        }
        let now = Int64(context.now.timeIntervalSince1970)
        let state = SignInState.new(returnTo: returnTo, now: now)
        let parameters = FormURLEncoding.encode([
            ("response_type", "code"), ("client_id", signIn.clientID), ("redirect_uri", signIn.settings.redirectURI),
            ("scope", signIn.settings.scope), ("state", state.state), ("nonce", state.nonce),
            ("code_challenge", SessionKeyring.pkceChallenge(state.codeVerifier)), ("code_challenge_method", "S256"),
        ])
        let location = endpoint + (endpoint.contains("?") ? "&" : "?") + String(decoding: parameters, as: UTF8.self)
        let cookie = Cookies.setCookie(
            signIn.signInCookieName(state: Substring(state.state)), state.sealed(with: signIn.settings.keyring),
            maxAge: BrowserSignIn.signInLifetime)
        return HTTPResponse(
            status: .found, headers: [("Location", location), ("Set-Cookie", cookie), ("Cache-Control", "no-store")])
    }
}

/// `GET /oauth2/callback?code=…&state=…`: the provider's answer. The state must match the
/// sealed sign-in cookie (CSRF, RFC 6749 §10.12), the code is exchanged with the PKCE verifier,
/// the ID token verified (signature, `iss`, `aud`, `azp`, `nonce`), the access token
/// authenticated like a bearer token; then the session cookie is set and the browser returns to
/// where it started.
struct SignInCallbackHandler: RequestHandler {
    let signIn: BrowserSignIn

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let query = Query(request.parameter("QUERY_STRING"))
        let cookies = Cookies.parse(request.parameter("HTTP_COOKIE"))
        guard let stateValue = query.single("state"), !stateValue.isEmpty else {
            return Self.refusal("Invalid or expired sign-in state", .badRequest, reason: "no state")
        }
        let cookieName = signIn.signInCookieName(state: Substring(stateValue))
        let clearState = ("Set-Cookie", Cookies.expire(cookieName))
        let now = Int64(context.now.timeIntervalSince1970)
        guard let sealed = cookies.first(where: { $0.name == cookieName })?.value,
            let state = SignInState.open(sealed, with: signIn.settings.keyring),
            ConstantTime.equal(state.state, stateValue), now - state.createdAt <= BrowserSignIn.signInLifetime,
            state.createdAt <= now + 60
        else {
            return Self.refusal("Invalid or expired sign-in state", .badRequest, reason: "state does not match a sign-in", clearState)
        }
        if let error = query.value("error") {
            var response = Self.refusal("Sign-in was not completed", .unauthorized, reason: "provider answered an error", clearState)
            response.logMetadata["idp.error"] = "\(Self.printable(error, limit: 64))"
            return response
        }
        guard let code = query.single("code"), !code.isEmpty, code.utf8.count <= 4096 else {
            return Self.refusal("Missing authorization code", .badRequest, reason: "no code", clearState)
        }
        do throws(AuthError) {
            // RFC 9207: when the provider names itself in the answer, it must be this issuer.
            if let issuer = query.value("iss") {
                let expected = try context.client.provider.metadata().issuer
                guard issuer == expected else { throw AuthError(.issuerMismatch, "authorization response iss") }
            }
            let tokens = try context.client.authorizationCodeGrant(
                code: code, redirectURI: signIn.settings.redirectURI, codeVerifier: state.codeVerifier)
            guard let idToken = tokens.idToken else { throw AuthError(.missingClaim, "token answer without id_token") }
            _ = try signIn.verifier.verifyIDToken(
                idToken, provider: context.client.provider, client: context.client, clientID: signIn.clientID, nonce: state.nonce,
                now: context.now)
            let session = try signIn.session(from: tokens, idToken: idToken, csrf: SessionKeyring.randomToken(bytes: 24), context: context)
            guard
                let setCookies = signIn.jar.setCookies(for: session, maxAge: signIn.cookieMaxAge(of: session, now: now), replacing: cookies)
            else {
                return Self.refusal("Sign-in failed", .unauthorized, reason: "session too large for its cookies", clearState)
            }
            var response = HTTPResponse(
                status: .found,
                headers: [("Location", state.returnTo), clearState] + setCookies.map { ("Set-Cookie", $0) } + [
                    ("Cache-Control", "no-store")
                ]
            )
            response.logSubject(of: session.user)
            return response
        } catch {
            guard error.isCallerError else { throw .auth(error) }
            var response = Self.refusal("Sign-in failed", .unauthorized, reason: "code exchange or token check failed", clearState)
            response.logMetadata["auth.error"] = "\(error)"
            return response
        }
    }

    static func refusal(_ detail: String, _ status: HTTPStatus, reason: String, _ headers: (name: String, value: String)...) -> HTTPResponse
    {
        var response = HTTPResponse.detail(detail, status: status, headers: headers + [("Cache-Control", "no-store")])
        response.logMetadata["signin.error"] = "\(reason)"
        return response
    }

    /// A provider-chosen value for the log: printable ASCII only, bounded.
    static func printable(_ text: String, limit: Int) -> String {
        String(text.unicodeScalars.prefix(limit).filter { $0.value >= 0x21 && $0.value < 0x7F }.map(Character.init))
    }
}

/// A query string's parameters (form-encoded).
struct Query {
    let pairs: [(String, String)]

    init(_ text: String?) {
        pairs = text.map { FormURLEncoding.decode(Array($0.utf8)) } ?? []
    }

    /// The first value of `name`.
    func value(_ name: String) -> String? {
        pairs.first { $0.0 == name }?.1
    }

    /// The value of `name` when it occurs exactly once (a repeated `state` or `code` is refused).
    func single(_ name: String) -> String? {
        let values = pairs.filter { $0.0 == name }
        return values.count == 1 ? values[0].1 : nil
    }
}
