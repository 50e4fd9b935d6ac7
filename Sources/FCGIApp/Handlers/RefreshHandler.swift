import Auth

/// `POST /refresh` (form `refresh_token`): the refresh token grant at the provider, answered
/// in `/login`'s shape. A dead refresh token is 401.
struct RefreshHandler: RequestHandler {
    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let fields = try FormFields.required(["refresh_token"], from: request)
        let proof: String?
        switch DPoPForwarding.proof(of: request) {
        case .refused(let response): return response
        case .proof(let value): proof = value
        }
        do {
            return .tokens(try context.client.refreshGrant(refreshToken: fields["refresh_token", default: ""], dpopProof: proof))
        } catch {
            if let response = DPoPForwarding.refusal(error) { return response }
            throw .auth(error)
        }
    }
}
