import Foundation
import TestSupport
import Testing

@testable import Auth

@Suite("AuthenticatedUser")
struct AuthenticatedUserTests {
    static func user(_ json: String) throws -> AuthenticatedUser {
        try AuthenticatedUser(claims: JSONDecoder().decode(AccessTokenClaims.self, from: Data(json.utf8)))
    }

    @Test("a Keycloak access token: identity, roles, scopes and session")
    func keycloakToken() throws {
        var claims = FixtureRealm.claims()
        claims["resource_access"] = [
            "zeta-api": ["roles": ["z"]], "account": ["roles": ["manage-account", "view-profile"]], "app": ["roles": ["editor"]],
        ]
        let user = try AuthenticatedUser(claims: JSONDecoder().decode(AccessTokenClaims.self, from: Data(JSON.bytes(claims))))
        expectFixtureUser(
            user,
            roles: [
                "default-roles-testing", "offline_access", "uma_authorization",
                "account:manage-account", "account:view-profile", "app:editor", "zeta-api:z",
            ])
        #expect(user.carriesIdentity)
    }

    @Test(
        "roles: realm roles sorted, then client roles as client:role sorted by client and role (Keycloak's roles are sets)",
        arguments: [
            (#"{"sub":"s"}"#, [String]()),
            (#"{"sub":"s","realm_access":{"roles":["b","a"]}}"#, ["a", "b"]),
            (
                #"{"sub":"s","realm_access":{"roles":["user","default-roles-testing","offline_access"]}}"#,
                ["default-roles-testing", "offline_access", "user"]
            ),
            (#"{"sub":"s","realm_access":{}}"#, []),
            (
                #"{"sub":"s","resource_access":{"b-client":{"roles":["y","x"]},"a-client":{"roles":["z"]}}}"#,
                ["a-client:z", "b-client:x", "b-client:y"]
            ),
            (#"{"sub":"s","resource_access":{"app":{}},"realm_access":{"roles":["r"]}}"#, ["r"]),
            (
                #"{"sub":"s","realm_access":{"roles":["r"]},"resource_access":{"Z":{"roles":["1"]},"a":{"roles":["2"]}}}"#,
                ["r", "Z:1", "a:2"]
            ),
            (
                #"{"sub":"s","realm_access":{"roles":["app:editor"]},"resource_access":{"app":{"roles":["editor"]}}}"#,
                ["app:editor", "app:editor"]
            ),
        ])
    func roles(json: String, expected: [String]) throws {
        #expect(try Self.user(json).roles == expected)
    }

    @Test(
        "scopes are the scope claim split on spaces",
        arguments: [
            (#"{"sub":"s","scope":"openid email profile"}"#, ["openid", "email", "profile"]),
            (#"{"sub":"s","scope":"  openid   email "}"#, ["openid", "email"]),
            (#"{"sub":"s","scope":""}"#, []),
            (#"{"sub":"s"}"#, []),
            (#"{"sub":"s","scope":"write:orders"}"#, ["write:orders"]),
        ])
    func scopes(json: String, expected: [String]) throws {
        #expect(try Self.user(json).scopes == expected)
    }

    @Test("sub stands in for preferred_username; without both the token is refused")
    func username() throws {
        #expect(try Self.user(#"{"sub":"0f1e"}"#).username == "0f1e")
        #expect(try Self.user(#"{"preferred_username":"abdullah"}"#).subject == nil)
        let error = #expect(throws: AuthError.self) { try Self.user(#"{"email":"a@example.com"}"#) }
        #expect(error?.code == .missingClaim)
    }

    @Test("no sid, email or name: nil")
    func optionals() throws {
        let user = try Self.user(#"{"sub":"0f1e","preferred_username":"abdullah"}"#)
        #expect(user.sessionID == nil)
        #expect(user.email == nil)
        #expect(user.fullName == nil)
    }

    @Test(
        "a token that names nobody beyond sub (a lightweight access token) does not carry identity",
        arguments: [
            (#"{"sub":"s","scope":"openid","sid":"x"}"#, false),
            (#"{"sub":"s","preferred_username":"u"}"#, true),
            (#"{"sub":"s","email":"u@example.com"}"#, true),
            (#"{"sub":"s","name":"U"}"#, true),
            (#"{"sub":"s","given_name":"U"}"#, true),
            (#"{"sub":"s","realm_access":{"roles":[]}}"#, true),
            (#"{"sub":"s","resource_access":{}}"#, true),
        ])
    func carriesIdentity(json: String, expected: Bool) throws {
        // Keycloak 26's lightweight token has no sub either: that is noIdentityClaims, not missingClaim.
        let lightweight = #expect(throws: AuthError.self) { try Self.user(#"{"scope":"openid","sid":"x","typ":"Bearer"}"#) }
        #expect(lightweight?.code == .noIdentityClaims)
        #expect(try Self.user(json).carriesIdentity == expected)
    }
}
