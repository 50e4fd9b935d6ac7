import Platform
import Logging

/// swift-log handler for `LOG_FORMAT=text`: one line per event on stderr,
/// `2026-11-29T02:08:50.123Z info keycloak-fcgi: message key=value ...` with metadata keys
/// sorted, written in a single write(2). Replaces swift-log's `StreamLogHandler`, whose
/// per-line local-time formatting (a `stat` of /etc/localtime each time) and string building
/// showed up in profiles at a line per request.
///
/// Values can carry attacker-chosen text (a token's `kid` or `iss` in an error's context), so
/// control characters are escaped (`\n`, `\r`, `\t`, `\u{…}`): one event is always one line and
/// a value cannot forge another.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata {
            merged.merge(extra) { _, new in new }
        }
        var line = "\(WallClock.timestamp()) \(event.level.rawValue) \(label): \(Self.escaped("\(event.message)"))"
        for key in merged.keys.sorted() {
            if let value = merged[key] {
                line += " \(Self.escaped(key))=\(Self.escaped("\(value)"))"
            }
        }
        line += "\n"
        StandardStream.error.write(line)
    }
}

extension TextLogHandler {
    /// `text` with control characters escaped.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: result += "\\u{\(String(scalar.value, radix: 16))}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
