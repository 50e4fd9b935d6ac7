import Auth

/// `POST /login`: the password grant at the provider, answered in the seed's shape
/// (`access_token`, then `token_type: "bearer"`, then the optional extras).
struct LoginHandler: RequestHandler {
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
        // The seed's two fields first, then the extras Keycloak provides (absent ones left out).
        var members: [(String, JSONValue)] = [("access_token", .string(tokens.accessToken)), ("token_type", "bearer")]
        if let expiresIn = tokens.expiresIn { members.append(("expires_in", .integer(expiresIn))) }
        if let refreshToken = tokens.refreshToken { members.append(("refresh_token", .string(refreshToken))) }
        if let refreshExpiresIn = tokens.refreshExpiresIn { members.append(("refresh_expires_in", .integer(refreshExpiresIn))) }
        if let scope = tokens.scope { members.append(("scope", .string(scope))) }
        // RFC 6749 §5.1: token responses must not be cached.
        var response = HTTPResponse.json(.object(members), headers: [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
        response.logMetadata["auth.user"] = "\(username.prefix(64))"
        return response
    }
}
