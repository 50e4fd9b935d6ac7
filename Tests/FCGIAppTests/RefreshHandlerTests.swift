import Auth
import TestSupport
import Testing

@testable import FCGIApp

@Suite("RefreshHandler")
struct RefreshHandlerTests {
    static let missingRefreshToken =
        #"{"detail":[{"type":"missing","loc":["body","refresh_token"],"msg":"Field required","input":null}]}"#
    static let invalidRefreshToken = #"{"detail":"Invalid or expired refresh token"}"#

    @Test("a live refresh token: 200 in /login's shape, keys in order, never cached")
    func refreshed() throws {
        let app = try AppHarness()
        let refreshToken = FixtureRealm.refreshToken(sid: "s-1")
        let response = app.post("/refresh", form: "refresh_token=\(refreshToken)")
        #expect(response.status == .ok)
        expectBody(
            response,
            #"{"access_token":"\#(FixtureRealm.validToken())","token_type":"bearer","expires_in":300,"refresh_token":"eyJhbGciOiJIUzUxMiJ9.eyJ0eXAiOiJSZWZyZXNoIn0.c2ln","refresh_expires_in":1800,"scope":"openid email profile"}"#
        )
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("Cache-Control") == "no-store")
        #expect(response.header("Pragma") == "no-cache")

        let form = try #require(app.lastForm(to: .token))
        #expect(form.map(\.0) == ["client_id", "client_secret", "grant_type", "refresh_token"])
        #expect(form.map(\.1) == [FixtureRealm.clientID, FakeKeycloak.clientSecret, "refresh_token", refreshToken])
        #expect(app.provider.requests(to: .token).count == 1)
    }

    @Test("multipart works as for /login")
    func multipart() throws {
        let app = try AppHarness()
        let body = "--b\r\nContent-Disposition: form-data; name=\"refresh_token\"\r\n\r\nx.y.z\r\n--b--\r\n"
        #expect(app.post("/refresh", form: body, contentType: "multipart/form-data; boundary=b").status == .ok)
        #expect(app.lastForm(to: .token)?.last?.1 == "x.y.z")
    }

    @Test(
        "no refresh_token: 422 in FastAPI's shape, without a provider call",
        arguments: [
            ("", "application/x-www-form-urlencoded"),
            ("refresh_token=", "application/x-www-form-urlencoded"),
            ("refresh=x.y.z", "application/x-www-form-urlencoded"),
            (#"{"refresh_token":"x.y.z"}"#, "application/json"),
        ])
    func missing(body: String, contentType: String) throws {
        let app = try AppHarness()
        let response = app.post("/refresh", form: body, contentType: contentType)
        #expect(response.status.code == 422)
        expectBody(response, Self.missingRefreshToken)
        #expect(app.provider.requests(to: .token).isEmpty)
    }

    @Test(
        "provider answers",
        arguments: [
            ProviderAnswer(
                name: "400 invalid_grant (expired)",
                answer: .respond(.json(400, #"{"error":"invalid_grant","error_description":"Token is not active"}"#)), status: 401,
                body: invalidRefreshToken),
            ProviderAnswer(
                name: "400 invalid_grant (session ended)",
                answer: .respond(.json(400, #"{"error":"invalid_grant","error_description":"Session not active"}"#)), status: 401,
                body: invalidRefreshToken),
            ProviderAnswer(
                name: "401 unauthorized_client", answer: .respond(.json(401, #"{"error":"unauthorized_client"}"#)), status: 502,
                body: #"{"detail":"Identity provider rejected this service's client credentials"}"#),
            ProviderAnswer(name: "500", answer: .respond(.html(500)), status: 502, body: #"{"detail":"Identity provider error"}"#),
            ProviderAnswer(
                name: "unreachable", answer: .fail(AuthError(.identityProviderUnavailable, "token: timed out")), status: 503,
                body: #"{"detail":"Identity provider unavailable"}"#),
        ])
    func providerAnswers(_ case: ProviderAnswer) throws {
        let app = try AppHarness()
        app.provider.answer(.token, with: `case`.answer)
        let refreshToken = FixtureRealm.refreshToken(sid: "s-1")
        let response = app.post("/refresh", form: "refresh_token=\(refreshToken)")
        #expect(response.status.code == `case`.status)
        expectBody(response, `case`.body)
        #expect(response.header("WWW-Authenticate") == nil)
        #expect(!response.text.contains(refreshToken))
        #expect(!"\(response.logMetadata)".contains(refreshToken))
    }

    @Test("before discovery: 503 without a provider call")
    func beforeDiscovery() throws {
        let app = try AppHarness(discovered: false)
        let response = app.post("/refresh", form: "refresh_token=x.y.z")
        #expect(response.status == .serviceUnavailable)
        #expect(app.provider.requests.isEmpty)
    }

    @Test("GET /refresh is 405 with Allow: POST")
    func methodNotAllowed() throws {
        let response = try AppHarness().get("/refresh")
        #expect(response.status == .methodNotAllowed)
        #expect(response.header("Allow") == "POST")
    }
}
