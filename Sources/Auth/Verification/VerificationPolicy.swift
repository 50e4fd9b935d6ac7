/// What a token must satisfy besides its signature and issuer. Built once from configuration;
/// the issuer and the algorithms come from discovery.
public struct VerificationPolicy: Sendable {
    /// RFC 7519 §4.1.3: when non-empty, one of these must be in `aud` or equal `azp`
    /// (Keycloak puts the client id in `azp`; `aud` holds it only with an audience mapper).
    public var audiences: [String]
    /// Tolerance for `exp` and `nbf`, in seconds.
    public var clockSkewSeconds: Double
    /// Tokens longer than this are refused before any parsing.
    public var maximumTokenBytes: Int
    /// RFC 9068 §4: when the provider marks its access tokens with the JOSE header
    /// `typ: at+jwt` (`AUTH_REQUIRE_AT_JWT`), tokens without that header are refused, so no
    /// other JWT the provider signs (an ID token, a logout token) passes as an access token.
    public var requiresAccessTokenHeaderType: Bool

    /// The longest token accepted by default (16 KiB).
    public static let defaultMaximumTokenBytes = 16 * 1024

    public init(
        audiences: [String] = [],
        clockSkewSeconds: Double = 30,
        maximumTokenBytes: Int = VerificationPolicy.defaultMaximumTokenBytes,
        requiresAccessTokenHeaderType: Bool = false
    ) {
        self.audiences = audiences
        self.clockSkewSeconds = clockSkewSeconds
        self.maximumTokenBytes = maximumTokenBytes
        self.requiresAccessTokenHeaderType = requiresAccessTokenHeaderType
    }

    /// RFC 7519 §4.1.3, OIDC Core §2 (azp): opt-in; when `audiences` is set, one of them must
    /// be in `aud` or equal `azp` (Keycloak puts the client id in `azp`).
    public func checkAudience(aud: AccessTokenClaims.Audience?, azp: String?) throws(AuthError) {
        guard !audiences.isEmpty else { return }
        let presented = (aud?.values ?? []) + (azp.map { [$0] } ?? [])
        guard presented.contains(where: audiences.contains) else {
            throw AuthError(.audienceMismatch, "aud/azp \(presented.joined(separator: ",").prefix(200))")
        }
    }
}
