import Auth

/// The `WWW-Authenticate` challenge of a 401 at a resource (RFC 6750 §3, RFC 9449 §7.1,
/// RFC 9728 §5.1).
///
/// `/protected` answers a Bearer request with the seed's exact values (`Bearer` and
/// `Bearer error="invalid_token"`): clients written against the seed compare them, and HTTP
/// libraries join repeated headers into one string, so neither a parameter nor a second
/// challenge is added there. Everywhere else (`/auth`, and any DPoP request) the challenge names
/// the resource metadata, and a request without credentials learns that DPoP is accepted.
package struct Challenge: Sendable {
    package enum Scheme: Sendable { case bearer, dpop }

    /// The scheme the request used (DPoP answers DPoP, everything else Bearer).
    var scheme: Scheme
    /// RFC 9728 §5.1 `resource_metadata`, nil to leave it out.
    var resourceMetadata: String? = nil
    /// RFC 9449 §7.1 `algs`; nil when DPoP is off.
    var algorithms: String? = nil
    /// Whether a Bearer challenge keeps the seed's exact text (`/protected`).
    var seedExact = false
    /// A fresh server nonce for the `DPoP-Nonce` header, when nonces are on.
    var nonce: String? = nil

    /// The header value for `error`.
    func header(for error: AuthError) -> String {
        let errorCode: String? =
            switch error.code {
            case .missingBearerToken: nil
            case .invalidDPoPProof: "invalid_dpop_proof"
            case .dpopNonceRequired: "use_dpop_nonce"
            default: "invalid_token"
            }
        let description: String? =
            switch error.code {
            case .invalidDPoPProof: error.context
            case .dpopNonceRequired: "a nonce from the DPoP-Nonce header is required"
            case .tokenNotDPoPBound: "the access token is not DPoP-bound"
            case .dpopRequired: "a DPoP-bound access token is required"
            case .noIdentityClaims: "The access token carries no identity claims (a lightweight access token)"
            default: nil
            }
        var parameters: [String] = []
        if let errorCode { parameters.append("error=\(Self.quoted(errorCode))") }
        if let description { parameters.append("error_description=\(Self.quoted(description))") }
        let answersDPoP =
            scheme == .dpop || error.code == .dpopRequired || error.code == .invalidDPoPProof || error.code == .dpopNonceRequired
        if answersDPoP {
            if let algorithms { parameters.append("algs=\(Self.quoted(algorithms))") }
            if let resourceMetadata { parameters.append("resource_metadata=\(Self.quoted(resourceMetadata))") }
            return parameters.isEmpty ? "DPoP" : "DPoP " + parameters.joined(separator: ", ")
        }
        if !seedExact, let resourceMetadata { parameters.append("resource_metadata=\(Self.quoted(resourceMetadata))") }
        var header = parameters.isEmpty ? "Bearer" : "Bearer " + parameters.joined(separator: ", ")
        if !seedExact, errorCode == nil, let algorithms {
            header += ", DPoP algs=\(Self.quoted(algorithms))"
        }
        return header
    }

    /// An RFC 9110 §5.6.4 quoted string: quotes and backslashes escaped, control characters
    /// (a line break would end the header) dropped. Our own texts have none of them; a
    /// provider's error description might.
    static func quoted(_ value: String) -> String {
        var text = "\""
        for scalar in value.unicodeScalars where scalar.value >= 0x20 && scalar.value != 0x7F {
            if scalar == "\"" || scalar == "\\" { text.unicodeScalars.append("\\") }
            text.unicodeScalars.append(scalar)
        }
        return text + "\""
    }
}
