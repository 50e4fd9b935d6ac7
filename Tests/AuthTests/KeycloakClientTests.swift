import Auth
import TestSupport
import Foundation
import Testing

@Suite("KeycloakClient")
struct KeycloakClientTests {
    typealias P = FakeKeycloak

    private func client(_ transport: FakeTransport, provider: IdentityProvider = P.provider()) -> KeycloakClient {
        KeycloakClient(provider: provider, transport: transport)
    }

    /// No error text may carry the client secret or the user's password, in any form.
    private func expectNoSecrets(_ error: AuthError, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = error.description + " " + error.context + " " + String(describing: error) + " " + String(reflecting: error)
        for secret in [P.clientSecret, P.password, "cl13nt-S3cret", "p&ss+w%rd", "p%26ss%2Bw%25rd", "cl13nt-S3cret%26"] {
            #expect(!text.contains(secret), "error text contains a secret: \(text)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Password grant

    @Test("passwordGrant posts the form-encoded grant to the discovered token endpoint")
    func passwordGrantRequest() throws {
        let transport = FakeTransport(.json(200, P.tokenSuccess))
        let tokens = try client(transport).passwordGrant(username: "abdullah+test@example.com", password: P.password)

        #expect(tokens.accessToken == "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
        #expect(tokens.tokenType == "Bearer")
        #expect(tokens.expiresIn == 300)
        #expect(tokens.refreshExpiresIn == 1800)
        #expect(tokens.scope == "openid email profile")

        let request = try #require(transport.requests.only)
        let form = try expectFormPost(request, to: P.tokenEndpoint)
        #expect(form.map(\.0) == ["client_id", "client_secret", "grant_type", "username", "password", "scope"])
        #expect(
            Dictionary(form, uniquingKeysWith: { a, _ in a }) == [
                "grant_type": "password", "client_id": P.clientID, "client_secret": P.clientSecret,
                "username": "abdullah+test@example.com", "password": P.password, "scope": "openid",
            ])
        // '#', '&', '+', '%' and non-ASCII never appear raw on the wire.
        let raw = String(decoding: try #require(request.body), as: UTF8.self)
        #expect(!raw.contains("#") && !raw.contains("é") && !raw.contains("+w") && !raw.contains("%rd"))
    }

    @Test("passwordGrant keeps the article's password with '#'")
    func articlePassword() throws {
        let transport = FakeTransport(.json(200, P.tokenSuccess))
        _ = try client(transport).passwordGrant(username: "abdullah", password: "Test#123456")
        let body = String(decoding: try #require(transport.requests.only?.body), as: UTF8.self)
        #expect(body.contains("&password=Test%23123456&"))
    }

    struct Failure: Sendable, CustomTestStringConvertible {
        let name: String
        /// The transport's answer: a response, or an error it throws.
        let outcome: Result<IncomingResponse, AuthError>
        let expected: AuthError.Code
        var testDescription: String { "\(name) → \(expected.rawValue)" }

        init(_ name: String, _ response: IncomingResponse, _ expected: AuthError.Code) {
            self.name = name
            self.outcome = .success(response)
            self.expected = expected
        }

        init(_ name: String, throwing error: AuthError, _ expected: AuthError.Code) {
            self.name = name
            self.outcome = .failure(error)
            self.expected = expected
        }
    }

    /// The form of a client_secret_post request to `url` (a POST, form-encoded, no Authorization).
    private func expectFormPost(_ request: OutgoingRequest, to url: String, sourceLocation: SourceLocation = #_sourceLocation) throws
        -> [(String, String)]
    {
        #expect(request.method == .post, sourceLocation: sourceLocation)
        #expect(request.url == url, sourceLocation: sourceLocation)
        #expect(
            request.headers.contains { $0.name.lowercased() == "content-type" && $0.value == "application/x-www-form-urlencoded" },
            sourceLocation: sourceLocation)
        #expect(!request.headers.contains { $0.name.lowercased() == "authorization" }, sourceLocation: sourceLocation)
        return FormURLEncoding.decode(try #require(request.body, sourceLocation: sourceLocation))
    }

    /// Runs `call` against a provider that answers `failure`: the expected code, nothing secret
    /// (nor `token`) in the error, exactly one request sent.
    private func expectFailure(
        _ failure: Failure, hiding token: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
        _ call: (KeycloakClient) throws(AuthError) -> Void
    ) {
        let transport = FakeTransport { _ throws(AuthError) in
            try failure.outcome.get()
        }
        let error = #expect(throws: AuthError.self, sourceLocation: sourceLocation) { try call(client(transport)) }
        #expect(error?.code == failure.expected, sourceLocation: sourceLocation)
        if let error {
            expectNoSecrets(error, sourceLocation: sourceLocation)
            if let token { #expect(!error.description.contains(token), sourceLocation: sourceLocation) }
        }
        #expect(transport.requests.count == 1, sourceLocation: sourceLocation)
    }

    static let grantFailures: [Failure] = [
        Failure(
            "401 invalid_grant (Keycloak ≤ 26.5)", .json(401, #"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#),
            .invalidCredentials),
        Failure(
            "400 invalid_grant (Keycloak ≥ 26.6)", .json(400, #"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#),
            .invalidCredentials),
        Failure(
            "400 invalid_grant Account disabled", .json(400, #"{"error":"invalid_grant","error_description":"Account disabled"}"#),
            .invalidCredentials),
        Failure(
            "400 invalid_grant not fully set up",
            .json(400, #"{"error":"invalid_grant","error_description":"Account is not fully set up"}"#), .invalidCredentials),
        Failure(
            "401 unauthorized_client",
            .json(401, #"{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}"#),
            .identityProviderRejectedClient),
        Failure(
            "400 unauthorized_client (no direct grants)",
            .json(400, #"{"error":"unauthorized_client","error_description":"Client not allowed for direct access grants"}"#),
            .identityProviderRejectedClient),
        Failure(
            "401 invalid_client",
            .json(401, #"{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}"#),
            .identityProviderRejectedClient),
        Failure(
            "400 invalid_request", .json(400, #"{"error":"invalid_request","error_description":"Missing parameter: username"}"#),
            .identityProviderError),
        Failure(
            "403 invalid_request HTTPS required", .json(403, #"{"error":"invalid_request","error_description":"HTTPS required"}"#),
            .identityProviderError),
        Failure("500 HTML", .html(500), .identityProviderError),
        Failure("503 empty", IncomingResponse(status: 503, body: []), .identityProviderError),
        Failure("500 with an invalid_grant body", .json(500, #"{"error":"invalid_grant"}"#), .identityProviderError),
        Failure("200 HTML", .html(200), .identityProviderInvalidResponse),
        Failure(
            "200 JSON without access_token", .json(200, #"{"token_type":"Bearer","expires_in":300}"#), .identityProviderInvalidResponse),
        Failure("200 JSON array", .json(200, "[]"), .identityProviderInvalidResponse),
        Failure("404 HTML", .html(404), .identityProviderInvalidResponse),
        Failure("302 redirect", IncomingResponse(status: 302, body: []), .identityProviderInvalidResponse),
        Failure(
            "transport: unreachable", throwing: AuthError(.identityProviderUnavailable, "token: cannot connect"),
            .identityProviderUnavailable),
        Failure(
            "transport: response too large", throwing: AuthError(.identityProviderInvalidResponse, "token: response larger than the cap"),
            .identityProviderInvalidResponse),
    ]

    @Test("passwordGrant maps provider failures", arguments: grantFailures)
    func passwordGrantFailure(_ failure: Failure) {
        expectFailure(failure) { client throws(AuthError) in _ = try client.passwordGrant(username: "abdullah", password: P.password) }
    }

    @Test("passwordGrant before discovery is identityProviderUnavailable and sends nothing")
    func passwordGrantBeforeDiscovery() {
        let transport = FakeTransport(.json(200, P.tokenSuccess))
        let error = #expect(throws: AuthError.self) {
            try client(transport, provider: P.provider(discovered: false)).passwordGrant(username: "abdullah", password: P.password)
        }
        #expect(error?.code == .identityProviderUnavailable)
        #expect(transport.requests.isEmpty)
        if let error { expectNoSecrets(error) }
    }

    @Test("an error description echoing the form never reaches the error text")
    func providerEchoingTheForm() {
        // A misbehaving proxy in front of the provider that reflects the request body.
        let transport = FakeTransport { request throws(AuthError) in
            let echoed = String(decoding: request.body ?? [], as: UTF8.self)
            return .html(500, "<pre>\(echoed)</pre>")
        }
        let error = #expect(throws: AuthError.self) {
            try client(transport).passwordGrant(username: "abdullah", password: P.password)
        }
        #expect(error?.code == .identityProviderError)
        if let error { expectNoSecrets(error) }
    }

    @Test("passwordGrant waits for a slot of the call limiter: a full limiter answers busy")
    func passwordGrantBusy() throws {
        let provider = P.provider(capacity: 1)
        let transport = FakeTransport(.json(200, P.tokenSuccess))
        let error = try provider.limiter.withSlot("test") { () throws(AuthError) -> AuthError? in
            do throws(AuthError) {
                _ = try client(transport, provider: provider).passwordGrant(username: "abdullah", password: P.password)
                return nil
            } catch {
                return error
            }
        }
        #expect(error?.code == .identityProviderBusy)
        #expect(transport.requests.isEmpty)
        #expect(provider.limiter.current == 0)
    }

    // MARK: Discovery

    @Test("discover fetches the first candidate's document")
    func discoverFirst() throws {
        let transport = FakeTransport(.json(200, P.discoveryJSON()))
        let metadata = try client(transport, provider: P.provider(discovered: false)).discover()
        #expect(metadata.issuer == P.issuer)
        #expect(metadata.tokenEndpoint == P.tokenEndpoint)
        #expect(metadata.jwksURI == P.jwksURI)
        #expect(metadata.userinfoEndpoint == P.userinfoEndpoint)
        #expect(metadata.allowedAlgorithms == Set(SignatureAlgorithm.allCases))
        #expect(transport.requests.map(\.url) == [P.issuer + "/.well-known/openid-configuration"])
        #expect(transport.requests.first?.method == .get)
    }

    @Test("discover falls back to the second candidate after a 404")
    func discoverSecond() throws {
        let transport = FakeTransport { request throws(AuthError) in
            request.url.hasPrefix(P.legacyIssuer) ? .json(200, P.discoveryJSON(issuer: P.legacyIssuer)) : .html(404)
        }
        let metadata = try client(transport, provider: P.provider(discovered: false)).discover()
        #expect(metadata.issuer == P.legacyIssuer)
        #expect(metadata.tokenEndpoint == P.legacyIssuer + "/protocol/openid-connect/token")
        #expect(
            transport.requests.map(\.url) == [
                P.issuer + "/.well-known/openid-configuration", P.legacyIssuer + "/.well-known/openid-configuration",
            ])
    }

    @Test("discover: every candidate 404 is identityProviderError")
    func discoverNone() {
        let transport = FakeTransport(.html(404))
        let error = #expect(throws: AuthError.self) { try client(transport, provider: P.provider(discovered: false)).discover() }
        #expect(error?.code == .identityProviderError)
        #expect(transport.requests.count == 2)
    }

    @Test("discover refuses a document naming another issuer")
    func discoverIssuerMismatch() {
        let transport = FakeTransport(.json(200, P.discoveryJSON(issuer: "http://keycloak:8080/realms/testing")))
        let error = #expect(throws: AuthError.self) { try client(transport, provider: P.provider(discovered: false)).discover() }
        #expect(error?.code == .identityProviderInvalidResponse)
        #expect(transport.requests.count == 1)
    }

    @Test("discover with a discovery URL (back-channel ≠ public issuer): fetched there, issuer checked against the configured one")
    func discoverAtBackChannelURL() throws {
        let backChannel = "http://keycloak.internal:8080/realms/testing"
        // Keycloak with hostname-backchannel-dynamic: public issuer, back-channel endpoints.
        var fields = try #require(try JSONSerialization.jsonObject(with: Data(P.discoveryJSON().utf8)) as? [String: Any])
        for name in ["token_endpoint", "jwks_uri", "userinfo_endpoint", "introspection_endpoint"] {
            fields[name] = (fields[name] as? String)?.replacingOccurrences(of: P.issuer, with: backChannel)
        }
        let document = String(decoding: JSON.bytes(fields), as: UTF8.self)
        let transport = FakeTransport(.json(200, document))
        let provider = IdentityProvider(
            settings: ProviderSettings(
                issuerCandidates: [P.issuer], discoveryURL: backChannel + "/.well-known/openid-configuration", clientID: P.clientID,
                clientSecret: Secret(P.clientSecret)),
            limiter: ProviderCallLimiter(capacity: 2))
        let metadata = try client(transport, provider: provider).discover()
        #expect(metadata.issuer == P.issuer)
        #expect(metadata.tokenEndpoint == backChannel + "/protocol/openid-connect/token")
        #expect(metadata.jwksURI == backChannel + "/protocol/openid-connect/certs")
        #expect(transport.requests.map(\.url) == [backChannel + "/.well-known/openid-configuration"])

        // The document must still name the configured issuer.
        let wrong = FakeTransport(.json(200, P.discoveryJSON(issuer: backChannel)))
        let error = #expect(throws: AuthError.self) { try client(wrong, provider: provider).discover() }
        #expect(error?.code == .identityProviderInvalidResponse)
        #expect(error?.context.contains("expected \(P.issuer)") == true)
    }

    @Test("403 HTTPS required (realm Require SSL = external) names the cause and the fix")
    func httpsRequired() {
        let transport = FakeTransport(.json(403, #"{"error":"invalid_request","error_description":"HTTPS required"}"#))
        let error = #expect(throws: AuthError.self) { try client(transport).passwordGrant(username: "abdullah", password: P.password) }
        #expect(error?.code == .identityProviderError)
        #expect(error?.context.contains("Require SSL") == true)
        #expect(error?.context.contains("https://") == true)
    }

    @Test(
        "discover failures",
        arguments: [
            Failure("500", .html(500), .identityProviderError),
            Failure("200 not JSON", .html(200), .identityProviderInvalidResponse),
            Failure(
                "200 without jwks_uri", .json(200, #"{"issuer":"https://sso.example.com/realms/testing","token_endpoint":"x"}"#),
                .identityProviderInvalidResponse),
            Failure("unreachable", throwing: AuthError(.identityProviderUnavailable, "discovery: timed out"), .identityProviderUnavailable),
        ])
    func discoverFailure(_ failure: Failure) {
        let transport = FakeTransport { _ throws(AuthError) in
            try failure.outcome.get()
        }
        let error = #expect(throws: AuthError.self) { try client(transport, provider: P.provider(discovered: false)).discover() }
        #expect(error?.code == failure.expected)
    }

    @Test("the discovery document does not need the call limiter's slots when the client opts out")
    func monitorClientSkipsLimiter() throws {
        let provider = P.provider(discovered: false, capacity: 1)
        let transport = FakeTransport(.json(200, P.discoveryJSON()))
        let metadata = try provider.limiter.withSlot("held") { () throws(AuthError) in
            try KeycloakClient(provider: provider, transport: transport, usesLimiter: false).discover()
        }
        #expect(metadata.issuer == P.issuer)
    }

    // MARK: Userinfo

    @Test("userinfo sends the bearer token to the discovered endpoint and decodes the claims")
    func userinfo() throws {
        let transport = FakeTransport(
            .json(
                200,
                #"{"sub":"0f1e","email_verified":true,"name":"Abdullah Alqahtani","preferred_username":"abdullah","given_name":"Abdullah","family_name":"Alqahtani","email":"abdullah@example.com"}"#
            ))
        let claims = try client(transport).userinfo(accessToken: "a.b.c")
        #expect(claims == UserinfoClaimsExpectation.abdullah)
        let request = try #require(transport.requests.only)
        #expect(request.method == .get)
        #expect(request.url == P.userinfoEndpoint)
        #expect(request.headers.map(\.name) == ["Authorization", "traceparent"])
        #expect(request.headers.first?.value == "Bearer a.b.c")
        // Outside a request the call starts a trace of its own (W3C Trace Context §3.2).
        #expect(request.headers.last.map { TraceContext.start(traceparent: $0.value, tracestate: nil).parentSpanID != nil } == true)
    }

    @Test("every call carries a child traceparent of the request's trace, and its tracestate")
    func traceparent() throws {
        let transport = FakeTransport(.json(200, #"{"sub":"0f1e"}"#))
        let client = client(transport)
        let trace = TraceContext.start(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "congo=t61")
        client.trace = trace
        _ = try client.userinfo(accessToken: "a.b.c")
        let request = try #require(transport.requests.only)
        #expect(request.headers.first { $0.name == "traceparent" }?.value == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(trace.spanID)-01")
        #expect(request.headers.first { $0.name == "tracestate" }?.value == "congo=t61")
    }

    @Test(
        "userinfo refusals",
        arguments: [
            Failure(
                "401 invalid_token", .json(401, #"{"error":"invalid_token","error_description":"Token verification failed"}"#),
                .tokenRejectedByProvider),
            Failure(
                "403 insufficient_scope", .json(403, #"{"error":"insufficient_scope","error_description":"Missing openid scope"}"#),
                .tokenRejectedByProvider),
            Failure("401 without a body", IncomingResponse(status: 401, body: []), .tokenRejectedByProvider),
            Failure("500", .html(500), .identityProviderError),
            Failure("200 HTML", .html(200), .identityProviderInvalidResponse),
            Failure("unreachable", throwing: AuthError(.identityProviderUnavailable, "userinfo: timed out"), .identityProviderUnavailable),
        ])
    func userinfoFailure(_ failure: Failure) {
        let transport = FakeTransport { _ throws(AuthError) in
            try failure.outcome.get()
        }
        let error = #expect(throws: AuthError.self) { try client(transport).userinfo(accessToken: "header.payload.signature") }
        #expect(error?.code == failure.expected)
        #expect(error.map { !$0.description.contains("header.payload.signature") } ?? true)
    }

    @Test("userinfo without a userinfo_endpoint in discovery")
    func userinfoNoEndpoint() {
        let provider = P.provider(discovered: false)
        provider.record(P.metadata(userinfo: false))
        let transport = FakeTransport(.json(200, "{}"))
        let error = #expect(throws: AuthError.self) { try client(transport, provider: provider).userinfo(accessToken: "a.b.c") }
        #expect(error?.code == .identityProviderInvalidResponse)
        #expect(transport.requests.isEmpty)
    }

    // MARK: JWKS

    @Test("fetchKeys gets the discovered jwks_uri and parses it")
    func fetchKeys() throws {
        let transport = FakeTransport(
            IncomingResponse(
                status: 200, contentType: "application/json",
                body: JWK.set([
                    JWK.rsa(SigningKeys.rsaOther, kid: "enc", alg: "RSA-OAEP", use: "enc"),
                    JWK.rsa(SigningKeys.rsaCurrent, kid: "sig", alg: "RS256"),
                ])))
        let keys = try client(transport).fetchKeys()
        #expect(Array(keys.keys.keys) == ["sig"])
        #expect(transport.requests.map(\.url) == [P.jwksURI])
    }

    @Test(
        "fetchKeys failures",
        arguments: [
            Failure("500", .html(500), .identityProviderError),
            Failure("204", IncomingResponse(status: 204, body: []), .identityProviderInvalidResponse),
            Failure("200 not JSON", .html(200), .identityProviderInvalidResponse),
            Failure(
                "unreachable", throwing: AuthError(.identityProviderUnavailable, "certs: cannot connect"), .identityProviderUnavailable),
        ])
    func fetchKeysFailure(_ failure: Failure) {
        let transport = FakeTransport { _ throws(AuthError) in
            try failure.outcome.get()
        }
        let error = #expect(throws: AuthError.self) { try client(transport).fetchKeys() }
        #expect(error?.code == failure.expected)
    }

    // MARK: Refresh grant

    static let refreshToken = "eyJhbGciOiJIUzUxMiJ9.eyJ0eXAiOiJSZWZyZXNoIiwic2lkIjoiczEifQ.c2ln"

    @Test("refreshGrant posts client auth, then grant_type=refresh_token and the token, to the token endpoint")
    func refreshGrantRequest() throws {
        let transport = FakeTransport(.json(200, P.tokenSuccess))
        let tokens = try client(transport).refreshGrant(refreshToken: Self.refreshToken)
        #expect(tokens.accessToken == "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
        #expect(tokens.refreshToken == "eyJhbGciOiJIUzUxMiJ9.eyJ0eXAiOiJSZWZyZXNoIn0.c2ln")
        #expect(tokens.expiresIn == 300)

        let request = try #require(transport.requests.only)
        let form = try expectFormPost(request, to: P.tokenEndpoint)
        #expect(form.map(\.0) == ["client_id", "client_secret", "grant_type", "refresh_token"])
        #expect(form.map(\.1) == [P.clientID, P.clientSecret, "refresh_token", Self.refreshToken])
    }

    static let refreshFailures: [Failure] = [
        Failure(
            "400 invalid_grant (expired)", .json(400, #"{"error":"invalid_grant","error_description":"Token is not active"}"#),
            .invalidRefreshToken),
        Failure(
            "400 invalid_grant (session ended)", .json(400, #"{"error":"invalid_grant","error_description":"Session not active"}"#),
            .invalidRefreshToken),
        Failure("401 invalid_grant", .json(401, #"{"error":"invalid_grant"}"#), .invalidRefreshToken),
        Failure(
            "401 unauthorized_client",
            .json(401, #"{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}"#),
            .identityProviderRejectedClient),
        Failure("401 invalid_client", .json(401, #"{"error":"invalid_client"}"#), .identityProviderRejectedClient),
        Failure("400 invalid_request", .json(400, #"{"error":"invalid_request"}"#), .identityProviderError),
        Failure("500 HTML", .html(500), .identityProviderError),
        Failure("502 with an invalid_grant body", .json(502, #"{"error":"invalid_grant"}"#), .identityProviderError),
        Failure("200 HTML", .html(200), .identityProviderInvalidResponse),
        Failure("unreachable", throwing: AuthError(.identityProviderUnavailable, "token: timed out"), .identityProviderUnavailable),
    ]

    @Test("refreshGrant maps provider failures", arguments: refreshFailures)
    func refreshGrantFailure(_ failure: Failure) {
        expectFailure(failure, hiding: Self.refreshToken) { client throws(AuthError) in
            _ = try client.refreshGrant(refreshToken: Self.refreshToken)
        }
    }

    @Test("refreshGrant before discovery sends nothing")
    func refreshGrantBeforeDiscovery() {
        let transport = FakeTransport(.json(200, P.tokenSuccess))
        let error = #expect(throws: AuthError.self) {
            try client(transport, provider: P.provider(discovered: false)).refreshGrant(refreshToken: Self.refreshToken)
        }
        #expect(error?.code == .identityProviderUnavailable)
        #expect(transport.requests.isEmpty)
    }

    // MARK: Logout

    @Test("logout posts client auth and the refresh token to the end_session_endpoint", arguments: [204, 200])
    func logoutRequest(status: Int) throws {
        let transport = FakeTransport(IncomingResponse(status: status, body: []))
        try client(transport).logout(refreshToken: Self.refreshToken)
        let request = try #require(transport.requests.only)
        #expect(request.method == .post)
        #expect(request.url == P.endSessionEndpoint)
        #expect(request.headers.contains { $0.name.lowercased() == "content-type" && $0.value == "application/x-www-form-urlencoded" })
        let form = FormURLEncoding.decode(try #require(request.body))
        #expect(form.map(\.0) == ["client_id", "client_secret", "refresh_token"])
        #expect(form.map(\.1) == [P.clientID, P.clientSecret, Self.refreshToken])
    }

    @Test(
        "logout maps provider failures",
        arguments: [
            Failure(
                "400 invalid_grant", .json(400, #"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#),
                .invalidRefreshToken),
            Failure("401 invalid_grant", .json(401, #"{"error":"invalid_grant"}"#), .invalidRefreshToken),
            Failure("401 unauthorized_client", .json(401, #"{"error":"unauthorized_client"}"#), .identityProviderRejectedClient),
            Failure("400 invalid_request", .json(400, #"{"error":"invalid_request"}"#), .identityProviderError),
            Failure("500", .html(500), .identityProviderError),
            Failure("302 redirect", IncomingResponse(status: 302, body: []), .identityProviderInvalidResponse),
            // A 2xx carrying a page (a proxy's error or login page) did not end the session.
            Failure("200 with HTML", .html(200), .identityProviderInvalidResponse),
            Failure("unreachable", throwing: AuthError(.identityProviderUnavailable, "logout: timed out"), .identityProviderUnavailable),
        ])
    func logoutFailure(_ failure: Failure) {
        expectFailure(failure, hiding: Self.refreshToken) { client throws(AuthError) in try client.logout(refreshToken: Self.refreshToken) }
    }

    @Test("logout without an end_session_endpoint in discovery fails clearly, without a call")
    func logoutNoEndpoint() {
        let provider = P.provider(discovered: false)
        provider.record(P.metadata(endSession: false))
        let transport = FakeTransport(IncomingResponse(status: 204, body: []))
        let error = #expect(throws: AuthError.self) { try client(transport, provider: provider).logout(refreshToken: Self.refreshToken) }
        #expect(error?.code == .identityProviderInvalidResponse)
        #expect(error?.context.contains("end_session_endpoint") == true)
        #expect(transport.requests.isEmpty)
    }

    // MARK: Introspection

    @Test("introspect posts client auth, the token and token_type_hint=access_token; active:false is nil")
    func introspectInactive() throws {
        let transport = FakeTransport(.json(200, #"{"active":false}"#))
        #expect(try client(transport).introspect(token: "a.b.c") == nil)
        let request = try #require(transport.requests.only)
        #expect(request.method == .post)
        #expect(request.url == P.introspectionEndpoint)
        #expect(request.headers.contains { $0.name.lowercased() == "content-type" && $0.value == "application/x-www-form-urlencoded" })
        let form = FormURLEncoding.decode(try #require(request.body))
        #expect(form.map(\.0) == ["client_id", "client_secret", "token", "token_type_hint"])
        #expect(form.map(\.1) == [P.clientID, P.clientSecret, "a.b.c", "access_token"])
    }

    @Test("introspect decodes the claims of an active token")
    func introspectActive() throws {
        let transport = FakeTransport(
            .json(
                200,
                #"{"active":true,"iss":"https://sso.example.com/realms/testing","exp":1700000300,"typ":"Bearer","sub":"0f1e","preferred_username":"abdullah","sid":"s1","scope":"openid email","realm_access":{"roles":["r"]},"client_id":"fastapi-keycloak","token_type":"Bearer"}"#
            ))
        let claims = try #require(try client(transport).introspect(token: "a.b.c"))
        #expect(claims.iss == P.issuer)
        #expect(claims.exp == 1_700_000_300)
        #expect(claims.preferredUsername == "abdullah")
        #expect(claims.sid == "s1")
        #expect(claims.realmAccess?.roles == ["r"])
    }

    @Test(
        "introspect failures",
        arguments: [
            Failure("401 invalid_client", .json(401, #"{"error":"invalid_client"}"#), .identityProviderRejectedClient),
            Failure("403 unauthorized_client", .json(403, #"{"error":"unauthorized_client"}"#), .identityProviderRejectedClient),
            Failure("500", .html(500), .identityProviderError),
            Failure("200 HTML", .html(200), .identityProviderInvalidResponse),
            Failure("200 without active", .json(200, #"{"sub":"x"}"#), .identityProviderInvalidResponse),
            Failure(
                "unreachable", throwing: AuthError(.identityProviderUnavailable, "introspect: timed out"), .identityProviderUnavailable),
        ])
    func introspectFailure(_ failure: Failure) {
        let transport = FakeTransport { _ throws(AuthError) in
            try failure.outcome.get()
        }
        let error = #expect(throws: AuthError.self) { try client(transport).introspect(token: "header.payload.signature") }
        #expect(error?.code == failure.expected)
        if let error {
            expectNoSecrets(error)
            #expect(!error.description.contains("header.payload.signature"))
        }
    }

    @Test("introspect without an introspection_endpoint in discovery fails without a call")
    func introspectNoEndpoint() {
        let provider = P.provider(discovered: false)
        provider.record(P.metadata(introspection: false))
        let transport = FakeTransport(.json(200, #"{"active":false}"#))
        let error = #expect(throws: AuthError.self) { try client(transport, provider: provider).introspect(token: "a.b.c") }
        #expect(error?.code == .identityProviderInvalidResponse)
        #expect(transport.requests.isEmpty)
    }

}

enum UserinfoClaimsExpectation {
    static let abdullah: UserinfoClaims = {
        do {
            return try JSONDecoder().decode(
                UserinfoClaims.self,
                from: Data(
                    #"{"sub":"0f1e","preferred_username":"abdullah","email":"abdullah@example.com","name":"Abdullah Alqahtani"}"#.utf8))
        } catch {
            fatalError("\(error)")
        }
    }()
}

extension Array {
    /// The single element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
