/// The one error type of the `Auth` module: a closed set of codes, each with non-secret context.
///
/// Messages and context never carry passwords, client secrets, tokens or `Authorization`
/// headers; they name the claim, the key id or the endpoint involved.
public struct AuthError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong. The HTTP layer maps each code to exactly one status.
    public enum Code: String, Sendable, CaseIterable {
        // The caller's credentials.
        /// No `Authorization` header, empty credentials, or a scheme other than Bearer.
        case missingBearerToken
        /// Not a compact JWS, bad base64url, bad JSON, or a required header field missing.
        case malformedToken
        /// Longer than the verifier accepts; refused without parsing.
        case tokenTooLarge
        /// `alg` outside the allow-list (`none`, HS*, or not advertised by the provider).
        case unsupportedAlgorithm
        /// No signing key with the token's `kid`, even after a refetch.
        case unknownKeyID
        /// The signature does not verify with the selected key.
        case signatureInvalid
        /// `exp` is in the past, beyond the allowed clock skew.
        case tokenExpired
        /// `nbf` is in the future, beyond the allowed clock skew.
        case tokenNotYetValid
        /// `iss` is not exactly the configured issuer.
        case issuerMismatch
        /// None of the configured audiences is in `aud` or `azp`.
        case audienceMismatch
        /// `typ` is present and not `Bearer` (an ID or refresh token).
        case wrongTokenType
        /// A claim the product needs is absent or has the wrong JSON type.
        case missingClaim
        /// A valid access token that says nothing of its user but `sub` (a Keycloak
        /// lightweight access token): no username, email, name or roles to answer with.
        case noIdentityClaims
        /// The provider's userinfo endpoint refused the token.
        case tokenRejectedByProvider
        /// The provider refused the username/password (`invalid_grant`).
        case invalidCredentials
        /// The refresh token is expired, revoked, or its session ended (`invalid_grant`).
        case invalidRefreshToken
        /// The token's session (`sid`) or subject was ended by a back-channel logout.
        case sessionRevoked
        /// An ID token's `nonce` is not the one the sign-in sent.
        case nonceMismatch
        /// A valid token without the roles or scopes the resource requires.
        case insufficientPermissions

        // Sender-constrained tokens and browser callers.
        /// The DPoP proof failed a check of RFC 9449 §4.3; the context is the `error_description`.
        case invalidDPoPProof
        /// Server nonces are required and the proof has none, or an expired one (RFC 9449 §9).
        case dpopNonceRequired
        /// A valid token presented with the DPoP scheme but not bound to a key (no `cnf.jkt`).
        case tokenNotDPoPBound
        /// A DPoP-bound token presented as a bearer token (RFC 9449 §7.1).
        case dpopBoundTokenAsBearer
        /// `AUTH_DPOP=required` and the token came with the Bearer scheme.
        case dpopRequired
        /// A certificate-bound token (`cnf.x5t#S256`) without that client certificate (RFC 8705 §3).
        case certificateMismatch
        /// The request's `Origin` is not among the token's `allowed-origins`.
        case originNotAllowed

        // The identity provider.
        /// Not reachable, timed out, or discovery has not succeeded yet.
        case identityProviderUnavailable
        /// Every slot for calls to the provider is taken; fail fast rather than queue.
        case identityProviderBusy
        /// The provider refused this service's client (`invalid_client`, `unauthorized_client`).
        case identityProviderRejectedClient
        /// The provider answered with a 5xx or an unexpected error status.
        case identityProviderError
        /// The provider's answer could not be understood (not JSON, missing fields, too large).
        case identityProviderInvalidResponse
    }

    /// What went wrong.
    public let code: Code
    /// Non-secret detail for logs: which claim, which `kid`, which endpoint.
    public let context: String

    /// Creates an error with its code and non-secret context.
    public init(_ code: Code, _ context: String = "") {
        self.code = code
        self.context = context
    }

    public var description: String {
        context.isEmpty ? code.rawValue : "\(code.rawValue): \(context)"
    }

    /// Whether the fault lies with the caller's token or credentials rather than the provider.
    public var isCallerError: Bool {
        switch code {
        case .identityProviderUnavailable, .identityProviderBusy, .identityProviderRejectedClient,
            .identityProviderError, .identityProviderInvalidResponse:
            false
        default:
            true
        }
    }
}
