import FoundationEssentials

/// The claims of an ID token this product reads (OIDC Core §2).
public struct IDTokenClaims: Decodable, Sendable, Equatable {
    public let iss: String?
    public let sub: String?
    public let aud: AccessTokenClaims.Audience?
    public let azp: String?
    public let exp: Double?
    public let iat: Double?
    public let nonce: String?
    /// Keycloak's session id: what a back-channel logout names.
    public let sid: String?
    /// Keycloak's token type: `ID`.
    public let typ: String?
}

extension JWTVerifier {
    /// Verifies an ID token from the authorization code flow (OIDC Core §3.1.3.7): the
    /// signature with the provider's keys, `iss`, `aud` containing `clientID` (and, with several
    /// audiences, `azp` equal to it), `azp` when present, `exp`, `iat` not in the future, the
    /// `nonce` sent with the authorization request (compared in constant time), `sub`, and
    /// Keycloak's `typ: ID` when present (an access or refresh token is not an ID token).
    public func verifyIDToken(
        _ token: String, provider: IdentityProvider, client: KeycloakClient, clientID: String, nonce: String, now: Date
    ) throws(AuthError) -> IDTokenClaims {
        let (_, claims, issuer) = try verifiedPayload(token, as: IDTokenClaims.self, provider: provider, client: client)
        guard claims.iss == issuer else {
            throw AuthError(.issuerMismatch, "ID token iss \(claims.iss?.prefix(200) ?? "absent")")
        }
        let audiences = claims.aud?.values ?? []
        guard audiences.contains(clientID) else {
            throw AuthError(.audienceMismatch, "ID token aud does not contain the client id")
        }
        if let azp = claims.azp, azp != clientID {
            throw AuthError(.audienceMismatch, "ID token azp \(azp.prefix(64)) is another client")
        } else if claims.azp == nil && audiences.count > 1 {
            throw AuthError(.audienceMismatch, "ID token has several audiences and no azp")
        }
        let seconds = now.timeIntervalSince1970
        guard let expiry = claims.exp else { throw AuthError(.missingClaim, "ID token exp") }
        guard seconds < expiry + policy.clockSkewSeconds else { throw AuthError(.tokenExpired, "ID token exp \(Int64(expiry))") }
        guard let issuedAt = claims.iat else { throw AuthError(.missingClaim, "ID token iat") }
        guard issuedAt <= seconds + policy.clockSkewSeconds else {
            throw AuthError(.tokenNotYetValid, "ID token iat \(Int64(issuedAt)) is in the future")
        }
        if let type = claims.typ, type != "ID" {
            throw AuthError(.wrongTokenType, "ID token typ \(type.prefix(32))")
        }
        guard let tokenNonce = claims.nonce, ConstantTime.equal(tokenNonce, nonce) else {
            throw AuthError(.nonceMismatch, claims.nonce == nil ? "ID token has no nonce" : "ID token nonce differs from the request's")
        }
        guard claims.sub?.isEmpty == false else { throw AuthError(.missingClaim, "ID token sub") }
        return claims
    }
}

/// Comparison of secrets (state, nonce, CSRF tokens) whose time must not depend on where they
/// first differ.
public enum ConstantTime {
    public static func equal(_ left: String, _ right: String) -> Bool {
        let a = Array(left.utf8)
        let b = Array(right.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
