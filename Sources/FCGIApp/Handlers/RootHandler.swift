/// `GET /`: the seed's welcome message, byte for byte.
struct RootHandler: RequestHandler {
    private static let response = HTTPResponse.json(
        .object([
            (
                "message",
                "Welcome to the Keycloak authentication system. Use the /login endpoint to authenticate and /protected to access the protected resource."
            ),
            ("documentation", "/docs"),
        ]))

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        Self.response
    }
}
