import Auth
import TestSupport
import Foundation
import Testing

@testable import FCGIApp

@Suite("ProtectedHandler")
struct ProtectedHandlerTests {
    static let notAuthenticated = #"{"detail":"Not authenticated"}"#
    static let couldNotValidate = #"{"detail":"Could not validate credentials"}"#
    static let abdullah =
        #"{"preferred_username":"abdullah","email":"abdullah@example.com","full_name":"Abdullah Alqahtani","roles":["default-roles-testing","offline_access","uma_authorization","account:manage-account","account:view-profile"]}"#
    static let seconds = FixtureRealm.now.timeIntervalSince1970

    @Test(
        "no usable credentials: 401 Not authenticated with WWW-Authenticate: Bearer",
        arguments: [
            nil, "", "   ", "Basic YWJkdWxsYWg6VGVzdCMxMjM0NTY=", "Bearer", "Bearer   ", "Token abc",
        ] as [String?], ["jwks", "userinfo"])
    func notAuthenticated(authorization: String?, mode: String) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": mode])
        let response = app.get("/protected", authorization: authorization)
        #expect(response.status == .unauthorized)
        expectBody(response, Self.notAuthenticated)
        #expect(response.header("WWW-Authenticate") == "Bearer")
        #expect(response.header("Content-Type") == "application/json")
        #expect(app.provider.requests(to: .userinfo).isEmpty)
        #expect(app.provider.requests(to: .certs).isEmpty)
    }

    // MARK: jwks mode

    @Test("a valid token: 200 with the user, keys fetched through the provider once")
    func valid() throws {
        let app = try AppHarness()
        let response = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())")
        #expect(response.status == .ok)
        expectBody(response, Self.abdullah)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.header("WWW-Authenticate") == nil)
        #expect(app.provider.requests(to: .certs).count == 1)
        #expect(app.provider.requests(to: .userinfo).isEmpty)

        // Cached: the second request does not reach the provider.
        expectBody(app.get("/protected", authorization: "bearer \(FixtureRealm.validToken())"), Self.abdullah)
        #expect(app.provider.requests(to: .certs).count == 1)
    }

    @Test("email and full_name are null when the token lacks them; sub stands in for preferred_username")
    func nulls() throws {
        let app = try AppHarness()
        let bare = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken(["email": nil, "name": nil]))")
        #expect(bare.status == .ok)
        expectBody(
            bare,
            #"{"preferred_username":"abdullah","email":null,"full_name":null,"roles":["default-roles-testing","offline_access","uma_authorization","account:manage-account","account:view-profile"]}"#
        )

        let subOnly = app.get(
            "/protected", authorization: "Bearer \(FixtureRealm.validToken(["preferred_username": nil, "email": nil, "name": nil]))")
        expectBody(
            subOnly,
            #"{"preferred_username":"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0","email":null,"full_name":null,"roles":["default-roles-testing","offline_access","uma_authorization","account:manage-account","account:view-profile"]}"#
        )
    }

    @Test("Swagger's doubled prefix still works")
    func doubledPrefix() throws {
        let app = try AppHarness()
        expectBody(app.get("/protected", authorization: "Bearer Bearer \(FixtureRealm.validToken())"), Self.abdullah)
    }

    struct BadToken: Sendable, CustomTestStringConvertible {
        let name: String
        let audience: String?
        let token: @Sendable () -> String
        var testDescription: String { name }

        init(_ name: String, audience: String? = nil, token: @escaping @Sendable () -> String) {
            self.name = name
            self.audience = audience
            self.token = token
        }
    }

    @Test(
        "an unusable token: 401 Could not validate credentials with error=\"invalid_token\"",
        arguments: [
            BadToken("garbage") { "garbage" },
            BadToken("three dots of junk") { "a.b.c" },
            BadToken("expired") { FixtureRealm.validToken(["exp": seconds - 60]) },
            BadToken("not yet valid") { FixtureRealm.validToken(["nbf": seconds + 600]) },
            BadToken("forged with another key") { FixtureRealm.validToken(key: SigningKeys.rsaOther) },
            BadToken("from another issuer") { FixtureRealm.validToken(["iss": "http://keycloak:8080/realms/testing"]) },
            BadToken("a refresh token") { FixtureRealm.validToken(["typ": "Refresh"]) },
            BadToken("an ID token") { FixtureRealm.validToken(["typ": "ID", "aud": FixtureRealm.clientID]) },
            BadToken("signed with the encryption key's kid") { FixtureRealm.validToken(key: SigningKeys.rsaOther, kid: "enc-key") },
            BadToken("unknown kid") { FixtureRealm.validToken(kid: "rotated") },
            BadToken("for another client", audience: "other-api") { FixtureRealm.validToken() },
            BadToken("larger than 16 KiB") { FixtureRealm.validToken(["pad": String(repeating: "x", count: 17_000)]) },
            BadToken("no subject at all") { FixtureRealm.validToken(["preferred_username": nil, "sub": nil]) },
        ])
    func invalid(_ bad: BadToken) throws {
        let app = try AppHarness(environment: bad.audience.map { ["AUTH_AUDIENCE": $0] } ?? [:])
        let token = bad.token()
        let response = app.get("/protected", authorization: "Bearer \(token)")
        #expect(response.status == .unauthorized)
        expectBody(response, Self.couldNotValidate)
        #expect(response.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
        #expect(!"\(response.logMetadata)".contains(token))
    }

    @Test("the audience check passes via azp")
    func audienceViaAzp() throws {
        let app = try AppHarness(environment: ["AUTH_AUDIENCE": FixtureRealm.clientID])
        #expect(app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken(["aud": "account"]))").status == .ok)
    }

    @Test("the clock is the request's")
    func clock() throws {
        let app = try AppHarness()
        let token = FixtureRealm.validToken()
        #expect(app.get("/protected", authorization: "Bearer \(token)", now: FixtureRealm.now.addingTimeInterval(300 + 29)).status == .ok)
        #expect(
            app.get("/protected", authorization: "Bearer \(token)", now: FixtureRealm.now.addingTimeInterval(300 + 31)).status
                == .unauthorized)
    }

    @Test("a well-formed token before discovery is 503; junk is still 401")
    func beforeDiscovery() throws {
        let app = try AppHarness(discovered: false)
        let response = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())")
        #expect(response.status == .serviceUnavailable)
        expectBody(response, #"{"detail":"Identity provider unavailable"}"#)
        #expect(app.get("/protected", authorization: "Bearer junk").status == .unauthorized)
        #expect(app.provider.requests.isEmpty)
    }

    @Test(
        "keys cannot be fetched: 503 (the key cache reports the provider unavailable)",
        arguments: [
            (FakeKeycloak.Answer.fail(AuthError(.identityProviderUnavailable, "certs: cannot connect")), 503),
            (.respond(.html(500)), 503),
        ])
    func jwksDown(answer: FakeKeycloak.Answer, status: Int) throws {
        let app = try AppHarness()
        app.provider.answer(.certs, with: answer)
        let response = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())")
        #expect(response.status.code == status)
        expectBody(response, #"{"detail":"Identity provider unavailable"}"#)
    }

    // MARK: userinfo mode

    @Test("userinfo mode: a valid token is checked at the provider on every request")
    func userinfoValid() throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "userinfo"])
        let token = FixtureRealm.validToken()
        for round in 1...2 {
            let response = app.get("/protected", authorization: "Bearer \(token)")
            #expect(response.status == .ok)
            expectBody(response, Self.abdullah)
            #expect(app.provider.requests(to: .userinfo).count == round)
        }
        let request = try #require(app.provider.requests(to: .userinfo).first)
        #expect(request.headers.map(\.name) == ["Authorization", "traceparent"])
        #expect(request.headers.first?.value == "Bearer \(token)")
        #expect(app.provider.requests(to: .certs).isEmpty)
    }

    @Test("userinfo mode: null email and name")
    func userinfoNulls() throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "userinfo"])
        app.provider.answer(.userinfo, with: .json(200, #"{"sub":"0f1e","preferred_username":"abdullah"}"#))
        expectBody(
            app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())"),
            #"{"preferred_username":"abdullah","email":null,"full_name":null,"roles":["default-roles-testing","offline_access","uma_authorization","account:manage-account","account:view-profile"]}"#
        )
    }

    @Test(
        "userinfo and introspect modes: the provider's answers",
        arguments: [
            (
                "userinfo", FakeKeycloak.Endpoint.userinfo,
                FakeKeycloak.Answer.respond(.json(401, #"{"error":"invalid_token","error_description":"Token verification failed"}"#)),
                401, couldNotValidate
            ),
            (
                "userinfo", .userinfo, .respond(.json(403, #"{"error":"insufficient_scope","error_description":"Missing openid scope"}"#)),
                401, couldNotValidate
            ),
            ("userinfo", .userinfo, .respond(.html(500)), 502, #"{"detail":"Identity provider error"}"#),
            ("userinfo", .userinfo, .respond(.json(200, "{}")), 502, #"{"detail":"Identity provider returned an invalid response"}"#),
            (
                "userinfo", .userinfo, .fail(AuthError(.identityProviderUnavailable, "userinfo: timed out")), 503,
                #"{"detail":"Identity provider unavailable"}"#
            ),
            ("introspect", .introspect, .respond(FakeKeycloak.inactive), 401, couldNotValidate),
            ("introspect", .introspect, .respond(FakeKeycloak.introspection(["typ": "Refresh"])), 401, couldNotValidate),
            (
                "introspect", .introspect, .respond(FakeKeycloak.introspection(["iss": "http://keycloak:8080/realms/testing"])), 401,
                couldNotValidate
            ),
            ("introspect", .introspect, .respond(.html(500)), 502, #"{"detail":"Identity provider error"}"#),
            (
                "introspect", .introspect, .respond(.json(401, #"{"error":"invalid_client"}"#)), 502,
                #"{"detail":"Identity provider rejected this service's client credentials"}"#
            ),
            (
                "introspect", .introspect, .fail(AuthError(.identityProviderUnavailable, "introspect: timed out")), 503,
                #"{"detail":"Identity provider unavailable"}"#
            ),
        ])
    func providerAnswers(mode: String, endpoint: FakeKeycloak.Endpoint, answer: FakeKeycloak.Answer, status: Int, body: String) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": mode])
        app.provider.answer(endpoint, with: answer)
        let response = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())")
        #expect(response.status.code == status)
        expectBody(response, body)
        if status == 401 {
            #expect(response.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
        }
    }

    @Test(
        "userinfo and introspect modes: junk and oversized tokens are refused without a provider call",
        arguments: ["userinfo", "introspect"],
        [
            "junk", "a.b", "a..c", "a.b.c.d", "a.b.c=", "a b.c.d",
            String(repeating: "a", count: 8000) + "." + String(repeating: "b", count: 9000) + ".c",
        ])
    func junkWithoutProviderCall(mode: String, token: String) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": mode])
        let response = app.get("/protected", authorization: "Bearer \(token)")
        #expect(response.status == .unauthorized)
        expectBody(response, Self.couldNotValidate)
        #expect(app.provider.requests.filter { $0.url != FakeKeycloak.issuer + "/.well-known/openid-configuration" }.isEmpty)
    }

    @Test("userinfo mode before discovery is 503")
    func userinfoBeforeDiscovery() throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "userinfo"], discovered: false)
        let response = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())")
        #expect(response.status == .serviceUnavailable)
        #expect(app.provider.requests.isEmpty)
    }

    // MARK: Roles and requirements

    static var roleClaims: [String: Any?] {
        [
            "realm_access": ["roles": ["reader", "default-roles-testing"]],
            "resource_access": ["zeta": ["roles": ["z"]], "orders-api": ["roles": ["write", "read"]]],
        ]
    }
    static let abdullahWithRoles =
        #"{"preferred_username":"abdullah","email":"abdullah@example.com","full_name":"Abdullah Alqahtani","roles":["default-roles-testing","reader","orders-api:read","orders-api:write","zeta:z"]}"#

    @Test(
        "roles: realm roles sorted, then client roles as client:role sorted by client and role",
        arguments: ["jwks", "userinfo", "introspect"])
    func roles(mode: String) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": mode])
        app.provider.answer(.introspect, with: FakeKeycloak.introspection(Self.roleClaims))
        let response = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken(Self.roleClaims))")
        #expect(response.status == .ok)
        expectBody(response, Self.abdullahWithRoles)
    }

    @Test("no roles at all: an empty list")
    func noRoles() throws {
        let app = try AppHarness()
        expectBody(
            app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken(["realm_access": nil, "resource_access": nil]))"),
            #"{"preferred_username":"abdullah","email":"abdullah@example.com","full_name":"Abdullah Alqahtani","roles":[]}"#)
    }

    @Test(
        "AUTH_REQUIRED_ROLES / AUTH_REQUIRED_SCOPES: 403 Not enough permissions when not met",
        arguments: [
            (["AUTH_REQUIRED_ROLES": "admin"], 403),
            (["AUTH_REQUIRED_ROLES": "reader,admin"], 403),
            (["AUTH_REQUIRED_ROLES": "orders-api:delete"], 403),
            (["AUTH_REQUIRED_ROLES": "write"], 403),
            (["AUTH_REQUIRED_SCOPES": "orders:write"], 403),
            (["AUTH_REQUIRED_ROLES": "reader", "AUTH_REQUIRED_SCOPES": "openid admin"], 403),
            (["AUTH_REQUIRED_ROLES": "reader orders-api:write"], 200),
            (["AUTH_REQUIRED_SCOPES": "openid,email"], 200),
            (["AUTH_REQUIRED_ROLES": "reader", "AUTH_REQUIRED_SCOPES": "profile"], 200),
        ])
    func requirements(environment: [String: String], status: Int) throws {
        for mode in ["jwks", "introspect"] {
            let app = try AppHarness(environment: environment.merging(["AUTH_VERIFY": mode]) { $1 })
            app.provider.answer(.introspect, with: FakeKeycloak.introspection(Self.roleClaims))
            let response = app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken(Self.roleClaims))")
            #expect(response.status.code == status, "\(mode)")
            if status == 403 {
                expectBody(response, #"{"detail":"Not enough permissions"}"#)
                #expect(response.header("WWW-Authenticate") == nil)
                #expect(response.header("Content-Type") == "application/json")
            } else {
                expectBody(response, Self.abdullahWithRoles)
            }
        }
    }

    @Test("requirements do not turn a missing or bad token into 403")
    func requirementsAfterAuthentication() throws {
        let app = try AppHarness(environment: ["AUTH_REQUIRED_ROLES": "admin"])
        #expect(app.get("/protected").status == .unauthorized)
        #expect(app.get("/protected", authorization: "Bearer junk").status == .unauthorized)
    }

    // MARK: introspect mode

    @Test("introspect mode: an active token is 200 with roles; the answer is reused within the TTL")
    func introspectActive() throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "introspect"])
        let token = FixtureRealm.validToken()
        for _ in 1...2 {
            let response = app.get("/protected", authorization: "Bearer \(token)")
            #expect(response.status == .ok)
            expectBody(response, Self.abdullah)
        }
        #expect(app.provider.requests(to: .introspect).count == 1)
        #expect(app.provider.requests(to: .certs).isEmpty)
        #expect(app.provider.requests(to: .userinfo).isEmpty)
        let form = try #require(app.lastForm(to: .introspect))
        #expect(form.map(\.0) == ["client_id", "client_secret", "token", "token_type_hint"])
        #expect(form.map(\.1) == [FixtureRealm.clientID, FakeKeycloak.clientSecret, token, "access_token"])
    }

    @Test(
        "introspect mode: AUTH_INTROSPECTION_TTL_SECONDS=0 or AUTH_TOKEN_CACHE_SIZE=0 asks on every request",
        arguments: ["AUTH_INTROSPECTION_TTL_SECONDS", "AUTH_TOKEN_CACHE_SIZE"])
    func introspectUncached(key: String) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "introspect", key: "0"])
        for round in 1...3 {
            #expect(app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())").status == .ok)
            #expect(app.provider.requests(to: .introspect).count == round)
        }
    }

    @Test("jwks mode with AUTH_TOKEN_CACHE_SIZE=0 still answers (no cache)")
    func jwksWithoutCache() throws {
        let app = try AppHarness(environment: ["AUTH_TOKEN_CACHE_SIZE": "0"])
        for _ in 1...2 {
            expectBody(app.get("/protected", authorization: "Bearer \(FixtureRealm.validToken())"), Self.abdullah)
        }
    }

    @Test("a lightweight access token (no username, email, name or roles) is 401 with the reason in the challenge")
    func lightweightToken() throws {
        let app = try AppHarness()
        let token = FixtureRealm.validToken([
            "preferred_username": nil, "email": nil, "name": nil, "given_name": nil, "family_name": nil, "realm_access": nil,
            "resource_access": nil, "aud": nil, "scope": "openid",
        ])
        let response = app.get("/protected", authorization: "Bearer \(token)")
        #expect(response.status == .unauthorized)
        expectBody(response, Self.couldNotValidate)
        #expect(response.header("WWW-Authenticate")?.contains("no identity claims") == true)
        #expect(response.logMetadata["auth.error"]?.description.contains("AUTH_VERIFY=introspect") == true)
        // The gate only needs the subject: it passes there.
        #expect(app.get("/auth", authorization: "Bearer \(token)").status == .noContent)
    }
}
