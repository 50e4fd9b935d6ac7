import FoundationEssentials

/// Verifies Keycloak access tokens locally (RFC 7519 §7.2, RFC 7515 §5.2).
///
/// Checks run in a fixed order, cheapest and most fundamental first, and the payload is
/// decoded only after the signature verified:
/// size → parse → algorithm allow-list → key by `kid` → signature → `iss` → `exp`/`nbf` →
/// `typ` (claim, and the RFC 9068 header when required) → audience/`azp`.
public struct JWTVerifier: Sendable {
    /// The claim checks.
    public let policy: VerificationPolicy

    public init(policy: VerificationPolicy) {
        self.policy = policy
    }

    /// Verifies `token` at time `now`.
    ///
    /// - Parameters:
    ///   - issuer: the issuer `iss` must equal exactly (from discovery).
    ///   - allowedAlgorithms: the algorithms the provider advertises, within `SignatureAlgorithm`.
    ///   - key: looks a signing key up by `kid`; may refetch the provider's keys once. It throws
    ///     `unknownKeyID` when there is none.
    /// - Returns: the token's claims.
    public func verify(
        _ token: String,
        now: Date,
        issuer expectedIssuer: String,
        allowedAlgorithms: Set<SignatureAlgorithm>,
        key: (String) throws(AuthError) -> JSONWebKeySet.SigningKey
    ) throws(AuthError) -> AccessTokenClaims {
        let jws = try verifiedJWS(token, allowedAlgorithms: allowedAlgorithms, key: key)
        let claims = try jws.decodePayload(as: AccessTokenClaims.self)
        try check(claims, now: now, issuer: expectedIssuer)
        // RFC 9068 §4: "at+jwt" or "application/at+jwt", compared case-insensitively
        // (RFC 7515 §4.1.9: media types are case-insensitive).
        if policy.requiresAccessTokenHeaderType {
            let type = jws.header.typ?.lowercased() ?? ""
            guard type == "at+jwt" || type == "application/at+jwt" else {
                throw AuthError(.wrongTokenType, "JOSE header typ \(jws.header.typ?.prefix(32) ?? "absent"), not at+jwt")
            }
        }
        return claims
    }

    /// The signature half of the checks, shared by every kind of token the provider signs
    /// (access, ID and logout tokens): size → parse → algorithm allow-list → `crit` → key by
    /// `kid` → signature. The payload is still encoded in what it returns.
    func verifiedJWS(
        _ token: String, allowedAlgorithms: Set<SignatureAlgorithm>, key: (String) throws(AuthError) -> JSONWebKeySet.SigningKey
    ) throws(AuthError) -> CompactJWS {
        let bytes = Array(token.utf8)
        guard bytes.count <= policy.maximumTokenBytes else {
            throw AuthError(.tokenTooLarge, "\(bytes.count) bytes")
        }
        let jws = try CompactJWS(bytes)

        // RFC 8725 §3.1: never let the token choose an algorithm outside the allow-list.
        guard let algorithm = SignatureAlgorithm(rawValue: jws.header.alg),
            allowedAlgorithms.contains(algorithm)
        else {
            throw AuthError(.unsupportedAlgorithm, "alg \(jws.header.alg.prefix(16))")
        }
        // RFC 7515 §4.1.11: refuse extensions that must be understood.
        if let critical = jws.header.crit {
            throw AuthError(.malformedToken, "crit header with \(critical.count) extension(s)")
        }
        guard let kid = jws.header.kid, !kid.isEmpty else {
            throw AuthError(.unknownKeyID, "token has no kid")
        }
        let signingKey = try key(kid)
        if let pinned = signingKey.algorithm, pinned != algorithm {
            throw AuthError(.unsupportedAlgorithm, "key \(kid) is for \(pinned.rawValue), token says \(algorithm.rawValue)")
        }
        guard algorithm.accepts(signingKey.key) else {
            throw AuthError(.unsupportedAlgorithm, "key \(kid) cannot check \(algorithm.rawValue)")
        }
        guard algorithm.verify(jws.signature, over: jws.signingInput, with: signingKey.key) else {
            throw AuthError(.signatureInvalid, "kid \(kid)")
        }

        return jws
    }

    /// The claim checks that follow a valid signature, in order (also applied to what an
    /// introspection endpoint says about a token).
    ///
    /// - Parameter issuerRequired: whether a missing `iss` is refused. An introspection answer
    ///   may omit it (RFC 7662 §2.2: `iss` is optional there, and the answer comes from the
    ///   configured endpoint over an authenticated call); when present it must still match.
    public func check(_ claims: AccessTokenClaims, now: Date, issuer expectedIssuer: String, issuerRequired: Bool = true) throws(AuthError)
    {
        // RFC 7519 §4.1.1 and OIDC Core §3.1.3.7 (2): exact string comparison.
        if let issuer = claims.iss {
            guard issuer == expectedIssuer else {
                throw AuthError(.issuerMismatch, "iss \(issuer.prefix(200))")
            }
        } else if issuerRequired {
            throw AuthError(.missingClaim, "iss")
        }
        let seconds = now.timeIntervalSince1970
        // RFC 7519 §4.1.4: refuse on or after exp, allowing for clock skew.
        guard let expiry = claims.exp else {
            throw AuthError(.missingClaim, "exp")
        }
        guard seconds < expiry + policy.clockSkewSeconds else {
            throw AuthError(.tokenExpired, "exp \(Int64(expiry))")
        }
        // RFC 7519 §4.1.5: refuse before nbf, allowing for clock skew.
        if let notBefore = claims.nbf, seconds + policy.clockSkewSeconds < notBefore {
            throw AuthError(.tokenNotYetValid, "nbf \(Int64(notBefore))")
        }
        // Keycloak marks ID and refresh tokens with typ ID / Refresh; only access tokens pass.
        // A client option makes Keycloak write "bearer" in lower case, so the case is ignored.
        // A DPoP-bound access token has typ "DPoP" (TokenManager: TokenUtil.TOKEN_TYPE_DPOP);
        // its binding (cnf.jkt) is checked at the resource, not here.
        if let type = claims.typ {
            guard type == "Bearer" || type == "DPoP" || (type.utf8.count == 6 && type.lowercased() == "bearer") else {
                throw AuthError(.wrongTokenType, "typ \(type.prefix(32))")
            }
        } else if claims.nonce != nil || claims.atHash != nil {
            // Without Keycloak's typ, an ID token shows itself by its own claims (OIDC Core
            // §2: nonce, §3.1.3.6: at_hash); Keycloak 24+ no longer puts nonce in access tokens.
            throw AuthError(.wrongTokenType, "no typ, but \(claims.atHash != nil ? "at_hash" : "nonce"): an ID token")
        }
        try policy.checkAudience(aud: claims.aud, azp: claims.azp)
    }
}
