import Auth
import Crypto
import FoundationEssentials

/// How `/protected` and `/auth` accept credentials: Bearer tokens (RFC 6750), DPoP-bound tokens
/// with their proofs (RFC 9449), certificate-bound tokens (RFC 8705), Keycloak's
/// `allowed-origins`, and the challenges and metadata that describe it (RFC 9728).
struct ResourceServer: Sendable {
    /// `AUTH_DPOP`.
    enum DPoPMode: String, Sendable, CaseIterable {
        /// DPoP-bound and bearer tokens both accepted.
        case allowed
        /// Only DPoP-bound tokens; Bearer requests are refused.
        case required
        /// The DPoP scheme is unknown (the seed's behaviour); bound tokens are still refused as Bearer.
        case off
    }

    /// What the configuration sets.
    struct Settings: Sendable, Equatable {
        var dpopMode = DPoPMode.allowed
        var dpop = DPoPPolicy()
        var requiresNonce = false
        /// `OAUTH_RESOURCE`: the resource identifier, or nil to derive it from each request.
        var resource: String? = nil
        var checksAllowedOrigins = false
    }

    let settings: Settings
    /// The authorization server named in the metadata.
    let issuer: String
    /// `scopes_supported` in the metadata.
    let scopes: [String]
    let replayGuard: DPoPReplayGuard
    let nonces: DPoPNonceIssuer?
    /// `algs` of the challenges: the accepted proof algorithms, one space between them.
    let algorithmsText: String

    init(settings: Settings, issuer: String, scopes: [String], replayGuard: DPoPReplayGuard, nonceSecret: String) {
        self.settings = settings
        self.issuer = issuer
        self.scopes = scopes
        self.replayGuard = replayGuard
        self.nonces = settings.requiresNonce ? DPoPNonceIssuer(secret: nonceSecret) : nil
        self.algorithmsText = settings.dpop.algorithms.map(\.rawValue).joined(separator: " ")
    }

    /// A user and the headers their answer carries (a fresh `DPoP-Nonce`).
    struct Access {
        var user: AuthenticatedUser
        var headers: [(name: String, value: String)] = []
    }

    /// The user of the request's credentials, held to `policy`: scheme → proof → token →
    /// binding → origin → policy → replay. Every refusal carries the challenge for this request.
    ///
    /// - Parameters:
    ///   - requiresIdentity: refuse a token that names nobody beyond `sub` (`/protected`).
    ///   - seedChallenge: answer Bearer requests with the seed's exact challenges (`/protected`).
    func authenticate(
        _ request: HTTPRequest, with authenticator: any Authenticator, policy: AuthorizationPolicy, context: RequestContext,
        requiresIdentity: Bool = false, seedChallenge: Bool = false
    ) throws(HandlerError) -> Access {
        // The challenge is built only for a refusal: its resource_metadata URL cost 11 µs of a
        // ~90 µs bearer check when it was built up front.
        var scheme = Challenge.Scheme.bearer
        var nonce: String?
        let now = Int64(context.now.timeIntervalSince1970)
        do throws(AuthError) {
            let credentials = try Credentials.parse(request.authorization, acceptsDPoP: settings.dpopMode != .off)
            var proof: DPoPProof?
            if credentials.scheme == .dpop {
                scheme = .dpop
                let checked = try checkedProof(of: request, token: credentials.token, now: now)
                if let nonces, !nonces.accepts(checked.nonce, now: now) {
                    nonce = nonces.nonce(now: now)
                    throw AuthError(.dpopNonceRequired, checked.nonce == nil ? "no nonce" : "unknown or expired nonce")
                }
                proof = checked
            } else if settings.dpopMode == .required {
                throw AuthError(.dpopRequired, "Bearer scheme with AUTH_DPOP=required")
            }
            let user = try authenticator.authenticate(credentials.token, using: context.client, now: context.now)
            if requiresIdentity && !user.carriesIdentity {
                throw AuthError(.noIdentityClaims, AuthenticatedUser.lightweightHint)
            }
            try checkKeyBinding(of: user, to: proof)
            try checkCertificateBinding(of: user, request: request)
            try checkOrigin(of: request, for: user)
            try policy.check(user)
            var access = Access(user: user)
            if let proof {
                // Last, so that a request refused for anything else does not use up its proof.
                guard replayGuard.claim(proof, ttlSeconds: settings.dpop.replayWindowSeconds, now: now) else {
                    throw DPoPProof.refusal("jti has been used before")
                }
                if let nonces { access.headers.append(("DPoP-Nonce", nonces.nonce(now: now))) }
            }
            return access
        } catch {
            switch error.code {
            case .invalidDPoPProof, .dpopNonceRequired, .tokenNotDPoPBound, .dpopBoundTokenAsBearer, .dpopRequired,
                .certificateMismatch, .originNotAllowed:
                AuthMetrics.verificationFailure(error)
            default:
                break
            }
            var challenge = self.challenge(for: request, seedExact: seedChallenge)
            challenge.scheme = scheme
            challenge.nonce = nonce
            throw .challenged(error, challenge)
        }
    }

    /// The Bearer challenge for a refusal of `request` (a DPoP request switches it to DPoP).
    func challenge(for request: HTTPRequest, seedExact: Bool = false) -> Challenge {
        Challenge(
            scheme: .bearer, resourceMetadata: metadataURL(for: request),
            algorithms: settings.dpopMode == .off ? nil : algorithmsText, seedExact: seedExact)
    }

    /// RFC 9449 §4.3: exactly one proof, checked against this request and `token`.
    private func checkedProof(of request: HTTPRequest, token: String, now: Int64) throws(AuthError) -> DPoPProof {
        let count = request.parameterCount("HTTP_DPOP")
        guard count > 0, let proof = request.parameter("HTTP_DPOP") else { throw DPoPProof.refusal("missing DPoP proof") }
        // nginx 1.22 passes a repeated header twice; later versions join the values with ", ".
        guard count == 1, !proof.utf8.contains(UInt8(ascii: ",")) else { throw DPoPProof.refusal("more than one DPoP proof") }
        guard let target = targetURI(of: request) else { throw DPoPProof.refusal("htu does not match the request URI") }
        let method = request.parameter("AUTH_ORIGINAL_METHOD") ?? request.method
        return try DPoPProof.verify(
            proof[...].trimming([" ", "\t"]), method: method, targetURI: target, accessToken: token, policy: settings.dpop, now: now)
    }

    /// The bound key: a proof needs a token bound to its key, and a bound token needs a proof.
    private func checkKeyBinding(of user: AuthenticatedUser, to proof: DPoPProof?) throws(AuthError) {
        let boundKey = user.confirmation?.jkt
        guard let proof else {
            if boundKey != nil { throw AuthError(.dpopBoundTokenAsBearer, "a DPoP-bound token sent with the Bearer scheme") }
            return
        }
        guard let boundKey else { throw AuthError(.tokenNotDPoPBound, "the token has no cnf.jkt") }
        guard boundKey == proof.thumbprint else { throw DPoPProof.refusal("the access token is not bound to the proof's key") }
    }

    /// RFC 8705 §3: a token with `cnf.x5t#S256` passes only with that client certificate, which
    /// nginx passes as `SSL_CLIENT_CERT` (`$ssl_client_escaped_cert`).
    private func checkCertificateBinding(of user: AuthenticatedUser, request: HTTPRequest) throws(AuthError) {
        guard let expected = user.confirmation?.x5tS256 else { return }
        guard let escaped = request.parameter("SSL_CLIENT_CERT"), !escaped.isEmpty else {
            throw AuthError(.certificateMismatch, "a certificate-bound token without a client certificate")
        }
        guard let der = ClientCertificate.der(fromEscapedPEM: escaped) else {
            throw AuthError(.certificateMismatch, "SSL_CLIENT_CERT is not a PEM certificate")
        }
        guard Base64URL.encode(SHA256.hash(data: der)) == expected else {
            throw AuthError(.certificateMismatch, "the client certificate is not the one the token is bound to")
        }
    }

    /// Keycloak's `allowed-origins`, as its Java adapter enforced it, when `AUTH_CHECK_ALLOWED_ORIGINS`.
    private func checkOrigin(of request: HTTPRequest, for user: AuthenticatedUser) throws(AuthError) {
        guard settings.checksAllowedOrigins, let origin = request.parameter("HTTP_ORIGIN"), let allowed = user.allowedOrigins else {
            return
        }
        guard allowed.contains("*") || allowed.contains(origin) else {
            throw AuthError(.originNotAllowed, "origin \(origin.prefix(200)) is not in the token's allowed-origins")
        }
    }

    // MARK: Where the resource is

    /// `scheme://host[:port]` of the request as the client addressed it. nginx's templates pass
    /// it as `RESOURCE_ORIGIN` (`https://$host:<public port>`: Debian's `fastcgi_params` sets
    /// `HTTP_HOST` to `$host`, without the port); otherwise nginx's scheme and `HTTP_HOST`.
    /// Checked to be a plain host and port; nil when it cannot be told.
    static func requestOrigin(of request: HTTPRequest) -> String? {
        if let origin = request.parameter("RESOURCE_ORIGIN") {
            guard let normalized = HTTPURI.normalized(origin + "/") else { return nil }
            return String(normalized.dropLast())
        }
        let scheme = request.parameter("REQUEST_SCHEME") ?? (request.parameter("HTTPS")?.lowercased() == "on" ? "https" : "http")
        guard scheme == "https" || scheme == "http", let host = request.parameter("HTTP_HOST"), !host.isEmpty, host.utf8.count <= 261,
            host.utf8.allSatisfy({ byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ":")
                    || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
            })
        else { return nil }
        return scheme + "://" + host
    }

    /// The resource identifier: `OAUTH_RESOURCE`, or the request's origin.
    func resource(for request: HTTPRequest) -> String? {
        settings.resource ?? Self.requestOrigin(of: request)
    }

    /// RFC 9728 §3.1: the well-known path goes between the host and the resource's path.
    func metadataURL(for request: HTTPRequest) -> String? {
        guard let resource = resource(for: request) else { return nil }
        let (origin, path) = Self.split(resource)
        return origin + "/.well-known/oauth-protected-resource" + (path == "/" ? "" : path)
    }

    /// The normalised URI a proof's `htu` must equal: the origin (`OAUTH_RESOURCE`'s when set)
    /// and the path of `REQUEST_URI` (the original request's, behind `auth_request`).
    func targetURI(of request: HTTPRequest) -> String? {
        guard let origin = settings.resource.map({ Self.split($0).origin }) ?? Self.requestOrigin(of: request) else { return nil }
        let uri = request.parameter("REQUEST_URI") ?? request.path
        let path = uri.prefix { $0 != "?" && $0 != "#" }
        return HTTPURI.normalized(origin + (path.hasPrefix("/") ? String(path) : "/" + path))
    }

    /// `https://host:port/a/b` → (`https://host:port`, `/a/b`); the path is `/` when absent.
    static func split(_ url: String) -> (origin: String, path: String) {
        guard let schemeEnd = url.firstRange(of: "://") else { return (url, "/") }
        let rest = url[schemeEnd.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return (url, "/") }
        let path = String(url[slash...])
        return (String(url[..<slash]), path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path)
    }

    // MARK: RFC 9728 metadata

    /// The protected-resource metadata document (RFC 9728 §2).
    func metadata(for request: HTTPRequest) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let resource = resource(for: request) { members.append(("resource", .string(resource))) }
        members.append(("authorization_servers", .array([.string(issuer)])))
        members.append(("bearer_methods_supported", .array(["header"])))
        members.append(("scopes_supported", .array(scopes.map(JSONValue.string))))
        if settings.dpopMode != .off {
            members.append(("dpop_signing_alg_values_supported", .array(settings.dpop.algorithms.map { .string($0.rawValue) })))
        }
        members.append(("dpop_bound_access_tokens_required", .bool(settings.dpopMode == .required)))
        return .object(members)
    }
}

/// The client certificate nginx passes (`$ssl_client_escaped_cert`: the PEM, URL-encoded).
enum ClientCertificate {
    /// The DER bytes of the first certificate in the escaped PEM, or nil.
    static func der(fromEscapedPEM escaped: String) -> [UInt8]? {
        guard escaped.utf8.count <= 64 * 1024, let bytes = HTTPURI.percentDecoded(escaped),
            let pem = String(validating: bytes, as: UTF8.self)
        else { return nil }
        let begin = "-----BEGIN CERTIFICATE-----"
        let end = "-----END CERTIFICATE-----"
        guard let start = pem.firstRange(of: begin), let stop = pem[start.upperBound...].firstRange(of: end) else { return nil }
        // Standard base64 with line breaks → the base64url alphabet, unpadded.
        var text = ""
        for character in pem[start.upperBound..<stop.lowerBound] {
            switch character {
            case "+": text.append("-")
            case "/": text.append("_")
            case "=", "\n", "\r", " ", "\t": continue
            default: text.append(character)
            }
        }
        return Base64URL.decode(text)
    }
}
