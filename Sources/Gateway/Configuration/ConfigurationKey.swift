import Auth
import Logging

/// One configuration key with everything about it in one place: its name, its default as
/// documented, what it means, how it is read, and how `--check-config` shows it.
/// `AppConfiguration.keys` lists them all; loading, the redacted summary and the README's
/// configuration table are derived from that list (a test compares the README with it).
struct ConfigurationKey {
    /// The environment variable.
    let name: String
    /// The default as the README shows it (Markdown; "—" when there is none).
    let defaultText: String
    /// The README's "Meaning" column (Markdown).
    let meaning: String
    /// Reads the key into the configuration being built; problems go to the reader. Keys read
    /// in the table's order, so a key may rely on the ones above it.
    let read: (inout ConfigurationReader, inout AppConfiguration) -> Void
    /// The value as `--check-config` prints it, secrets redacted; nil when another key's line
    /// shows its effect (e.g. `KEYCLOAK_REALM` through `KEYCLOAK_ISSUER`).
    let show: (AppConfiguration) -> String?

    /// The README row.
    var markdownRow: String { "| `\(name)` | \(defaultText) | \(meaning) |" }
}

// Constructors for the common kinds: each states the default once, as a value, and derives its
// documentation from it.
extension ConfigurationKey {
    static func integer(
        _ name: String, default value: Int, range: ClosedRange<Int>, _ path: WritableKeyPath<AppConfiguration, Int>, _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, defaultText: "`\(value)`", meaning: meaning,
            read: { reader, configuration in configuration[keyPath: path] = reader.integer(name, default: value, range: range) },
            show: { "\($0[keyPath: path])" })
    }

    static func seconds(
        _ name: String, default value: Double, range: ClosedRange<Double>, _ path: WritableKeyPath<AppConfiguration, Double>,
        _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, defaultText: "`\(Self.number(value))`", meaning: meaning,
            read: { reader, configuration in configuration[keyPath: path] = reader.seconds(name, default: value, range: range) },
            show: { "\($0[keyPath: path])" })
    }

    static func duration(
        _ name: String, default value: Double, range: ClosedRange<Double>, _ path: WritableKeyPath<AppConfiguration, Duration>,
        _ meaning: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, defaultText: "`\(Self.number(value))`", meaning: meaning,
            read: { reader, configuration in
                configuration[keyPath: path] = .milliseconds(Int64(reader.seconds(name, default: value, range: range) * 1000))
            },
            show: { "\($0[keyPath: path])" })
    }

    static func boolean(_ name: String, default value: Bool, _ path: WritableKeyPath<AppConfiguration, Bool>, _ meaning: String)
        -> ConfigurationKey
    {
        ConfigurationKey(
            name: name, defaultText: "`\(value)`", meaning: meaning,
            read: { reader, configuration in configuration[keyPath: path] = reader.boolean(name, default: value) },
            show: { "\($0[keyPath: path])" })
    }

    static func choice<Value: RawRepresentable & CaseIterable>(
        _ name: String, default value: Value, _ path: WritableKeyPath<AppConfiguration, Value>, _ meaning: String
    ) -> ConfigurationKey where Value.RawValue == String {
        ConfigurationKey(
            name: name, defaultText: "`\(value.rawValue)`", meaning: meaning,
            read: { reader, configuration in configuration[keyPath: path] = reader.choice(name, default: value) },
            show: { $0[keyPath: path].rawValue })
    }

    /// A list separated by commas or spaces; empty by default.
    static func list(_ name: String, _ path: WritableKeyPath<AppConfiguration, [String]>, _ meaning: String) -> ConfigurationKey {
        ConfigurationKey(
            name: name, defaultText: "—", meaning: meaning,
            read: { reader, configuration in configuration[keyPath: path] = reader.list(name) },
            show: { $0[keyPath: path].joined(separator: ",") })
    }

    /// `3` rather than `3.0` in the documentation.
    private static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
