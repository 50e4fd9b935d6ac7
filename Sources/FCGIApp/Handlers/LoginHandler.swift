import Auth

/// `POST /login`: the password grant at the provider, answered in the seed's shape
/// (`access_token`, then `token_type: "bearer"`, then the optional extras).
struct LoginHandler: RequestHandler {
    private struct LoginResponse: Encodable {
        let accessToken: String
        let tokenType = "bearer"
        let expiresIn: Int?
        let refreshToken: String?
        let refreshExpiresIn: Int?
        let scope: String?

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case tokenType = "token_type"
            case expiresIn = "expires_in"
            case refreshToken = "refresh_token"
            case refreshExpiresIn = "refresh_expires_in"
            case scope
        }
    }

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let fields = try FormFields.decode(request)
        // FastAPI treats an empty form value as missing.
        let username = fields["username"].flatMap { $0.isEmpty ? nil : $0 }
        let password = fields["password"].flatMap { $0.isEmpty ? nil : $0 }
        guard let username, let password else {
            throw .missingFields([username == nil ? "username" : nil, password == nil ? "password" : nil].compactMap { $0 })
        }
        let tokens: TokenSet
        do {
            tokens = try context.client.passwordGrant(username: username, password: password)
        } catch {
            throw .auth(error)
        }
        var response = HTTPResponse.json(
            LoginResponse(
                accessToken: tokens.accessToken, expiresIn: tokens.expiresIn, refreshToken: tokens.refreshToken,
                refreshExpiresIn: tokens.refreshExpiresIn, scope: tokens.scope),
            // RFC 6749 §5.1: token responses must not be cached.
            headers: [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
        response.logMetadata["auth.user"] = "\(username.prefix(64))"
        return response
    }
}
