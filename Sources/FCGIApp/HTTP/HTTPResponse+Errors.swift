import Auth

/// The single place where errors become HTTP statuses, headers and bodies
/// (`seed-contract.md`). Bodies never carry the error's context: that goes to the log.
extension HTTPResponse {
    private struct Detail: Encodable {
        let detail: String
    }

    /// FastAPI's validation error entry.
    private struct ValidationIssue: Encodable {
        let type = "missing"
        let loc: [String]
        let msg = "Field required"

        enum CodingKeys: String, CodingKey { case type, loc, msg, input }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(type, forKey: .type)
            try container.encode(loc, forKey: .loc)
            try container.encode(msg, forKey: .msg)
            try container.encodeNil(forKey: .input)
        }
    }

    private struct ValidationDetail: Encodable {
        let detail: [ValidationIssue]
    }

    init(error: HandlerError) {
        switch error {
        case .auth(let error):
            self = Self.response(for: error)
        case .missingFields(let fields):
            self = .json(
                ValidationDetail(detail: fields.map { ValidationIssue(loc: ["body", $0]) }),
                status: .unprocessableContent)
        case .malformedBody:
            self = .json(Detail(detail: "There was an error parsing the body"), status: .badRequest)
        case .notFound:
            self = .json(Detail(detail: "Not Found"), status: .notFound)
        case .methodNotAllowed(let allowed):
            self = .json(Detail(detail: "Method Not Allowed"), status: .methodNotAllowed, headers: [("Allow", allowed.joined(separator: ", "))])
        case .bodyTooLarge(let limit):
            self = .json(Detail(detail: "Request body too large (limit \(limit) bytes)"), status: .contentTooLarge)
        }
    }

    private static func response(for error: AuthError) -> HTTPResponse {
        switch error.code {
        case .missingBearerToken:
            // RFC 6750 §3: no error code when the request carried no credentials.
            return .json(Detail(detail: "Not authenticated"), status: .unauthorized, headers: [("WWW-Authenticate", "Bearer")])
        case .malformedToken, .tokenTooLarge, .unsupportedAlgorithm, .unknownKeyID, .signatureInvalid,
            .tokenExpired, .tokenNotYetValid, .issuerMismatch, .audienceMismatch, .wrongTokenType,
            .missingClaim, .tokenRejectedByProvider:
            return .json(
                Detail(detail: "Could not validate credentials"), status: .unauthorized,
                headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        case .invalidCredentials:
            return .json(Detail(detail: "Invalid username or password"), status: .unauthorized)
        case .identityProviderUnavailable:
            return .json(Detail(detail: "Identity provider unavailable"), status: .serviceUnavailable, headers: [("Retry-After", "5")])
        case .identityProviderBusy:
            return .json(Detail(detail: "Identity provider unavailable"), status: .serviceUnavailable, headers: [("Retry-After", "1")])
        case .identityProviderRejectedClient:
            return .json(Detail(detail: "Identity provider rejected this service's client credentials"), status: .badGateway)
        case .identityProviderError:
            return .json(Detail(detail: "Identity provider error"), status: .badGateway)
        case .identityProviderInvalidResponse:
            return .json(Detail(detail: "Identity provider returned an invalid response"), status: .badGateway)
        }
    }
}
