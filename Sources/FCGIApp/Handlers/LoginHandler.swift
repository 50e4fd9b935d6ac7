import Auth

/// `POST /login`: the password grant at the provider, answered in the seed's shape
/// (`access_token`, then `token_type: "bearer"`, then the optional extras). A client's `DPoP`
/// proof for the token endpoint is passed on, and the tokens come back bound (`token_type: "DPoP"`).
struct LoginHandler: RequestHandler {
    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let fields = try FormFields.required(["username", "password"], from: request)
        let username = fields["username", default: ""]
        let password = fields["password", default: ""]
        let proof: String?
        switch DPoPForwarding.proof(of: request) {
        case .refused(let response): return response
        case .proof(let value): proof = value
        }
        let tokens: TokenSet
        do {
            tokens = try context.client.passwordGrant(username: username, password: password, dpopProof: proof)
        } catch {
            if let response = DPoPForwarding.refusal(error) { return response }
            throw .auth(error)
        }
        var response = HTTPResponse.tokens(tokens)
        response.logMetadata["auth.user"] = "\(username.prefix(64))"
        return response
    }
}

/// The `DPoP` header of `/login` and `/refresh`, passed on to the token endpoint unchanged.
enum DPoPForwarding {
    enum Outcome {
        case proof(String?)
        case refused(HTTPResponse)
    }

    /// The proof, nil without one; a repeated header or an oversized one is refused with 400.
    static func proof(of request: HTTPRequest) -> Outcome {
        guard let proof = request.parameter("HTTP_DPOP") else { return .proof(nil) }
        guard request.parameterCount("HTTP_DPOP") == 1, !proof.contains(","), proof.utf8.count <= DPoPProof.maximumBytes,
            UnverifiedJWS.isCompact(proof)
        else {
            var response = HTTPResponse.detail("Invalid DPoP proof", status: .badRequest)
            response.logMetadata["auth.error"] = "invalidDPoPProof: not one compact JWS"
            return .refused(response)
        }
        return .proof(proof)
    }

    /// The provider's refusal of the proof as a 400, nil for any other error.
    static func refusal(_ error: AuthError) -> HTTPResponse? {
        guard error.code == .invalidDPoPProof else { return nil }
        var response = HTTPResponse.detail("Invalid DPoP proof", status: .badRequest)
        response.logMetadata["auth.error"] = "\(error)"
        return response
    }
}
