import Auth

/// `POST /refresh` (form `refresh_token`): the refresh token grant at the provider, answered
/// in `/login`'s shape. A dead refresh token is 401.
struct RefreshHandler: RequestHandler {
    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let fields = try FormFields.required(["refresh_token"], from: request)
        return .tokens(
            try HandlerError.authenticating { () throws(AuthError) in
                try context.client.refreshGrant(refreshToken: fields["refresh_token", default: ""])
            })
    }
}
