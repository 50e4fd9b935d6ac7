import Auth
import TestSupport
import Testing

/// One row of a "how the provider's answer reaches the client" table: what the fake Keycloak
/// answers (or how the call fails), and the status and body the client must get.
struct ProviderAnswer: Sendable, CustomTestStringConvertible {
    let name: String
    let answer: FakeKeycloak.Answer
    let status: Int
    let body: String
    var testDescription: String { "\(name) → \(status)" }
}
