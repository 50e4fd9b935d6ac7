import Auth
import TestSupport
import Testing

@testable import FCGIApp

@Suite("LoginHandler")
struct LoginHandlerTests {
    static func missing(_ fields: String...) -> String {
        #"{"detail":["#
            + fields.map { #"{"type":"missing","loc":["body",""# + $0 + #""],"msg":"Field required","input":null}"# }.joined(separator: ",")
            + "]}"
    }

    /// The form the provider received, as pairs in order.
    private func grantForm(_ app: AppHarness) throws -> [String: String] {
        let request = try #require(app.provider.requests(to: .token).last)
        #expect(request.method == .post)
        let pairs = FormURLEncoding.decode(try #require(request.body))
        return Dictionary(pairs, uniquingKeysWith: { first, _ in first })
    }

    private func expectGrant(_ app: AppHarness, username: String, password: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        #expect(
            try grantForm(app) == [
                "grant_type": "password", "client_id": FixtureRealm.clientID, "client_secret": FakeKeycloak.clientSecret,
                "username": username, "password": password, "scope": "openid",
            ], sourceLocation: sourceLocation)
    }

    @Test("the seed's curl walk-through: urlencoded with a raw '#' in the password")
    func urlencodedRawHash() throws {
        let app = try AppHarness()
        let response = app.postForm("username=abdullah&password=Test#123456")
        #expect(response.status == .ok)
        let token = FixtureRealm.validToken()
        expectBody(
            response,
            #"{"access_token":"\#(token)","token_type":"bearer","expires_in":300,"refresh_token":"eyJhbGciOiJIUzUxMiJ9.eyJ0eXAiOiJSZWZyZXNoIn0.c2ln","refresh_expires_in":1800,"scope":"openid email profile"}"#
        )
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("Cache-Control") == "no-store")
        try expectGrant(app, username: "abdullah", password: "Test#123456")
    }

    @Test(
        "urlencoded values are decoded before they are sent on",
        arguments: [
            ("username=abdullah&password=Test%23123456", "abdullah", "Test#123456"),
            ("password=p%26ss%2Bw%25rd+%C3%A9%231&username=a+b", "a b", "p&ss+w%rd é#1"),
            ("username=x&password=first&password=last", "x", "last"),
            ("username=x&password=100%", "x", "100%"),
        ])
    func urlencodedDecoding(body: String, username: String, password: String) throws {
        let app = try AppHarness()
        #expect(app.postForm(body).status == .ok)
        try expectGrant(app, username: username, password: password)
    }

    @Test("content type parameters and case do not matter")
    func contentTypeParameters() throws {
        let app = try AppHarness()
        #expect(
            app.postForm("username=abdullah&password=pw", contentType: "Application/X-WWW-Form-URLEncoded; charset=UTF-8").status == .ok)
    }

    @Test("multipart/form-data is accepted, as FastAPI does", arguments: ["----kfc-boundary", "\"----kfc-boundary\""])
    func multipart(boundaryParameter: String) throws {
        let app = try AppHarness()
        let body = [
            "------kfc-boundary\r\n",
            "Content-Disposition: form-data; name=\"username\"\r\n\r\n",
            "abdullah\r\n",
            "------kfc-boundary\r\n",
            "Content-Disposition: form-data; name=\"password\"\r\n\r\n",
            "Test#123456 é&+\r\n",
            "------kfc-boundary--\r\n",
        ].joined()
        let response = app.postForm(body, contentType: "multipart/form-data; boundary=\(boundaryParameter)")
        #expect(response.status == .ok)
        expectBody(
            response,
            #"{"access_token":"\#(FixtureRealm.validToken())","token_type":"bearer","expires_in":300,"refresh_token":"eyJhbGciOiJIUzUxMiJ9.eyJ0eXAiOiJSZWZyZXNoIn0.c2ln","refresh_expires_in":1800,"scope":"openid email profile"}"#
        )
        try expectGrant(app, username: "abdullah", password: "Test#123456 é&+")
    }

    @Test("multipart without a boundary is 400")
    func multipartWithoutBoundary() throws {
        let app = try AppHarness()
        let response = app.postForm("username=a&password=b", contentType: "multipart/form-data")
        #expect(response.status == .badRequest)
        expectBody(response, #"{"detail":"There was an error parsing the body"}"#)
        #expect(app.provider.requests(to: .token).isEmpty)
    }

    struct Invalid: Sendable, CustomTestStringConvertible {
        let name: String
        let contentType: String?
        let body: String
        let expected: String
        var testDescription: String { name }
    }

    @Test(
        "missing fields are 422 in FastAPI's shape, without a provider call",
        arguments: [
            Invalid(
                name: "no password", contentType: "application/x-www-form-urlencoded", body: "username=abdullah",
                expected: missing("password")),
            Invalid(
                name: "no username", contentType: "application/x-www-form-urlencoded", body: "password=x", expected: missing("username")),
            Invalid(
                name: "empty body", contentType: "application/x-www-form-urlencoded", body: "", expected: missing("username", "password")),
            Invalid(
                name: "empty values", contentType: "application/x-www-form-urlencoded", body: "username=&password=",
                expected: missing("username", "password")),
            Invalid(
                name: "empty password", contentType: "application/x-www-form-urlencoded", body: "username=abdullah&password=",
                expected: missing("password")),
            Invalid(
                name: "JSON body", contentType: "application/json", body: #"{"username":"abdullah","password":"Test#123456"}"#,
                expected: missing("username", "password")),
            Invalid(
                name: "no content type", contentType: nil, body: "username=abdullah&password=x", expected: missing("username", "password")),
            Invalid(
                name: "text/plain", contentType: "text/plain", body: "username=abdullah&password=x",
                expected: missing("username", "password")),
        ])
    func missingFields(_ invalid: Invalid) throws {
        let app = try AppHarness()
        let response = app.postForm(invalid.body, contentType: invalid.contentType)
        #expect(response.status == .unprocessableContent)
        #expect(response.status.code == 422)
        expectBody(response, invalid.expected)
        #expect(response.header("Content-Type") == "application/json")
        #expect(app.provider.requests(to: .token).isEmpty)
    }

    static let invalidCredentials = #"{"detail":"Invalid username or password"}"#
    static let unavailable = #"{"detail":"Identity provider unavailable"}"#

    @Test(
        "provider failures",
        arguments: [
            ProviderAnswer(
                name: "401 invalid_grant",
                answer: .respond(.json(401, #"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#)), status: 401,
                body: invalidCredentials),
            ProviderAnswer(
                name: "400 invalid_grant (Keycloak 26.6)",
                answer: .respond(.json(400, #"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#)), status: 401,
                body: invalidCredentials),
            ProviderAnswer(
                name: "400 Account disabled",
                answer: .respond(.json(400, #"{"error":"invalid_grant","error_description":"Account disabled"}"#)), status: 401,
                body: invalidCredentials),
            ProviderAnswer(
                name: "401 unauthorized_client",
                answer: .respond(
                    .json(401, #"{"error":"unauthorized_client","error_description":"Invalid client or Invalid client credentials"}"#)),
                status: 502, body: #"{"detail":"Identity provider rejected this service's client credentials"}"#),
            ProviderAnswer(
                name: "401 invalid_client",
                answer: .respond(
                    .json(401, #"{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}"#)),
                status: 502, body: #"{"detail":"Identity provider rejected this service's client credentials"}"#),
            ProviderAnswer(name: "500 HTML", answer: .respond(.html(500)), status: 502, body: #"{"detail":"Identity provider error"}"#),
            ProviderAnswer(
                name: "400 invalid_request",
                answer: .respond(.json(400, #"{"error":"invalid_request","error_description":"Missing parameter: username"}"#)),
                status: 502, body: #"{"detail":"Identity provider error"}"#),
            ProviderAnswer(
                name: "200 HTML", answer: .respond(.html(200)), status: 502,
                body: #"{"detail":"Identity provider returned an invalid response"}"#),
            ProviderAnswer(
                name: "200 without access_token", answer: .respond(.json(200, #"{"token_type":"Bearer"}"#)), status: 502,
                body: #"{"detail":"Identity provider returned an invalid response"}"#),
            ProviderAnswer(
                name: "unreachable", answer: .fail(AuthError(.identityProviderUnavailable, "token: cannot connect")), status: 503,
                body: unavailable),
            ProviderAnswer(
                name: "timed out", answer: .fail(AuthError(.identityProviderUnavailable, "token: timed out")), status: 503,
                body: unavailable),
        ])
    func providerFailure(_ failure: ProviderAnswer) throws {
        let app = try AppHarness()
        app.provider.answer(.token, with: failure.answer)
        let response = app.postForm("username=abdullah&password=Wr0ng#pass")
        #expect(response.status.code == failure.status)
        expectBody(response, failure.body)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("WWW-Authenticate") == nil)
        for secret in [FakeKeycloak.clientSecret, "Wr0ng#pass"] {
            #expect(!response.text.contains(secret))
            #expect(!response.headers.contains { $0.value.contains(secret) })
            #expect(!"\(response.logMetadata)".contains(secret))
        }
        #expect(app.provider.requests(to: .token).count == 1)
    }

    @Test("login before discovery succeeded is 503, without a provider call")
    func beforeDiscovery() throws {
        let app = try AppHarness(discovered: false)
        let response = app.postForm("username=abdullah&password=Test#123456")
        #expect(response.status == .serviceUnavailable)
        expectBody(response, Self.unavailable)
        #expect(app.provider.requests.isEmpty)
    }

    @Test("login when every provider slot is taken is 503")
    func busy() throws {
        let app = try AppHarness(environment: ["FCGI_WORKERS": "2", "KEYCLOAK_MAX_CONCURRENT_CALLS": "1"])
        let response = try app.application.provider.limiter.withSlot("held") { () throws(AuthError) in
            app.postForm("username=abdullah&password=Test#123456")
        }
        #expect(response.status == .serviceUnavailable)
        expectBody(response, Self.unavailable)
        #expect(app.provider.requests(to: .token).isEmpty)
    }
}
