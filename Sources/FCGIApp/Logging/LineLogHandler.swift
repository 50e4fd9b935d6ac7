import Logging
import Platform

/// The swift-log handler: one line per event on stderr, in a single write(2), so lines from
/// different threads never interleave; metadata keys sorted. Two formats (`LOG_FORMAT`):
///
/// - `text`: `2026-11-29T02:08:50.123Z info keycloak-fcgi: message key=value ...`. Replaces
///   swift-log's `StreamLogHandler`, whose per-line local-time formatting (a `stat` of
///   /etc/localtime each time) and string building showed up in profiles at a line per request.
///   Values can carry attacker-chosen text (a token's `kid` or `iss` in an error's context), so
///   control characters are escaped (`\n`, `\r`, `\t`, `\u{…}`): one event is always one line
///   and a value cannot forge another.
/// - `json`: `{"time","level","label","message", ...metadata}`, one object per line.
struct LineLogHandler: LogHandler {
    let label: String
    let format: AppConfiguration.LogFormat
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String, format: AppConfiguration.LogFormat) {
        self.label = label
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // The event's pairs, then the handler's that the event does not override, sorted: an
        // array rather than a merged copy of the dictionary (one hash insert per pair per line).
        var pairs: [(key: String, value: Logger.Metadata.Value)] = []
        let extra = event.metadata ?? [:]
        pairs.reserveCapacity(extra.count + metadata.count)
        for pair in extra { pairs.append(pair) }
        for pair in metadata where extra[pair.key] == nil { pairs.append(pair) }
        let sorted = pairs.sorted { $0.key < $1.key }
        switch format {
        case .text: StandardStream.error.write(textLine(event, sorted))
        case .json: StandardStream.error.write(jsonLine(event, sorted))
        }
    }

    private func textLine(_ event: LogEvent, _ metadata: [(key: String, value: Logger.Metadata.Value)]) -> String {
        // Appended piece by piece into one buffer sized for a request's line (interpolating
        // each pair made and grew a string per pair).
        var line = ""
        line.reserveCapacity(320)
        line += WallClock.timestamp()
        line += " "
        line += event.level.rawValue
        line += " "
        line += label
        line += ": "
        line += Self.escaped(event.message.description)
        for (key, value) in metadata {
            line += " "
            line += Self.escaped(key)
            line += "="
            switch value {
            case .string(let text): line += Self.escaped(text)
            default: line += Self.escaped(value.description)
            }
        }
        line += "\n"
        return line
    }

    private func jsonLine(_ event: LogEvent, _ metadata: [(key: String, value: Logger.Metadata.Value)]) -> [UInt8] {
        var members: [(String, JSONValue)] = [
            ("time", .string(WallClock.timestamp())),
            ("level", .string(event.level.rawValue)),
            ("label", .string(label)),
            ("message", .string(event.message.description)),
        ]
        for (key, value) in metadata {
            members.append((key, Self.json(value)))
        }
        var line = JSONValue.object(members).serialized
        line.append(UInt8(ascii: "\n"))
        return line
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let dictionary): .object(dictionary.keys.sorted().compactMap { key in dictionary[key].map { (key, json($0)) } })
        }
    }

    /// `text` with control characters escaped.
    static func escaped(_ text: String) -> String {
        // Over the UTF-8 bytes: a control character is one byte below 0x20 or 0x7F, and no byte
        // of a multi-byte sequence is (they are all 0x80 or more). Nearly every value has none.
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
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
