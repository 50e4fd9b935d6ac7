import Auth

/// `GET /protected`: the bearer token's user, in the seed's shape. `email` and `full_name`
/// are always present, `null` when the token has no such claim.
struct ProtectedHandler: RequestHandler {
    let authenticator: any Authenticator

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let user: AuthenticatedUser
        do {
            let token = try BearerCredentials.token(fromAuthorization: request.authorization)
            user = try authenticator.authenticate(token, using: context.client, now: context.now)
        } catch {
            throw .auth(error)
        }
        var response = HTTPResponse.json(
            .object([
                ("preferred_username", .string(user.username)),
                ("email", .optional(user.email)),
                ("full_name", .optional(user.fullName)),
            ]),
            headers: [("Cache-Control", "no-store")])
        if let subject = user.subject {
            response.logMetadata["auth.sub"] = "\(subject)"
        }
        return response
    }
}
