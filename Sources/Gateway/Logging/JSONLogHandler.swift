import Platform
import Logging

/// swift-log handler writing one JSON object per line to stderr (`LOG_FORMAT=json`):
/// `{"time","level","label","message", ...metadata}` with metadata keys in sorted order.
/// Each line goes out in a single write(2), so lines from different threads never interleave.
struct JSONLogHandler: LogHandler {
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
        var members: [(String, JSONValue)] = [
            ("time", .string(WallClock.timestamp())),
            ("level", .string(event.level.rawValue)),
            ("label", .string(label)),
            ("message", .string(event.message.description)),
        ]
        for key in merged.keys.sorted() {
            if let value = merged[key] {
                members.append((key, Self.json(value)))
            }
        }
        var line = JSONValue.object(members).serialized
        line.append(UInt8(ascii: "\n"))
        StandardStream.error.write(line)
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(convertible.description)
        case .array(let values): .array(values.map(json))
        case .dictionary(let dictionary): .object(dictionary.keys.sorted().compactMap { key in dictionary[key].map { (key, json($0)) } })
        }
    }

}
