/// Reads a `.env` file the way python-dotenv (which the seed used through pydantic-settings)
/// does for the common cases: `KEY=value`, optional `export `, `#` comment lines, single- or
/// double-quoted values, and ` #` starting a comment after an unquoted value. A `#` inside a
/// value (`Test#123`) stays part of it.
enum DotEnvFile {
    /// A line that could not be read, by number; the value is never echoed.
    struct Problem: Error, Equatable {
        let line: Int
        let reason: String
    }

    /// Parses the file's text into key/value pairs (later lines win).
    static func parse(_ text: String) throws(Problem) -> [String: String] {
        var values: [String: String] = [:]
        // Swift reads "\r\n" as one Character, so split on any newline, CRLF included.
        for (offset, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var line = Substring(rawLine)
            line = line.drop { $0 == " " || $0 == "\t" }
            if line.isEmpty || line.first == "#" { continue }
            if line.hasPrefix("export ") { line = line.dropFirst("export ".count).drop { $0 == " " } }
            guard let equals = line.firstIndex(of: "=") else {
                throw Problem(line: offset + 1, reason: "expected KEY=VALUE")
            }
            let key = line[..<equals].trimming([" ", "\t"])
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) else {
                throw Problem(line: offset + 1, reason: "invalid key")
            }
            let rawValue = line[line.index(after: equals)...].drop { $0 == " " || $0 == "\t" }
            values[key] = try value(of: rawValue, line: offset + 1)
        }
        return values
    }

    private static func value(of raw: Substring, line: Int) throws(Problem) -> String {
        guard let quote = raw.first, quote == "\"" || quote == "'" else {
            // Unquoted: a comment starts at whitespace followed by '#'.
            var end = raw.endIndex
            var index = raw.startIndex
            while index < raw.endIndex {
                if raw[index] == "#", index > raw.startIndex, [" ", "\t"].contains(raw[raw.index(before: index)]) {
                    end = index
                    break
                }
                index = raw.index(after: index)
            }
            return raw[..<end].trimming([" ", "\t"])
        }
        var result = ""
        var index = raw.index(after: raw.startIndex)
        while index < raw.endIndex {
            let character = raw[index]
            if character == quote {
                return result
            }
            if quote == "\"", character == "\\", raw.index(after: index) < raw.endIndex {
                index = raw.index(after: index)
                switch raw[index] {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "\\": result.append("\\")
                case "\"": result.append("\"")
                default: result.append("\\"); result.append(raw[index])
                }
            } else {
                result.append(character)
            }
            index = raw.index(after: index)
        }
        throw Problem(line: line, reason: "unterminated quoted value")
    }
}
