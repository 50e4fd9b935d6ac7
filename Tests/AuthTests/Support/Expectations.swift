import Auth
import TestSupport
import Testing

/// The user `FixtureRealm.claims()` describes: the article's abdullah, in session 5a6b7c8d.
func expectFixtureUser(
    _ user: AuthenticatedUser,
    roles: [String] = ["default-roles-testing", "offline_access", "uma_authorization", "account:manage-account", "account:view-profile"],
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(user.subject == FixtureRealm.subject, sourceLocation: sourceLocation)
    #expect(user.username == "abdullah", sourceLocation: sourceLocation)
    #expect(user.email == "abdullah@example.com", sourceLocation: sourceLocation)
    #expect(user.fullName == "Abdullah Alqahtani", sourceLocation: sourceLocation)
    #expect(user.sessionID == "5a6b7c8d", sourceLocation: sourceLocation)
    #expect(user.scopes == ["openid", "email", "profile"], sourceLocation: sourceLocation)
    #expect(user.roles == roles, sourceLocation: sourceLocation)
}
