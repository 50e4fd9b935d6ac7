/// The provider's discovery document (OpenID Connect Discovery 1.0 §3), the fields used.
public struct ProviderMetadata: Decodable, Sendable, Equatable {
    public let issuer: String
    public let tokenEndpoint: String
    /// Where browsers sign in (the authorization code flow); absent from a provider without it.
    public let authorizationEndpoint: String?
    public let jwksURI: String
    public let userinfoEndpoint: String?
    public let introspectionEndpoint: String?
    public let endSessionEndpoint: String?
    public let idTokenSigningAlgValuesSupported: [String]?

    enum CodingKeys: String, CodingKey {
        case issuer
        case tokenEndpoint = "token_endpoint"
        case authorizationEndpoint = "authorization_endpoint"
        case jwksURI = "jwks_uri"
        case userinfoEndpoint = "userinfo_endpoint"
        case introspectionEndpoint = "introspection_endpoint"
        case endSessionEndpoint = "end_session_endpoint"
        case idTokenSigningAlgValuesSupported = "id_token_signing_alg_values_supported"
    }

    /// The algorithms the provider advertises that this verifier supports; all of them when
    /// the provider does not say.
    public var allowedAlgorithms: Set<SignatureAlgorithm> {
        guard let advertised = idTokenSigningAlgValuesSupported else {
            return Set(SignatureAlgorithm.allCases)
        }
        return Set(advertised.compactMap(SignatureAlgorithm.init(rawValue:)))
    }
}
