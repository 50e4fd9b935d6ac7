import Auth

/// `POST /logout` (form `refresh_token`, optional bearer): ends the provider session through
/// its end-session endpoint and answers 204; the refresh token is dead afterwards.
///
/// Idempotent, as Keycloak's `LogoutEndpoint.logoutToken()` is: it checks the refresh token's
/// signature, type and client but not its expiry, ends the session only if it still exists,
/// and answers 204 either way. So a repeated logout answers 204, and only a refresh token that
/// is forged, of another type or another client's gets 401.
///
/// When an access token comes along it must be valid and belong to the same session (`sid`),
/// so a stolen refresh token cannot be paired with someone else's bearer. In the introspect
/// and userinfo modes the bearer dies with its session, so for a repeated logout a bearer the
/// provider no longer accepts passes when its `sid` is the refresh token's: refusing it would
/// make the second logout fail where Keycloak's succeeds, and it protects nothing (the refresh
/// token alone ends the session). In jwks mode access tokens already issued stay valid until
/// they expire (a signature cannot be revoked).
struct LogoutHandler: RequestHandler {
    let authenticator: any Authenticator

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let refreshToken = try FormFields.required(["refresh_token"], from: request)["refresh_token", default: ""]
        try HandlerError.authenticating { () throws(AuthError) in
            if request.authorization != nil {
                try checkBearer(of: request, belongsToSessionOf: refreshToken, context: context)
            }
            try context.client.logout(refreshToken: refreshToken)
        }
        return HTTPResponse(status: .noContent, headers: [("Cache-Control", "no-store")])
    }

    private func checkBearer(of request: HTTPRequest, belongsToSessionOf refreshToken: String, context: RequestContext) throws(AuthError) {
        let token = try BearerCredentials.token(fromAuthorization: request.authorization)
        let refreshSession = UnverifiedJWS.claims(of: refreshToken)?.sid
        let bearerSession: String?
        do {
            bearerSession = try authenticator.authenticate(token, using: context.client, now: context.now).sessionID
        } catch  where error.code == .tokenRejectedByProvider || error.code == .sessionRevoked {
            // Its session may have ended already (a repeated logout): only the same session passes.
            let claimed = UnverifiedJWS.claims(of: token)?.sid
            guard let claimed, claimed == refreshSession else { throw error }
            return
        }
        if let bearerSession, let refreshSession, bearerSession != refreshSession {
            throw AuthError(.wrongTokenType, "bearer token is from another session than the refresh token")
        }
    }
}
