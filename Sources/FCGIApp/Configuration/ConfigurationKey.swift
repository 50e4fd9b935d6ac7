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
    /// A key read by `parse` into `path`, documented and shown from the value.
    static func typed<Value>(
        _ name: String, default value: Value, text: String, _ path: WritableKeyPath<AppConfiguration, Value>, _ meaning: String,
        show: @escaping (Value) -> String = { "\($0)" },
        parse: @escaping (inout ConfigurationReader, String, Value) -> Value
    ) -> ConfigurationKey {
        ConfigurationKey(
            name: name, defaultText: text, meaning: meaning,
            read: { reader, configuration in configuration[keyPath: path] = parse(&reader, name, value) },
            show: { show($0[keyPath: path]) })
    }

    static func integer(
        _ name: String, default value: Int, range: ClosedRange<Int>, _ path: WritableKeyPath<AppConfiguration, Int>, _ meaning: String
    ) -> ConfigurationKey {
        typed(name, default: value, text: "`\(value)`", path, meaning) { $0.integer($1, default: $2, range: range) }
    }

    static func seconds(
        _ name: String, default value: Double, range: ClosedRange<Double>, _ path: WritableKeyPath<AppConfiguration, Double>,
        _ meaning: String
    ) -> ConfigurationKey {
        typed(name, default: value, text: "`\(number(value))`", path, meaning) { $0.seconds($1, default: $2, range: range) }
    }

    /// Seconds in the environment, a `Duration` in the configuration.
    static func duration(
        _ name: String, default value: Double, range: ClosedRange<Double>, _ path: WritableKeyPath<AppConfiguration, Duration>,
        _ meaning: String
    ) -> ConfigurationKey {
        typed(name, default: .milliseconds(Int64(value * 1000)), text: "`\(number(value))`", path, meaning) { reader, name, _ in
            .milliseconds(Int64(reader.seconds(name, default: value, range: range) * 1000))
        }
    }

    static func boolean(_ name: String, default value: Bool, _ path: WritableKeyPath<AppConfiguration, Bool>, _ meaning: String)
        -> ConfigurationKey
    {
        typed(name, default: value, text: "`\(value)`", path, meaning) { $0.boolean($1, default: $2) }
    }

    static func choice<Value: RawRepresentable & CaseIterable>(
        _ name: String, default value: Value, _ path: WritableKeyPath<AppConfiguration, Value>, _ meaning: String
    ) -> ConfigurationKey where Value.RawValue == String {
        typed(name, default: value, text: "`\(value.rawValue)`", path, meaning, show: \.rawValue) { $0.choice($1, default: $2) }
    }

    /// A list separated by commas or spaces; empty by default.
    static func list(_ name: String, _ path: WritableKeyPath<AppConfiguration, [String]>, _ meaning: String) -> ConfigurationKey {
        typed(name, default: [], text: "—", path, meaning, show: { $0.joined(separator: ",") }) { reader, name, _ in reader.list(name) }
    }

    /// `3` rather than `3.0` in the documentation.
    private static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
