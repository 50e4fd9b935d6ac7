import Auth
import TestSupport
import Testing

@testable import FCGIApp

@Suite("LogoutHandler")
struct LogoutHandlerTests {
    static let missingRefreshToken =
        #"{"detail":[{"type":"missing","loc":["body","refresh_token"],"msg":"Field required","input":null}]}"#
    static let couldNotValidate = #"{"detail":"Could not validate credentials"}"#

    @Test("a live refresh token: 204 with an empty body, the session ended at the end-session endpoint")
    func loggedOut() throws {
        let app = try AppHarness()
        let refreshToken = FixtureRealm.refreshToken(sid: "s-1")
        let response = app.post("/logout", form: "refresh_token=\(refreshToken)")
        #expect(response.status == .noContent)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Type") == nil)
        #expect(response.header("Cache-Control") == "no-store")
        let form = try #require(app.lastForm(to: .logout))
        #expect(form.map(\.0) == ["client_id", "client_secret", "refresh_token"])
        #expect(form.map(\.1) == [FixtureRealm.clientID, FakeKeycloak.clientSecret, refreshToken])
        #expect(app.provider.requests(to: .logout).map(\.method) == [.post])
    }

    @Test("a dead refresh token: 401 Invalid or expired refresh token", arguments: [400, 401])
    func deadRefreshToken(status: Int) throws {
        let app = try AppHarness()
        app.provider.answer(.logout, with: .json(status, #"{"error":"invalid_grant","error_description":"Invalid refresh token"}"#))
        let response = app.post("/logout", form: "refresh_token=\(FixtureRealm.refreshToken(sid: "s-1"))")
        #expect(response.status == .unauthorized)
        expectBody(response, #"{"detail":"Invalid or expired refresh token"}"#)
        #expect(response.header("WWW-Authenticate") == nil)
    }

    @Test("a bearer token from the same session: 204", arguments: ["jwks", "introspect", "userinfo"])
    func sameSession(mode: String) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": mode])
        app.provider.answer(.introspect, with: FakeKeycloak.introspection(["sid": "s-1"]))
        let response = app.post(
            "/logout", form: "refresh_token=\(FixtureRealm.refreshToken(sid: "s-1"))",
            authorization: "Bearer \(FixtureRealm.validToken(["sid": "s-1"]))")
        #expect(response.status == .noContent)
        #expect(response.body.isEmpty)
        #expect(app.provider.requests(to: .logout).count == 1)
    }

    @Test("a bearer token from another session: 401 invalid_token, and the session is not touched")
    func otherSession() throws {
        let app = try AppHarness()
        let response = app.post(
            "/logout", form: "refresh_token=\(FixtureRealm.refreshToken(sid: "s-1"))",
            authorization: "Bearer \(FixtureRealm.validToken(["sid": "s-2"]))")
        #expect(response.status == .unauthorized)
        expectBody(response, Self.couldNotValidate)
        #expect(response.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
        #expect(app.provider.requests(to: .logout).isEmpty)
    }

    @Test(
        "an unusable bearer token: 401, and the session is not touched",
        arguments: [
            ("Bearer \(FixtureRealm.validToken(["sid": "s-1", "exp": FixtureRealm.now.timeIntervalSince1970 - 60]))", couldNotValidate),
            ("Bearer \(FixtureRealm.validToken(["sid": "s-1"], key: SigningKeys.rsaOther))", couldNotValidate),
            ("Bearer junk", couldNotValidate),
            ("Basic YWJkdWxsYWg6cHc=", #"{"detail":"Not authenticated"}"#),
        ])
    func badBearer(authorization: String, body: String) throws {
        let app = try AppHarness()
        let response = app.post("/logout", form: "refresh_token=\(FixtureRealm.refreshToken(sid: "s-1"))", authorization: authorization)
        #expect(response.status == .unauthorized)
        expectBody(response, body)
        #expect(app.provider.requests(to: .logout).isEmpty)
    }

    @Test(
        "no refresh_token: 422, without a provider call",
        arguments: ["", "refresh_token=", "token=x.y.z"])
    func missing(body: String) throws {
        let app = try AppHarness()
        let response = app.post("/logout", form: body, authorization: "Bearer \(FixtureRealm.validToken())")
        #expect(response.status.code == 422)
        expectBody(response, Self.missingRefreshToken)
        #expect(app.provider.requests(to: .logout).isEmpty)
        #expect(app.provider.requests(to: .certs).isEmpty)
    }

    @Test(
        "provider failures",
        arguments: [
            (FakeKeycloak.Answer.respond(.html(500)), 502),
            (.respond(.json(401, #"{"error":"unauthorized_client"}"#)), 502),
            (.fail(AuthError(.identityProviderUnavailable, "logout: timed out")), 503),
        ])
    func providerFailure(answer: FakeKeycloak.Answer, status: Int) throws {
        let app = try AppHarness()
        app.provider.answer(.logout, with: answer)
        #expect(app.post("/logout", form: "refresh_token=\(FixtureRealm.refreshToken(sid: "s-1"))").status.code == status)
    }

    @Test(
        "a repeated logout in introspect mode: the bearer died with its session, the same session still gets 204",
        arguments: [("s-1", 204), ("s-2", 401)])
    func repeatedLogoutWithDeadBearer(bearerSession: String, status: Int) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "introspect"])
        app.provider.answer(.introspect, with: FakeKeycloak.inactive)
        let response = app.post(
            "/logout", form: "refresh_token=\(FixtureRealm.refreshToken(sid: "s-1"))",
            authorization: "Bearer \(FixtureRealm.validToken(["sid": bearerSession]))")
        #expect(response.status.code == status)
        #expect(app.provider.requests(to: .logout).count == (status == 204 ? 1 : 0))
    }

    @Test("a refresh token forged, of another type or another client's (Keycloak: 400 invalid_grant): 401")
    func foreignRefreshToken() throws {
        let app = try AppHarness()
        app.provider.answer(
            .logout,
            with: .json(
                400,
                #"{"error":"invalid_grant","error_description":"Invalid refresh token. Token client and authorized client don't match"}"#))
        let response = app.post("/logout", form: "refresh_token=\(FixtureRealm.refreshToken(sid: "s-1"))")
        #expect(response.status == .unauthorized)
        expectBody(response, #"{"detail":"Invalid or expired refresh token"}"#)
    }

    @Test("GET /logout is 405 with Allow: POST")
    func methodNotAllowed() throws {
        let response = try AppHarness().get("/logout")
        #expect(response.status == .methodNotAllowed)
        #expect(response.header("Allow") == "POST")
    }
}
