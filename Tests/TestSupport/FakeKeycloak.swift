import Auth
import Foundation

/// The one Keycloak stand-in of the Swift tests, behind the `HTTPTransport` seam: serves
/// discovery, the JWKS, the token endpoint (password and refresh grants), userinfo, end-session
/// (logout) and introspection from canned answers a test can replace, and records every
/// request. No sockets. The static members describe the realm's URLs and documents for tests
/// that build a provider or a single answer themselves.
public final class FakeKeycloak: @unchecked Sendable {
    // @unchecked: every stored var is read and written only with `lock` held.
    private let lock = NSLock()
    private var recorded: [OutgoingRequest] = []
    private var answers: [Endpoint: Answer] = [:]

    public enum Endpoint: Hashable, CaseIterable, Sendable {
        case discovery, token, userinfo, certs, logout, introspect
    }

    public enum Answer: Sendable {
        case respond(IncomingResponse)
        case fail(AuthError)
    }

    public static let issuer = FixtureRealm.issuer
    public static let legacyIssuer = FixtureRealm.legacyIssuer
    public static let clientID = FixtureRealm.clientID
    public static let clientSecret = FixtureRealm.clientSecret
    public static let password = FixtureRealm.password
    public static let tokenEndpoint = issuer + "/protocol/openid-connect/token"
    public static let userinfoEndpoint = issuer + "/protocol/openid-connect/userinfo"
    public static let jwksURI = issuer + "/protocol/openid-connect/certs"
    public static let endSessionEndpoint = issuer + "/protocol/openid-connect/logout"
    public static let introspectionEndpoint = issuer + "/protocol/openid-connect/token/introspect"

    public init() {
        answers = [
            .discovery: .respond(.json(200, Self.discoveryJSON())),
            .certs: .respond(IncomingResponse(status: 200, contentType: "application/json", body: FixtureRealm.keycloakJWKS)),
            .token: .respond(.json(200, Self.tokenAnswer(accessToken: FixtureRealm.validToken()))),
            .userinfo: .respond(
                .json(
                    200,
                    #"{"sub":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","email_verified":true,"name":"Abdullah Alqahtani","preferred_username":"abdullah","given_name":"Abdullah","family_name":"Alqahtani","email":"abdullah@example.com"}"#
                )),
            .logout: .respond(IncomingResponse(status: 204, body: [])),
            .introspect: .respond(Self.introspection()),
        ]
    }

    // MARK: The realm's documents

    /// Keycloak's discovery document for `issuer`, the fields the product reads.
    public static func discoveryJSON(issuer: String = issuer, userinfo: Bool = true, endSession: Bool = true, introspection: Bool = true)
        -> String
    {
        var document: [String: Any] = [
            "issuer": issuer,
            "authorization_endpoint": issuer + "/protocol/openid-connect/auth",
            "token_endpoint": issuer + "/protocol/openid-connect/token",
            "jwks_uri": issuer + "/protocol/openid-connect/certs",
            "grant_types_supported": ["authorization_code", "password", "refresh_token"],
            "id_token_signing_alg_values_supported": [
                "PS384", "ES384", "RS384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512", "PS256", "PS512", "RS512",
            ],
        ]
        if userinfo {
            document["userinfo_endpoint"] = issuer + "/protocol/openid-connect/userinfo"
        }
        if endSession {
            document["end_session_endpoint"] = issuer + "/protocol/openid-connect/logout"
        }
        if introspection {
            document["introspection_endpoint"] = issuer + "/protocol/openid-connect/token/introspect"
        }
        return String(decoding: JSON.bytes(document), as: UTF8.self)
    }

    /// The discovery document, decoded.
    public static func metadata(issuer: String = issuer, userinfo: Bool = true, endSession: Bool = true, introspection: Bool = true)
        -> ProviderMetadata
    {
        do {
            let json = discoveryJSON(issuer: issuer, userinfo: userinfo, endSession: endSession, introspection: introspection)
            return try JSONDecoder().decode(ProviderMetadata.self, from: Data(json.utf8))
        } catch {
            fatalError("\(error)")
        }
    }

    /// The realm's provider state, discovered (as the monitor would have done) unless told not.
    public static func provider(discovered: Bool = true, capacity: Int = 4, candidates: [String] = [issuer, legacyIssuer])
        -> IdentityProvider
    {
        let provider = IdentityProvider(
            settings: ProviderSettings(issuerCandidates: candidates, clientID: clientID, clientSecret: Secret(clientSecret)),
            limiter: ProviderCallLimiter(capacity: capacity))
        if discovered {
            provider.record(metadata())
        }
        return provider
    }

    /// Keycloak's password/refresh grant answer with a placeholder access token.
    public static let tokenSuccess = tokenAnswer()

    /// Keycloak's password/refresh grant answer.
    public static func tokenAnswer(accessToken: String = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln") -> String {
        """
        {"access_token":"\(accessToken)","expires_in":300,"refresh_expires_in":1800,\
        "refresh_token":"eyJhbGciOiJIUzUxMiJ9.eyJ0eXAiOiJSZWZyZXNoIn0.c2ln","token_type":"Bearer","id_token":"x.y.z",\
        "not-before-policy":0,"session_state":"2b3c","scope":"openid email profile"}
        """
    }

    /// Keycloak's introspection answer for an active access token with these claims
    /// (`FixtureRealm.claims(changes)`).
    public static func introspection(_ changes: [String: Any?] = [:]) -> IncomingResponse {
        var body = FixtureRealm.claims(changes)
        body["active"] = true
        body["client_id"] = clientID
        body["username"] = "abdullah"
        body["token_type"] = "Bearer"
        return IncomingResponse(status: 200, contentType: "application/json", body: JSON.bytes(body))
    }

    public static let inactive = IncomingResponse.json(200, #"{"active":false}"#)

    // MARK: Answers and requests

    /// Replaces the answer of one endpoint.
    public func answer(_ endpoint: Endpoint, with answer: Answer) {
        lock.withLock { answers[endpoint] = answer }
    }

    public func answer(_ endpoint: Endpoint, with response: IncomingResponse) {
        answer(endpoint, with: .respond(response))
    }

    /// Every request so far, in order.
    public var requests: [OutgoingRequest] { lock.withLock { recorded } }

    public func requests(to endpoint: Endpoint) -> [OutgoingRequest] {
        requests.filter { Self.endpoint(of: $0.url) == endpoint }
    }

    /// A new transport, as each worker thread would create.
    public func makeTransport() -> any HTTPTransport {
        FakeTransport { [self] request throws(AuthError) in try handle(request) }
    }

    private static func endpoint(of url: String) -> Endpoint? {
        switch url {
        case issuer + "/.well-known/openid-configuration": .discovery
        case tokenEndpoint: .token
        case userinfoEndpoint: .userinfo
        case jwksURI: .certs
        case endSessionEndpoint: .logout
        case introspectionEndpoint: .introspect
        default: nil
        }
    }

    private func handle(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse {
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
}
