import Auth
import Testing

@testable import FCGIApp

/// `HTTPResponse(error:)`: the one place errors become statuses.
@Suite("HTTPResponse+Errors")
struct HTTPResponseErrorsTests {
    static let invalidToken = (401, #"{"detail":"Could not validate credentials"}"#, Optional(#"Bearer error="invalid_token""#))

    static let expected: [AuthError.Code: (status: Int, body: String, wwwAuthenticate: String?)] = [
        .missingBearerToken: (401, #"{"detail":"Not authenticated"}"#, "Bearer"),
        .malformedToken: invalidToken, .tokenTooLarge: invalidToken, .unsupportedAlgorithm: invalidToken,
        .unknownKeyID: invalidToken, .signatureInvalid: invalidToken, .tokenExpired: invalidToken,
        .tokenNotYetValid: invalidToken, .issuerMismatch: invalidToken, .audienceMismatch: invalidToken,
        .wrongTokenType: invalidToken, .missingClaim: invalidToken, .tokenRejectedByProvider: invalidToken, .sessionRevoked: invalidToken,
        .nonceMismatch: invalidToken, .tokenNotDPoPBound: invalidToken, .dpopBoundTokenAsBearer: invalidToken,
        .dpopRequired: invalidToken, .certificateMismatch: invalidToken,
        // A DPoP refusal's context is its error_description: fixed texts, never a secret.
        .invalidDPoPProof: (
            401, #"{"detail":"Invalid DPoP proof"}"#,
            #"DPoP error="invalid_dpop_proof", error_description="context s3cret-context kid=abc""#
        ),
        .dpopNonceRequired: (
            401, #"{"detail":"DPoP nonce required"}"#,
            #"DPoP error="use_dpop_nonce", error_description="a nonce from the DPoP-Nonce header is required""#
        ),
        .originNotAllowed: (403, #"{"detail":"Origin not allowed"}"#, nil),
        .noIdentityClaims: (
            401, #"{"detail":"Could not validate credentials"}"#,
            #"Bearer error="invalid_token", error_description="The access token carries no identity claims (a lightweight access token)""#
        ),
        .invalidCredentials: (401, #"{"detail":"Invalid username or password"}"#, nil),
        .invalidRefreshToken: (401, #"{"detail":"Invalid or expired refresh token"}"#, nil),
        .insufficientPermissions: (403, #"{"detail":"Not enough permissions"}"#, nil),
        .identityProviderUnavailable: (503, #"{"detail":"Identity provider unavailable"}"#, nil),
        .identityProviderBusy: (503, #"{"detail":"Identity provider unavailable"}"#, nil),
        .identityProviderRejectedClient: (502, #"{"detail":"Identity provider rejected this service's client credentials"}"#, nil),
        .identityProviderError: (502, #"{"detail":"Identity provider error"}"#, nil),
        .identityProviderInvalidResponse: (502, #"{"detail":"Identity provider returned an invalid response"}"#, nil),
    ]

    @Test("every auth error code has its status, body and challenge", arguments: AuthError.Code.allCases)
    func authError(code: AuthError.Code) throws {
        let expected = try #require(Self.expected[code], "no expectation for \(code)")
        let response = HTTPResponse(error: .auth(AuthError(code, "context s3cret-context kid=abc")))
        #expect(response.status.code == expected.status)
        expectBody(response, expected.body)
        #expect(response.header("WWW-Authenticate") == expected.wwwAuthenticate)
        #expect(response.header("Content-Type") == "application/json")
        #expect(!String(decoding: response.body, as: UTF8.self).contains("s3cret-context"))
    }

    @Test("caller errors are 4xx, provider errors 5xx", arguments: AuthError.Code.allCases)
    func callerVersusProvider(code: AuthError.Code) {
        let status = HTTPResponse(error: .auth(AuthError(code))).status.code
        #expect(AuthError(code).isCallerError == (400..<500).contains(status))
    }

    @Test("provider unavailable says when to retry")
    func retryAfter() {
        #expect(HTTPResponse(error: .auth(AuthError(.identityProviderUnavailable))).header("Retry-After") != nil)
        #expect(HTTPResponse(error: .auth(AuthError(.identityProviderBusy))).header("Retry-After") != nil)
    }

    @Test(
        "the other handler errors",
        arguments: [
            (HandlerError.notFound, 404, #"{"detail":"Not Found"}"#),
            (.methodNotAllowed(allowed: ["GET", "HEAD"]), 405, #"{"detail":"Method Not Allowed"}"#),
            (.malformedBody, 400, #"{"detail":"There was an error parsing the body"}"#),
            (
                .missingFields(["username"]), 422,
                #"{"detail":[{"type":"missing","loc":["body","username"],"msg":"Field required","input":null}]}"#
            ),
            (.bodyTooLarge(limit: 65536), 413, #"{"detail":"Request body too large (limit 65536 bytes)"}"#),
        ])
    func handlerError(error: HandlerError, status: Int, body: String) {
        let response = HTTPResponse(error: error)
        #expect(response.status.code == status)
        expectBody(response, body)
        #expect(response.header("Content-Type") == "application/json")
    }

    @Test("405 names the allowed methods")
    func allow() {
        #expect(HTTPResponse(error: .methodNotAllowed(allowed: ["GET", "HEAD"])).header("Allow") == "GET, HEAD")
    }
}
