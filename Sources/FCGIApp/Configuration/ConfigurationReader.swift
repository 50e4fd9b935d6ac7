import Auth
import FoundationEssentials
import Logging

/// Reads typed values from the merged environment and `.env`, and collects every problem
/// instead of stopping at the first, so one message names every bad or missing key.
struct ConfigurationReader {
    let values: [String: String]
    /// Reads files named by keys (`KEYCLOAK_CLIENT_SECRET_FILE`, `KEYCLOAK_CA_FILE`).
    let readFile: (String) -> String?
    private(set) var problems: [ConfigurationError.Problem] = []

    init(values: [String: String], readFile: @escaping (String) -> String?) {
        self.values = values
        self.readFile = readFile
    }

    mutating func problem(_ key: String, _ reason: String) {
        problems.append(.init(key: key, reason: reason))
    }

    /// The value, or nil when unset or blank.
    func optional(_ key: String) -> String? {
        guard let value = values[key]?.trimmingWhitespace, !value.isEmpty else { return nil }
        return value
    }

    mutating func required(_ key: String) -> String? {
        guard let value = optional(key) else {
            problem(key, "missing")
            return nil
        }
        return value
    }

    /// An http(s) URL with a host, without trailing slashes.
    mutating func httpURL(_ text: String, key: String) -> String? {
        var trimmed = Substring(text)
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let components = URLComponents(string: String(trimmed)),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty,
            components.query == nil, components.fragment == nil
        else {
            problem(key, "must be an http:// or https:// URL with a host")
            return nil
        }
        return String(trimmed)
    }

    mutating func integer(_ key: String, default defaultValue: Int, range: ClosedRange<Int>) -> Int {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            problem(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return defaultValue
        }
        return value
    }

    mutating func seconds(_ key: String, default defaultValue: Double, range: ClosedRange<Double>) -> Double {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Double(text), value.isFinite, range.contains(value) else {
            problem(key, "must be a number of seconds from \(range.lowerBound) to \(range.upperBound)")
            return defaultValue
        }
        return value
    }

    mutating func octal(_ key: String, default defaultValue: Int) -> Int {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Int(text, radix: 8), (0...0o777).contains(value) else {
            problem(key, "must be octal permissions such as 660")
            return defaultValue
        }
        return value
    }

    mutating func boolean(_ key: String, default defaultValue: Bool) -> Bool {
        guard let text = optional(key) else { return defaultValue }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            problem(key, "must be true or false")
            return defaultValue
        }
    }

    mutating func choice<Value: RawRepresentable & CaseIterable>(_ key: String, default defaultValue: Value) -> Value
    where Value.RawValue == String {
        guard let text = optional(key) else { return defaultValue }
        guard let value = Value(rawValue: text.lowercased()) else {
            problem(key, "must be one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")
            return defaultValue
        }
        return value
    }

    /// A list separated by commas or spaces.
    func list(_ key: String) -> [String] {
        AuthorizationPolicy.list(optional(key))
    }
}
