import Auth

/// `GET /auth`: the check behind nginx `auth_request`. 204 with the user's identity in
/// `X-Auth-*` headers (nginx forwards them upstream with `auth_request_set`), 401 without a
/// valid token or session, 403 when the location's requirements are not met.
///
/// Requirements come per location from nginx (`fastcgi_param AUTH_REQUIRED_ROLES` /
/// `AUTH_REQUIRED_SCOPES`), so one responder guards many locations with different rules;
/// without them the configured `AUTH_REQUIRED_ROLES`/`AUTH_REQUIRED_SCOPES` apply.
///
/// With browser sign-in on, a request without `Authorization` may carry the session cookie
/// instead. When its access token has expired the session is renewed with its refresh token,
/// and the new cookie comes back in `X-Auth-Set-Cookie-0` … `-3` (nginx copies them with
/// `auth_request_set` + `add_header Set-Cookie`); an unreadable, logged-out or ended session
/// gets 401 with those headers deleting it. A 401 for a browser's page request (no
/// `Authorization`, an `Accept` with `text/html`, GET or HEAD) also carries
/// `X-Auth-Redirect: /oauth2/start?rd=<the request's URI>`, which the example nginx
/// configuration turns into a redirect; API clients keep their JSON 401.
struct AuthGateHandler: RequestHandler {
    let authenticator: any Authenticator
    let defaultPolicy: AuthorizationPolicy
    let resourceServer: ResourceServer
    var signIn: BrowserSignIn? = nil

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let roles = request.parameter("AUTH_REQUIRED_ROLES")
        let scopes = request.parameter("AUTH_REQUIRED_SCOPES")
        let policy = roles == nil && scopes == nil ? defaultPolicy : AuthorizationPolicy(roles: roles, scopes: scopes)
        if request.authorization == nil, let signIn {
            let cookies = Cookies.parse(request.parameter("HTTP_COOKIE"))
            if let outcome = try signIn.authenticate(cookies: cookies, context: context) {
                switch outcome {
                case .success(let (user, setCookies)):
                    do {
                        try policy.check(user)
                    } catch {
                        var response = HTTPResponse(error: .auth(error))
                        response.logMetadata["auth.error"] = "\(error)"
                        response.headers += Self.cookieHeaders(setCookies)
                        return response
                    }
                    var response = identityResponse(for: user)
                    response.headers += Self.cookieHeaders(setCookies)
                    response.logMetadata["auth.via"] = "session"
                    if !setCookies.isEmpty { response.logMetadata["session.renewed"] = "true" }
                    return response
                case .failure(let refusal):
                    var response = HTTPResponse(error: .challenged(AuthError(.missingBearerToken), resourceServer.challenge(for: request)))
                    response.headers += Self.cookieHeaders(signIn.jar.clearCookies(cookies))
                    response.logMetadata["session.refused"] = "\(refusal)"
                    addSignInRedirect(to: &response, request: request)
                    return response
                }
            }
        }
        do {
            let access = try resourceServer.authenticate(request, with: authenticator, policy: policy, context: context)
            var response = identityResponse(for: access.user)
            response.headers += access.headers
            return response
        } catch {
            guard signIn != nil, case .challenged(let authError, _) = error, authError.code == .missingBearerToken else { throw error }
            var response = HTTPResponse(error: error)
            addSignInRedirect(to: &response, request: request)
            return response
        }
    }

    private func identityResponse(for user: AuthenticatedUser) -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("X-Auth-Username", Self.headerValue(user.username))]
        if let subject = user.subject { headers.append(("X-Auth-Subject", Self.headerValue(subject))) }
        if let email = user.email { headers.append(("X-Auth-Email", Self.headerValue(email))) }
        headers.append(("X-Auth-Roles", Self.headerValue(user.roles.joined(separator: ","))))
        headers.append(("Cache-Control", "no-store"))
        var response = HTTPResponse(status: .noContent, headers: headers)
        response.logSubject(of: user)
        return response
    }

    /// `Set-Cookie` values as the numbered headers nginx copies (`SessionCookieJar` writes at
    /// most `maximumChunks` chunks; deletions of a stale layout use the remaining slots).
    static func cookieHeaders(_ values: [String]) -> [(name: String, value: String)] {
        values.prefix(Self.cookieSlots).enumerated().map { ("X-Auth-Set-Cookie-\($0.offset)", $0.element) }
    }

    /// How many `X-Auth-Set-Cookie-N` headers the nginx configuration copies.
    static let cookieSlots = 6

    /// Adds `X-Auth-Redirect` for a browser's page request, so nginx can send it to sign in.
    private func addSignInRedirect(to response: inout HTTPResponse, request: HTTPRequest) {
        guard Self.isBrowserNavigation(request), let uri = request.parameter("REQUEST_URI"),
            SignInRedirect.validate(uri, allowedOrigins: []) != nil
        else { return }
        let query = String(decoding: FormURLEncoding.encode([("rd", uri)]), as: UTF8.self)
        response.headers.append(("X-Auth-Redirect", "/oauth2/start?\(query)"))
    }

    /// A page load by a browser: no credentials of its own, GET or HEAD (nginx passes the
    /// original method as `AUTH_ORIGINAL_METHOD`), and an `Accept` that asks for HTML.
    static func isBrowserNavigation(_ request: HTTPRequest) -> Bool {
        guard request.authorization == nil else { return false }
        let method = request.parameter("AUTH_ORIGINAL_METHOD")?.uppercased() ?? "GET"
        guard method == "GET" || method == "HEAD" else { return false }
        guard let accept = request.parameter("HTTP_ACCEPT")?.lowercased() else { return false }
        return accept.contains("text/html")
    }

    /// Claims come from the provider, but a header value must never carry a line break or
    /// other control characters (header injection); they are dropped.
    static func headerValue(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
    }
}
