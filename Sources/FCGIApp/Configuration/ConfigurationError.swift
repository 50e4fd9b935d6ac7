/// Every problem found in the configuration, reported together in one message.
package struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// One bad or missing key and what is wrong with it. Never the value of a secret.
    struct Problem: Equatable, Sendable {
        let key: String
        let reason: String
    }

    let problems: [Problem]

    init(problems: [Problem]) {
        self.problems = problems
    }

    init(key: String, reason: String) {
        self.problems = [Problem(key: key, reason: reason)]
    }

    var keys: [String] { problems.map(\.key) }

    package var description: String {
        "invalid configuration: " + problems.map { "\($0.key): \($0.reason)" }.joined(separator: "; ")
    }
}
