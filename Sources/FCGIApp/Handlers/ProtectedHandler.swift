import Auth

/// `GET /protected`: the bearer token's user, in the seed's shape. `email` and `full_name`
/// are always present, `null` when the token has no such claim.
struct ProtectedHandler: RequestHandler {
    let authenticator: any Authenticator

    private struct UserInfo: Encodable {
        let preferredUsername: String
        let email: String?
        let fullName: String?

        enum CodingKeys: String, CodingKey {
            case preferredUsername = "preferred_username"
            case email
            case fullName = "full_name"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(preferredUsername, forKey: .preferredUsername)
            try container.encode(email, forKey: .email)
            try container.encode(fullName, forKey: .fullName)
        }
    }

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let user: AuthenticatedUser
        do {
            let token = try BearerCredentials.token(fromAuthorization: request.authorization)
            user = try authenticator.authenticate(token, using: context.client, now: context.now)
        } catch {
            throw .auth(error)
        }
        var response = HTTPResponse.json(
            UserInfo(preferredUsername: user.username, email: user.email, fullName: user.fullName),
            headers: [("Cache-Control", "no-store")])
        if let subject = user.subject {
            response.logMetadata["auth.sub"] = "\(subject)"
        }
        return response
    }
}
