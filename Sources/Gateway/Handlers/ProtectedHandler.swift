import Auth

/// `GET /protected`: the bearer token's user, in the seed's shape plus `roles`. `email` and
/// `full_name` are always present, `null` when the token has no such claim. 403 when the
/// configured `AUTH_REQUIRED_ROLES`/`AUTH_REQUIRED_SCOPES` are not met.
struct ProtectedHandler: RequestHandler {
    let authenticator: any Authenticator
    let policy: AuthorizationPolicy

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let user: AuthenticatedUser
        do throws(AuthError) {
            let token = try BearerCredentials.token(fromAuthorization: request.authorization)
            user = try authenticator.authenticate(token, using: context.client, now: context.now)
            // A lightweight access token names no user: answering with nulls would hide why.
            guard user.carriesIdentity else {
                throw AuthError(.noIdentityClaims, AuthenticatedUser.lightweightHint)
            }
            try policy.check(user)
        } catch {
            throw .auth(error)
        }
        var response = HTTPResponse.json(
            .object([
                ("preferred_username", .string(user.username)),
                ("email", .optional(user.email)),
                ("full_name", .optional(user.fullName)),
                ("roles", .array(user.roles.map(JSONValue.string))),
            ]),
            headers: [("Cache-Control", "no-store")])
        if let subject = user.subject {
            response.logMetadata["auth.sub"] = "\(subject)"
        }
        return response
    }
}
