import Auth

/// `POST /login`: the password grant at the provider, answered in the seed's shape
/// (`access_token`, then `token_type: "bearer"`, then the optional extras).
struct LoginHandler: RequestHandler {
    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let fields = try FormFields.required(["username", "password"], from: request)
        let username = fields["username", default: ""]
        let password = fields["password", default: ""]
        let tokens = try HandlerError.authenticating { () throws(AuthError) in
            try context.client.passwordGrant(username: username, password: password)
        }
        var response = HTTPResponse.tokens(tokens)
        response.logMetadata["auth.user"] = "\(username.prefix(64))"
        return response
    }
}
