import Auth

/// `GET /protected`: the bearer token's user, in the seed's shape plus `roles`. `email` and
/// `full_name` are always present, `null` when the token has no such claim. 403 when the
/// configured `AUTH_REQUIRED_ROLES`/`AUTH_REQUIRED_SCOPES` are not met; 401 for a lightweight
/// access token, which names no user to answer with. Bearer requests get the seed's exact
/// challenges; DPoP requests (`ResourceServer`) get DPoP ones.
struct ProtectedHandler: RequestHandler {
    let authenticator: any Authenticator
    let policy: AuthorizationPolicy
    let resourceServer: ResourceServer

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let access = try resourceServer.authenticate(
            request, with: authenticator, policy: policy, context: context, requiresIdentity: true, seedChallenge: true)
        let user = access.user
        var response = HTTPResponse.json(
            .object([
                ("preferred_username", .string(user.username)),
                ("email", .optional(user.email)),
                ("full_name", .optional(user.fullName)),
                ("roles", .array(user.roles.map(JSONValue.string))),
            ]),
            headers: [("Cache-Control", "no-store")] + access.headers)
        response.logSubject(of: user)
        return response
    }
}
