/// Every problem found in the configuration, reported together in one message.
struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    /// One problem per bad or missing key: the key's name and what is wrong. Never the value
    /// of a secret.
    let problems: [(key: String, reason: String)]

    var keys: [String] { problems.map(\.key) }

    var description: String {
        "invalid configuration: "
            + problems.map { "\($0.key): \($0.reason)" }.joined(separator: "; ")
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.description == rhs.description
    }
}
