import Auth
import Foundation

/// A Keycloak stand-in behind the `HTTPTransport` seam: serves discovery, the JWKS, the token
/// (password and refresh grants), userinfo, end-session (logout) and introspection endpoints
/// from canned answers and records every request. No sockets.
final class FakeIdentityProvider: @unchecked Sendable {
    // @unchecked: every stored var is read and written only with `lock` held.
    private let lock = NSLock()
    private var recorded: [OutgoingRequest] = []
    private var answers: [Endpoint: Answer] = [:]

    enum Endpoint: Hashable, CaseIterable {
        case discovery, token, userinfo, certs, logout, introspect
    }

    enum Answer: Sendable {
        case respond(IncomingResponse)
        case fail(AuthError)
    }

    static let issuer = Tokens.issuer
    static let secret = "cl13nt-S3cret&+%#é"

    init() {
        let base = Self.issuer + "/protocol/openid-connect"
        let discovery: [String: Any] = [
            "issuer": Self.issuer, "token_endpoint": base + "/token", "userinfo_endpoint": base + "/userinfo",
            "jwks_uri": base + "/certs", "end_session_endpoint": base + "/logout",
            "introspection_endpoint": base + "/token/introspect",
            "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256", "HS256"],
            "grant_types_supported": ["password", "refresh_token"],
        ]
        answers = [
            .discovery: .respond(IncomingResponse(status: 200, contentType: "application/json", body: Tokens.json(discovery))),
            .certs: .respond(IncomingResponse(status: 200, contentType: "application/json", body: Tokens.jwks())),
            .token: .respond(
                .json(
                    200,
                    """
                    {"access_token":"\(Tokens.token())","expires_in":300,"refresh_expires_in":1800,"refresh_token":"r.r.r",\
                    "token_type":"Bearer","id_token":"i.i.i","not-before-policy":0,"session_state":"s","scope":"openid email profile"}
                    """)),
            .userinfo: .respond(
                .json(
                    200,
                    #"{"sub":"0f1e2d3c","email_verified":true,"name":"Abdullah Alqahtani","preferred_username":"abdullah","given_name":"Abdullah","family_name":"Alqahtani","email":"abdullah@example.com"}"#
                )),
            .logout: .respond(IncomingResponse(status: 204, body: [])),
            .introspect: .respond(Self.introspection()),
        ]
    }

    /// Keycloak's introspection answer for an active access token with these claims
    /// (`Tokens.claims(changes)`).
    static func introspection(_ changes: [String: Any?] = [:]) -> IncomingResponse {
        var body = Tokens.claims(changes)
        body["active"] = true
        body["client_id"] = Tokens.clientID
        body["token_type"] = "Bearer"
        return IncomingResponse(status: 200, contentType: "application/json", body: Tokens.json(body))
    }

    static let inactive = IncomingResponse.json(200, #"{"active":false}"#)

    /// Replaces the answer of one endpoint.
    func answer(_ endpoint: Endpoint, with answer: Answer) {
        lock.withLock { answers[endpoint] = answer }
    }

    func answer(_ endpoint: Endpoint, with response: IncomingResponse) {
        answer(endpoint, with: .respond(response))
    }

    /// Every request so far, in order.
    var requests: [OutgoingRequest] { lock.withLock { recorded } }

    func requests(to endpoint: Endpoint) -> [OutgoingRequest] {
        requests.filter { Self.endpoint(of: $0.url) == endpoint }
    }

    /// A new transport, as each worker thread would create.
    func makeTransport() -> any HTTPTransport { Transport(provider: self) }

    private static func endpoint(of url: String) -> Endpoint? {
        switch url {
        case issuer + "/.well-known/openid-configuration": .discovery
        case issuer + "/protocol/openid-connect/token": .token
        case issuer + "/protocol/openid-connect/userinfo": .userinfo
        case issuer + "/protocol/openid-connect/certs": .certs
        case issuer + "/protocol/openid-connect/logout": .logout
        case issuer + "/protocol/openid-connect/token/introspect": .introspect
        default: nil
        }
    }

    fileprivate func handle(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse {
        let answer = lock.withLock { () -> Answer? in
            recorded.append(request)
            return Self.endpoint(of: request.url).flatMap { answers[$0] }
        }
        switch answer {
        case .respond(let response): return response
        case .fail(let error): throw error
        case nil: return .json(404, #"{"error":"Unable to find matching target resource method"}"#)
        }
    }

    private final class Transport: HTTPTransport {
        let provider: FakeIdentityProvider
        init(provider: FakeIdentityProvider) { self.provider = provider }
        func send(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse {
            try provider.handle(request)
        }
    }
}

extension IncomingResponse {
    static func json(_ status: Int, _ text: String) -> IncomingResponse {
        IncomingResponse(status: status, contentType: "application/json", body: Array(text.utf8))
    }

    static func html(_ status: Int) -> IncomingResponse {
        IncomingResponse(status: status, contentType: "text/html", body: Array("<html><body>Internal Server Error</body></html>".utf8))
    }
}
