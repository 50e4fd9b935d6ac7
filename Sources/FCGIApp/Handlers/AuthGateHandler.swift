import Auth

/// `GET /auth`: the check behind nginx `auth_request`. 204 with the user's identity in
/// `X-Auth-*` headers (nginx forwards them upstream with `auth_request_set`), 401 without a
/// valid token, 403 when the location's requirements are not met.
///
/// Requirements come per location from nginx (`fastcgi_param AUTH_REQUIRED_ROLES` /
/// `AUTH_REQUIRED_SCOPES`), so one responder guards many locations with different rules;
/// without them the configured `AUTH_REQUIRED_ROLES`/`AUTH_REQUIRED_SCOPES` apply.
struct AuthGateHandler: RequestHandler {
    let authenticator: any Authenticator
    let defaultPolicy: AuthorizationPolicy

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let roles = request.parameter("AUTH_REQUIRED_ROLES")
        let scopes = request.parameter("AUTH_REQUIRED_SCOPES")
        let policy = roles == nil && scopes == nil ? defaultPolicy : AuthorizationPolicy(roles: roles, scopes: scopes)
        let user = try context.authenticatedUser(of: request, with: authenticator, policy: policy)
        var headers: [(name: String, value: String)] = [("X-Auth-Username", Self.headerValue(user.username))]
        if let subject = user.subject { headers.append(("X-Auth-Subject", Self.headerValue(subject))) }
        if let email = user.email { headers.append(("X-Auth-Email", Self.headerValue(email))) }
        headers.append(("X-Auth-Roles", Self.headerValue(user.roles.joined(separator: ","))))
        headers.append(("Cache-Control", "no-store"))
        var response = HTTPResponse(status: .noContent, headers: headers)
        response.logSubject(of: user)
        return response
    }

    /// Claims come from the provider, but a header value must never carry a line break or
    /// other control characters (header injection); they are dropped.
    static func headerValue(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
    }
}
