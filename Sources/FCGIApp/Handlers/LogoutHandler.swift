import Auth

/// `POST /logout` (form `refresh_token`, optional bearer): ends the provider session through
/// its end-session endpoint and answers 204; the refresh token is dead afterwards.
///
/// When an access token comes along it must be valid and belong to the same session (`sid`),
/// so a stolen refresh token cannot be paired with someone else's bearer. In jwks mode access
/// tokens already issued stay valid until they expire (a signature cannot be revoked); the
/// introspect and userinfo modes refuse them at once.
struct LogoutHandler: RequestHandler {
    let authenticator: any Authenticator

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let refreshToken = try FormFields.required(["refresh_token"], from: request)["refresh_token", default: ""]
        do throws(AuthError) {
            if request.authorization != nil {
                let token = try BearerCredentials.token(fromAuthorization: request.authorization)
                let user = try authenticator.authenticate(token, using: context.client, now: context.now)
                let refreshSession = UserinfoAuthenticator.unverifiedPayloadClaims(of: refreshToken)?.sid
                if let session = user.sessionID, let refreshSession, session != refreshSession {
                    throw AuthError(.wrongTokenType, "bearer token is from another session than the refresh token")
                }
            }
            try context.client.logout(refreshToken: refreshToken)
        } catch {
            throw .auth(error)
        }
        return HTTPResponse(status: .noContent, headers: [("Cache-Control", "no-store")])
    }
}
