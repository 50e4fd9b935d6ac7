import Auth
import FoundationEssentials

/// `POST /oauth2/backchannel-logout` (OpenID Connect Back-Channel Logout 1.0): the provider
/// tells this service that a session (`sid`) or every session of a user (`sub`) has ended.
///
/// The logout token is checked as §2.6 lists (`JWTVerifier.verifyLogoutToken`), its `jti` may
/// be used once (claimed in the revocation store, so a replay to another replica fails too),
/// and the session or subject is revoked in the store: from then on every replica refuses the
/// session cookies and the access tokens that carry it, in every verification mode, for
/// `REVOCATION_TTL_SECONDS`. Answers 200 (§2.8); a bad token gets 400 with an OAuth error body.
struct BackchannelLogoutHandler: RequestHandler {
    let verifier: JWTVerifier
    let store: any RevocationStore
    let clientID: String
    let revocationTTL: Int64

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        let fields: [String: String]
        do {
            fields = try FormFields.decode(request)
        } catch {
            return Self.invalid("The request body is not a form", reason: "body is not a form")
        }
        guard let token = fields["logout_token"], !token.isEmpty else {
            return Self.invalid("Missing logout_token", reason: "no logout_token")
        }
        let claims: LogoutTokenClaims
        let issuer: String
        do {
            claims = try verifier.verifyLogoutToken(
                token, provider: context.client.provider, client: context.client, clientID: clientID, now: context.now)
            issuer = claims.iss ?? ""
        } catch {
            guard error.isCallerError else { throw .auth(error) }
            var response = Self.invalid("Invalid logout token", reason: "logout token refused")
            response.logMetadata["auth.error"] = "\(error)"
            return response
        }
        let now = Int64(context.now.timeIntervalSince1970)
        let jti = claims.jti ?? ""
        // Long enough to outlive the token's acceptance window (iat age and clock skew).
        let replayWindow = Int64(JWTVerifier.logoutTokenMaximumAge + 2 * verifier.policy.clockSkewSeconds) + 60
        guard store.claimOnce("logout-jti:\(issuer.utf8.count):\(issuer):\(jti)", ttlSeconds: replayWindow, now: now) else {
            return Self.invalid("Logout token already used", reason: "logout token jti replayed")
        }
        let revocation =
            if let sid = claims.sid, !sid.isEmpty {
                Revocation(kind: .session, issuer: issuer, value: sid, revokedAt: now, expiresAt: now + revocationTTL)
            } else {
                Revocation(kind: .subject, issuer: issuer, value: claims.sub ?? "", revokedAt: now, expiresAt: now + revocationTTL)
            }
        store.revoke(revocation, logger: context.logger)
        var response = HTTPResponse(status: .ok, headers: [("Cache-Control", "no-store")])
        response.logMetadata["logout.kind"] = "\(revocation.kind.rawValue)"
        if let subject = claims.sub { response.logMetadata["auth.sub"] = "\(subject)" }
        return response
    }

    /// §2.8: 400, with an OAuth 2.0 error body.
    static func invalid(_ description: String, reason: String) -> HTTPResponse {
        var response = HTTPResponse.json(
            .object([("error", "invalid_request"), ("error_description", .string(description))]), status: .badRequest,
            headers: [("Cache-Control", "no-store")])
        response.logMetadata["logout.error"] = "\(reason)"
        return response
    }
}
