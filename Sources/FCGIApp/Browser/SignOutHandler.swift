import Auth
import FoundationEssentials

/// `/oauth2/sign_out`. `GET` changes nothing: with a session it shows a page whose form posts
/// the session's CSRF value back (a cross-site page cannot read it); without one it clears
/// any stale cookie and goes home. `POST` with the right CSRF value clears the session cookie
/// and sends the browser to the provider's end-session endpoint (`id_token_hint`,
/// `post_logout_redirect_uri`, `client_id`), which ends the provider session and, through the
/// back-channel logout, every replica's acceptance of it. A `POST` with a wrong value is 403.
struct SignOutHandler: RequestHandler {
    let signIn: BrowserSignIn

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let cookies = Cookies.parse(request.parameter("HTTP_COOKIE"))
        let session = signIn.jar.sealedValue(in: cookies).flatMap { BrowserSession.open($0, with: signIn.settings.keyring) }
        let clear = signIn.jar.clearCookies(cookies).map { (name: "Set-Cookie", value: $0) }
        guard let session else {
            return HTTPResponse(status: .seeOther, headers: [("Location", "/")] + clear + [("Cache-Control", "no-store")])
        }
        guard request.method == "POST" else {
            return HTTPResponse(
                status: .ok, headers: [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")],
                body: Array(Self.page(csrf: session.csrf, username: session.username).utf8))
        }
        let fields = try FormFields.decode(request)
        guard let csrf = fields["csrf"], ConstantTime.equal(csrf, session.csrf) else {
            var response = HTTPResponse.detail("Invalid sign-out request", status: .forbidden, headers: [("Cache-Control", "no-store")])
            response.logMetadata["signin.error"] = "sign-out without the session's CSRF value"
            return response
        }
        let endpoint = try HandlerError.authenticating { () throws(AuthError) in try context.client.provider.metadata().endSessionEndpoint }
        var response: HTTPResponse
        if let endpoint {
            var parameters = [("client_id", signIn.clientID), ("post_logout_redirect_uri", signIn.settings.postLogoutRedirectURI)]
            if let idToken = session.idToken { parameters.append(("id_token_hint", idToken)) }
            let query = String(decoding: FormURLEncoding.encode(parameters), as: UTF8.self)
            response = HTTPResponse(
                status: .seeOther,
                headers: [("Location", endpoint + (endpoint.contains("?") ? "&" : "?") + query)] + clear + [("Cache-Control", "no-store")])
        } else {
            response = HTTPResponse(
                status: .seeOther, headers: [("Location", signIn.settings.postLogoutRedirectURI)] + clear + [("Cache-Control", "no-store")])
        }
        response.logSubject(of: session.user)
        return response
    }

    /// The confirmation page: no script (the site's CSP allows none inline), one form.
    static func page(csrf: String, username: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>Sign out</title>
        <meta name="viewport" content="width=device-width, initial-scale=1"></head>
        <body><main><h1>Sign out</h1><p>Signed in as <span id="username">\(htmlEscaped(username))</span>.</p>
        <form id="sign-out" method="post" action="/oauth2/sign_out">
        <input type="hidden" name="csrf" value="\(htmlEscaped(csrf))">
        <button type="submit" id="sign-out-button">Sign out</button></form></main></body></html>

        """
    }

    static func htmlEscaped(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
