import Auth
import TestSupport
import Testing

@testable import FCGIApp

/// `GET /auth`, the nginx `auth_request` check.
@Suite("AuthGateHandler")
struct AuthGateHandlerTests {
    static var roles: [String: Any?] {
        [
            "realm_access": ["roles": ["default-roles-testing", "reader"]],
            "resource_access": ["orders-api": ["roles": ["write"]], "account": ["roles": ["view-profile"]]],
        ]
    }

    func gate(_ app: AppHarness, _ authorization: String?, roles: String? = nil, scopes: String? = nil) -> HTTPResponse {
        var parameters: [String: String] = [:]
        parameters["AUTH_REQUIRED_ROLES"] = roles
        parameters["AUTH_REQUIRED_SCOPES"] = scopes
        return app.send(HTTPRequest(method: "GET", path: "/auth", authorization: authorization, parameters: parameters))
    }

    @Test("a valid token: 204, the identity in X-Auth-* headers, no body", arguments: ["jwks", "introspect", "userinfo"])
    func allowed(mode: String) throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": mode])
        app.provider.answer(.introspect, with: FakeKeycloak.introspection(Self.roles))
        let response = gate(app, "Bearer \(FixtureRealm.validToken(Self.roles))")
        #expect(response.status == .noContent)
        #expect(response.body.isEmpty)
        #expect(response.header("X-Auth-Username") == "abdullah")
        #expect(response.header("X-Auth-Subject") == FixtureRealm.subject)
        #expect(response.header("X-Auth-Email") == "abdullah@example.com")
        #expect(response.header("X-Auth-Roles") == "default-roles-testing,reader,account:view-profile,orders-api:write")
        #expect(response.header("Cache-Control") == "no-store")
        #expect(response.header("Content-Type") == nil)
    }

    @Test("no email: no X-Auth-Email header at all; no roles: an empty X-Auth-Roles")
    func noEmail() throws {
        let app = try AppHarness()
        let response = gate(app, "Bearer \(FixtureRealm.validToken(["email": nil, "realm_access": nil, "resource_access": nil]))")
        #expect(response.status == .noContent)
        #expect(!response.headers.contains { $0.name.lowercased() == "x-auth-email" })
        #expect(response.header("X-Auth-Username") == "abdullah")
        #expect(response.header("X-Auth-Roles") == "")
    }

    @Test(
        "no credentials: 401 Not authenticated with WWW-Authenticate: Bearer", arguments: [nil, "", "Basic YTpi", "Bearer "] as [String?])
    func notAuthenticated(authorization: String?) throws {
        let app = try AppHarness()
        let response = gate(app, authorization)
        #expect(response.status == .unauthorized)
        expectBody(response, #"{"detail":"Not authenticated"}"#)
        // Not the seed's /protected: the gate's challenge also offers DPoP (RFC 9449 §7.1); no
        // resource_metadata here, as the request names no host.
        #expect(response.header("WWW-Authenticate") == #"Bearer, DPoP algs="ES256 ES384 PS256 PS384 PS512 RS256 RS384 RS512""#)
        #expect(response.header("X-Auth-Username") == nil)
    }

    @Test(
        "an unusable token: 401 with error=\"invalid_token\"",
        arguments: [
            "junk", FixtureRealm.validToken(["exp": FixtureRealm.now.timeIntervalSince1970 - 60]),
            FixtureRealm.validToken(key: SigningKeys.rsaOther),
            FixtureRealm.validToken(["typ": "Refresh"]), FixtureRealm.validToken(["iss": "https://evil.example.com/realms/testing"]),
        ])
    func invalidToken(token: String) throws {
        let app = try AppHarness()
        let response = gate(app, "Bearer \(token)")
        #expect(response.status == .unauthorized)
        expectBody(response, #"{"detail":"Could not validate credentials"}"#)
        #expect(response.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
        #expect(response.header("X-Auth-Username") == nil)
    }

    struct Requirement: Sendable, CustomTestStringConvertible {
        let name: String
        /// `AUTH_REQUIRED_ROLES` / `AUTH_REQUIRED_SCOPES` of the configuration.
        let configuredRoles: String?
        let configuredScopes: String?
        /// The FastCGI params of the request.
        let roles: String?
        let scopes: String?
        let allowed: Bool
        var testDescription: String { "\(name) → \(allowed ? 204 : 403)" }

        init(
            _ name: String, configuredRoles: String? = nil, configuredScopes: String? = nil, roles: String? = nil, scopes: String? = nil,
            allowed: Bool
        ) {
            self.name = name
            self.configuredRoles = configuredRoles
            self.configuredScopes = configuredScopes
            self.roles = roles
            self.scopes = scopes
            self.allowed = allowed
        }
    }

    static let requirements: [Requirement] = [
        Requirement("nothing required anywhere", allowed: true),
        Requirement("request roles he has", roles: "reader,orders-api:write", allowed: true),
        Requirement("a request role he lacks", roles: "reader admin", allowed: false),
        Requirement("a client role of another client", roles: "billing:write", allowed: false),
        Requirement("request scopes he has", scopes: "openid profile", allowed: true),
        Requirement("a request scope he lacks", scopes: "orders:write", allowed: false),
        Requirement("configured roles apply when the request has none", configuredRoles: "admin", allowed: false),
        Requirement("configured roles he has", configuredRoles: "reader", allowed: true),
        Requirement("configured scopes apply when the request has none", configuredScopes: "orders:write", allowed: false),
        Requirement("request roles override configured roles", configuredRoles: "admin", roles: "reader", allowed: true),
        Requirement("request roles override even when stricter", configuredRoles: "reader", roles: "admin", allowed: false),
        Requirement(
            "request scopes alone override configured roles", configuredRoles: "admin", scopes: "openid", allowed: true),
        Requirement(
            "request roles override configured scopes", configuredScopes: "orders:write", roles: "reader", allowed: true),
        // nginx sends both params even when a location sets them empty: that means "any valid token".
        Requirement("empty request lists replace the configured ones", configuredRoles: "admin", roles: "", scopes: "", allowed: true),
    ]

    @Test("requirements: the request's when it has any, else the configured ones", arguments: requirements)
    func requirement(_ requirement: Requirement) throws {
        var environment: [String: String] = [:]
        environment["AUTH_REQUIRED_ROLES"] = requirement.configuredRoles
        environment["AUTH_REQUIRED_SCOPES"] = requirement.configuredScopes
        let app = try AppHarness(environment: environment)
        let response = gate(app, "Bearer \(FixtureRealm.validToken(Self.roles))", roles: requirement.roles, scopes: requirement.scopes)
        if requirement.allowed {
            #expect(response.status == .noContent)
            #expect(response.header("X-Auth-Username") == "abdullah")
        } else {
            #expect(response.status == .forbidden)
            expectBody(response, #"{"detail":"Not enough permissions"}"#)
            #expect(response.header("WWW-Authenticate") == nil)
            #expect(response.header("X-Auth-Username") == nil)
        }
    }

    @Test(
        "a claim with CR, LF or other control characters cannot inject a header",
        arguments: [
            ("preferred_username", "abdullah\r\nX-Admin: 1", "X-Auth-Username", "abdullahX-Admin: 1"),
            ("email", "a@example.com\nSet-Cookie: s=1", "X-Auth-Email", "a@example.comSet-Cookie: s=1"),
            ("sub", "0f1e\r\n\r\n<html>", "X-Auth-Subject", "0f1e<html>"),
            ("preferred_username", "tab\there\u{7F}\u{0}", "X-Auth-Username", "tabhere"),
        ])
    func headerInjection(claim: String, value: String, header: String, expected: String) throws {
        let app = try AppHarness()
        let response = gate(app, "Bearer \(FixtureRealm.validToken([claim: value]))")
        #expect(response.status == .noContent)
        #expect(response.header(header) == expected)
        for field in response.headers {
            #expect(!field.value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(field.name)")
        }
    }

    @Test("a role with a line break is sanitized too")
    func roleInjection() throws {
        let app = try AppHarness()
        let response = gate(
            app, "Bearer \(FixtureRealm.validToken(["realm_access": ["roles": ["reader\r\nX-Admin: 1", "b"]], "resource_access": nil]))")
        #expect(response.header("X-Auth-Roles") == "b,readerX-Admin: 1")
    }

    @Test("introspect mode: an inactive token is 401 invalid_token")
    func introspectInactive() throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "introspect"])
        app.provider.answer(.introspect, with: FakeKeycloak.inactive)
        let response = gate(app, "Bearer \(FixtureRealm.validToken())")
        #expect(response.status == .unauthorized)
        #expect(response.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
    }

    @Test("before discovery a well-formed token is 503")
    func beforeDiscovery() throws {
        let app = try AppHarness(discovered: false)
        #expect(gate(app, "Bearer \(FixtureRealm.validToken())").status == .serviceUnavailable)
    }

    @Test("POST /auth is 405 with Allow: GET, HEAD; HEAD /auth answers like GET")
    func methods() throws {
        let app = try AppHarness()
        let post = app.send(HTTPRequest(method: "POST", path: "/auth"))
        #expect(post.status == .methodNotAllowed)
        #expect(post.header("Allow") == "GET, HEAD")
        let head = app.send(HTTPRequest(method: "HEAD", path: "/auth", authorization: "Bearer \(FixtureRealm.validToken())"))
        #expect(head.status == .noContent)
        #expect(head.header("X-Auth-Username") == "abdullah")
    }
}
