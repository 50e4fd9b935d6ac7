import Auth

/// The single place where errors become HTTP statuses, headers and bodies
/// (`seed-contract.md`). Bodies never carry the error's context: that goes to the log.
extension HTTPResponse {
    init(error: HandlerError) {
        switch error {
        case .auth(let error):
            self = Self.response(for: error)
        case .challenged(let error, let challenge):
            self = Self.response(for: error)
            guard status == .unauthorized else { return }
            headers.removeAll { $0.name == "WWW-Authenticate" }
            headers.append(("WWW-Authenticate", challenge.header(for: error)))
            if let nonce = challenge.nonce { headers.append(("DPoP-Nonce", nonce)) }
        case .missingFields(let fields):
            // FastAPI's RequestValidationError body: one entry per missing field.
            let issues = fields.map { field -> JSONValue in
                .object([
                    ("type", "missing"), ("loc", .array(["body", .string(field)])), ("msg", "Field required"), ("input", .null),
                ])
            }
            self = .json(.object([("detail", .array(issues))]), status: .unprocessableContent)
        case .malformedBody:
            self = .detail("There was an error parsing the body", status: .badRequest)
        case .notFound:
            self = .detail("Not Found", status: .notFound)
        case .methodNotAllowed(let allowed):
            self = .detail("Method Not Allowed", status: .methodNotAllowed, headers: [("Allow", allowed.joined(separator: ", "))])
        case .bodyTooLarge(let limit):
            self = .detail("Request body too large (limit \(limit) bytes)", status: .contentTooLarge)
        }
    }

    private static func response(for error: AuthError) -> HTTPResponse {
        switch error.code {
        case .missingBearerToken:
            // RFC 6750 §3: no error code when the request carried no credentials.
            return .detail("Not authenticated", status: .unauthorized, headers: [("WWW-Authenticate", "Bearer")])
        case .malformedToken, .tokenTooLarge, .unsupportedAlgorithm, .unknownKeyID, .signatureInvalid,
            .tokenExpired, .tokenNotYetValid, .issuerMismatch, .audienceMismatch, .wrongTokenType,
            .missingClaim, .tokenRejectedByProvider, .sessionRevoked, .nonceMismatch, .tokenNotDPoPBound,
            .dpopBoundTokenAsBearer, .dpopRequired, .certificateMismatch:
            return .detail(
                "Could not validate credentials", status: .unauthorized,
                headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")])
        case .noIdentityClaims:
            // A valid token, but a lightweight one: say why, so the client's developer is not
            // left guessing (RFC 6750 §3: error_description is for developers).
            return .detail(
                "Could not validate credentials", status: .unauthorized,
                headers: [("WWW-Authenticate", Challenge(scheme: .bearer).header(for: error))])
        case .invalidCredentials:
            return .detail("Invalid username or password", status: .unauthorized)
        case .invalidRefreshToken:
            return .detail("Invalid or expired refresh token", status: .unauthorized)
        case .insufficientPermissions:
            return .detail("Not enough permissions", status: .forbidden)
        case .originNotAllowed:
            return .detail("Origin not allowed", status: .forbidden)
        case .invalidDPoPProof:
            return .detail(
                "Invalid DPoP proof", status: .unauthorized,
                headers: [("WWW-Authenticate", Challenge(scheme: .dpop).header(for: error))])
        case .dpopNonceRequired:
            return .detail(
                "DPoP nonce required", status: .unauthorized,
                headers: [("WWW-Authenticate", Challenge(scheme: .dpop).header(for: error))])
        case .identityProviderUnavailable:
            return .detail("Identity provider unavailable", status: .serviceUnavailable, headers: [("Retry-After", "5")])
        case .identityProviderBusy:
            return .detail("Identity provider unavailable", status: .serviceUnavailable, headers: [("Retry-After", "1")])
        case .identityProviderRejectedClient:
            return .detail("Identity provider rejected this service's client credentials", status: .badGateway)
        case .identityProviderError:
            return .detail("Identity provider error", status: .badGateway)
        case .identityProviderInvalidResponse:
            return .detail("Identity provider returned an invalid response", status: .badGateway)
        }
    }
}
