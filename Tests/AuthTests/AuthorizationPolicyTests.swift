import Auth
import Testing

@Suite("AuthorizationPolicy")
struct AuthorizationPolicyTests {
    static func user(roles: [String] = [], scopes: [String] = []) -> AuthenticatedUser {
        AuthenticatedUser(subject: "0f1e", username: "abdullah", email: nil, fullName: nil, roles: roles, scopes: scopes)
    }

    static let abdullah = user(
        roles: ["offline_access", "default-roles-testing", "account:manage-account", "app:editor"],
        scopes: ["openid", "email", "profile"])

    @Test(
        "lists are separated by commas or spaces; empty items and unset values are nothing",
        arguments: [
            ("admin", ["admin"]),
            ("admin,editor", ["admin", "editor"]),
            ("admin editor", ["admin", "editor"]),
            (" admin , app:editor  x,,y ", ["admin", "app:editor", "x", "y"]),
            ("", []),
            (" , ", []),
            (nil, []),
        ] as [(String?, [String])])
    func parsing(text: String?, expected: [String]) {
        #expect(AuthorizationPolicy(roles: text, scopes: nil).requiredRoles == expected)
        #expect(AuthorizationPolicy(roles: nil, scopes: text).requiredScopes == expected)
        #expect(AuthorizationPolicy(roles: text, scopes: text).isEmpty == expected.isEmpty)
    }

    @Test("unset lists are the same as .none")
    func unsetIsNone() {
        #expect(AuthorizationPolicy(roles: nil, scopes: nil) == .none)
        #expect(AuthorizationPolicy(roles: "", scopes: " ") == .none)
        #expect(AuthorizationPolicy.none.isEmpty)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let roles: String?
        let scopes: String?
        /// What `missing(for: abdullah)` names; empty when he passes.
        let missing: [String]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "nothing required", roles: nil, scopes: nil, missing: []),
        Case(name: "one realm role he has", roles: "offline_access", scopes: nil, missing: []),
        Case(name: "all of several roles he has", roles: "offline_access,default-roles-testing app:editor", scopes: nil, missing: []),
        Case(name: "one of two roles missing", roles: "offline_access,admin", scopes: nil, missing: ["role admin"]),
        Case(name: "both roles missing, in order", roles: "admin,auditor", scopes: nil, missing: ["role admin", "role auditor"]),
        Case(name: "a client role as client:name", roles: "account:manage-account", scopes: nil, missing: []),
        Case(name: "a client role of another client", roles: "other:editor", scopes: nil, missing: ["role other:editor"]),
        Case(name: "a client role's bare name is not a realm role", roles: "editor", scopes: nil, missing: ["role editor"]),
        Case(name: "a realm role is not a client role", roles: "app:offline_access", scopes: nil, missing: ["role app:offline_access"]),
        Case(name: "roles are case-sensitive", roles: "Offline_Access", scopes: nil, missing: ["role Offline_Access"]),
        Case(name: "scopes he has", roles: nil, scopes: "openid email", missing: []),
        Case(name: "a scope missing", roles: nil, scopes: "email write:orders", missing: ["scope write:orders"]),
        Case(name: "a scope name is not a role", roles: "email", scopes: nil, missing: ["role email"]),
        Case(
            name: "roles and scopes missing together", roles: "admin", scopes: "openid admin-scope",
            missing: ["role admin", "scope admin-scope"]),
    ]

    @Test("all listed roles and scopes are required; missing(for:) names what is missing", arguments: cases)
    func requirement(_ testCase: Case) {
        let policy = AuthorizationPolicy(roles: testCase.roles, scopes: testCase.scopes)
        #expect(policy.missing(for: Self.abdullah) == testCase.missing)
        if testCase.missing.isEmpty {
            #expect(throws: Never.self) { try policy.check(Self.abdullah) }
        } else {
            let error = #expect(throws: AuthError.self) { try policy.check(Self.abdullah) }
            #expect(error?.code == .insufficientPermissions)
            for item in testCase.missing {
                #expect(error?.context.contains(item) == true, "context names \(item)")
            }
        }
    }

    @Test(".none passes everyone, even a user without roles or scopes", arguments: [user(), abdullah])
    func nonePassesEveryone(user: AuthenticatedUser) {
        #expect(AuthorizationPolicy.none.missing(for: user).isEmpty)
        #expect(throws: Never.self) { try AuthorizationPolicy.none.check(user) }
    }

    @Test("a user without roles fails any role requirement")
    func noRoles() {
        let error = #expect(throws: AuthError.self) {
            try AuthorizationPolicy(roles: "default-roles-testing", scopes: nil).check(Self.user())
        }
        #expect(error?.code == .insufficientPermissions)
    }

    @Test("the error's context stays short however much is missing")
    func boundedContext() {
        let roles = (0..<200).map { "role-\($0)" }.joined(separator: ",")
        let error = #expect(throws: AuthError.self) { try AuthorizationPolicy(roles: roles, scopes: nil).check(Self.user()) }
        #expect((error?.context.count ?? .max) <= 200)
        #expect(error?.context.hasPrefix("role role-0, role role-1") == true)
    }
}
