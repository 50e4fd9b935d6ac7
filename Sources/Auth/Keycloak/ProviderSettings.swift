/// How to reach and authenticate to the identity provider. Built once from configuration.
public struct ProviderSettings: Sendable {
    /// Issuer URLs to try, in order, without trailing slashes, e.g.
    /// `https://sso.example.com/realms/testing`. Discovery is fetched from
    /// `<issuer>/.well-known/openid-configuration` (OIDC Discovery §4); the first that answers
    /// (and names itself as issuer) is the issuer. Two candidates let a server URL work with or
    /// without the `/auth` prefix of Keycloak 16 and older.
    public var issuerCandidates: [String]
    /// Where the discovery document is fetched, when that is not `<issuer>/.well-known/...`
    /// (`KEYCLOAK_DISCOVERY_URL`). With Keycloak's hostname v2 and
    /// `hostname-backchannel-dynamic`, the issuer is the public URL while this service reaches
    /// Keycloak at an internal one; the document fetched there names the public issuer and
    /// internal endpoints. Its `issuer` must still be one of `issuerCandidates`.
    public var discoveryURL: String?
    /// The confidential client's id (`fastapi-keycloak` in the article).
    public var clientID: String
    /// The client secret, sent as client_secret_post (RFC 6749 §2.3.1).
    public var clientSecret: Secret
    /// Timeouts, response cap and CA bundle for every call.
    public var limits: HTTPClientLimits

    public init(
        issuerCandidates: [String], discoveryURL: String? = nil, clientID: String, clientSecret: Secret,
        limits: HTTPClientLimits = HTTPClientLimits()
    ) {
        precondition(!issuerCandidates.isEmpty, "at least one issuer candidate")
        self.issuerCandidates = issuerCandidates
        self.discoveryURL = discoveryURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.limits = limits
    }

    /// The issuer as configured (the first candidate): the `issuer` label of metrics and the
    /// name in readiness, known before discovery.
    public var label: String { issuerCandidates[0] }
}

/// A secret string that never prints itself: `description` and `debugDescription` redact.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself; read it only where it is sent to the provider.
    public let value: String

    public init(_ value: String) {
        self.value = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
