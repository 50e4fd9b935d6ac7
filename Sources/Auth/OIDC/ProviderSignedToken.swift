import FoundationEssentials

extension JWTVerifier {
    /// Verifies the signature of a token the provider signed (an ID or logout token) with the
    /// provider's keys, exactly as access tokens are (`verifiedJWS`), and decodes its payload.
    ///
    /// - Returns: the JOSE header's `typ` and the payload, with the issuer `iss` must equal.
    func verifiedPayload<Claims: Decodable>(
        _ token: String, as type: Claims.Type, provider: IdentityProvider, client: KeycloakClient
    ) throws(AuthError) -> (headerType: String?, claims: Claims, issuer: String) {
        let discovery = try provider.discovery()
        let jws = try verifiedJWS(token, allowedAlgorithms: discovery.allowedAlgorithms) { kid throws(AuthError) in
            try provider.keys.signingKey(for: kid) { () throws(AuthError) in try client.fetchKeys() }
        }
        return (jws.header.typ, try jws.decodePayload(as: Claims.self), discovery.metadata.issuer)
    }
}
