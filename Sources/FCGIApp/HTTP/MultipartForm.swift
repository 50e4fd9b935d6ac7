/// `multipart/form-data` (RFC 7578, RFC 2046 §5.1.1) for the login, refresh and logout forms:
/// text fields by name; file parts are ignored.
///
/// Written here rather than taken from vapor's MultipartKit 4.7.1, whose parser trapped (an
/// out-of-bounds table lookup) on a part-header byte ≥ 0x80, so one unauthenticated request
/// could take the whole responder down (found by the hostile-input tests, Tests/Integration/security/test_hostile_forms.py). It is
/// small, bounded and fuzzed (`scripts/fuzz.sh form`), and it returns `nil` for anything it
/// does not understand rather than guessing.
enum MultipartForm {
    /// Most parts and most bytes of one part's header section.
    static let maximumParts = 64
    static let maximumHeaderBytes = 8 * 1024

    /// The text fields of `body`, last occurrence winning, or `nil` when the body is not
    /// well-formed multipart with this boundary.
    static func fields(of body: [UInt8], boundary: String) -> [String: String]? {
        let boundaryBytes = Array(boundary.utf8)
        // RFC 2046 §5.1.1: 1 to 70 characters, no line breaks.
        guard (1...70).contains(boundaryBytes.count), !boundaryBytes.contains(where: { $0 < 0x20 || $0 > 0x7E }) else {
            return nil
        }
        let delimiter = Array("--".utf8) + boundaryBytes
        let nextPart = Array("\r\n".utf8) + delimiter
        // The first delimiter starts the body or follows a preamble line.
        guard var cursor = firstDelimiter(delimiter, in: body) else { return nil }
        var fields: [String: String] = [:]
        for _ in 0..<maximumParts {
            cursor += delimiter.count
            if body[cursor...].starts(with: Array("--".utf8)) {
                return fields  // the closing delimiter; an epilogue may follow
            }
            // Transport padding, then the line break that ends the delimiter line.
            while cursor < body.count, body[cursor] == 0x20 || body[cursor] == 0x09 { cursor += 1 }
            guard body[cursor...].starts(with: Array("\r\n".utf8)) else { return nil }
            cursor += 2
            guard let headerEnd = find(Array("\r\n\r\n".utf8), in: body, from: cursor, limit: maximumHeaderBytes + 4) else {
                return nil
            }
            let headers = body[cursor..<headerEnd]
            guard let contentEnd = find(nextPart, in: body, from: headerEnd + 4, limit: body.count) else { return nil }
            let content = body[(headerEnd + 4)..<contentEnd]
            guard let name = fieldName(headers) else { return nil }
            if let name {
                fields[name] = String(decoding: content, as: UTF8.self)
            }
            cursor = contentEnd + 2
        }
        return nil  // too many parts
    }

    /// The part's field name from `Content-Disposition: form-data; name="…"`; `.some(nil)` for a
    /// file part (it has a filename) or a part without a name; `nil` when the headers are not
    /// `token: value` lines with UTF-8 values.
    private static func fieldName(_ headers: ArraySlice<UInt8>) -> String?? {
        var name: String?
        var isFile = false
        for line in split(headers, on: Array("\r\n".utf8)) {
            // A header name is an RFC 9110 token; the value is UTF-8 (RFC 7578 §5.1.1 allows it
            // in field names). Other odd characters in a name are kept, as FastAPI keeps them:
            // such a field is simply not one the endpoint asks for.
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line[..<colon].allSatisfy(isTokenCharacter),
                let value = String(validating: line[(colon + 1)...], as: UTF8.self)
            else { return nil }
            let header = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            guard header == "content-disposition" else { continue }
            let parameters = dispositionParameters(value)
            guard parameters.type == "form-data" else { return .some(nil) }
            name = parameters.values["name"]
            isFile = parameters.values["filename"] != nil || parameters.values["filename*"] != nil
        }
        return isFile ? .some(nil) : .some(name)
    }

    /// RFC 9110 §5.6.2 tchar.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    /// `form-data; name="a"; filename="b"` → type and parameters (quoted strings unescaped).
    private static func dispositionParameters(_ value: String) -> (type: String, values: [String: String]) {
        var characters = Substring(value)
        func skipSpaces() { characters = characters.drop { $0 == " " || $0 == "\t" } }
        skipSpaces()
        let type = characters.prefix { $0 != ";" }.trimmed { $0 == " " || $0 == "\t" }.lowercased()
        characters = characters.drop { $0 != ";" }
        var values: [String: String] = [:]
        while characters.first == ";" {
            characters = characters.dropFirst()
            skipSpaces()
            let key = characters.prefix { $0 != "=" && $0 != ";" }.trimmed { $0 == " " || $0 == "\t" }.lowercased()
            characters = characters.dropFirst(characters.prefix { $0 != "=" && $0 != ";" }.count)
            guard characters.first == "=" else { continue }
            characters = characters.dropFirst()
            skipSpaces()
            var parsed = ""
            if characters.first == "\"" {
                characters = characters.dropFirst()
                while let character = characters.first, character != "\"" {
                    characters = characters.dropFirst()
                    if character == "\\", let escaped = characters.first {
                        parsed.append(escaped)
                        characters = characters.dropFirst()
                    } else {
                        parsed.append(character)
                    }
                }
                characters = characters.dropFirst()
                characters = characters.drop { $0 != ";" }
            } else {
                parsed = characters.prefix { $0 != ";" }.trimmed { $0 == " " || $0 == "\t" }
                characters = characters.drop { $0 != ";" }
            }
            values[key] = parsed
        }
        return (type, values)
    }

    private static func firstDelimiter(_ delimiter: [UInt8], in body: [UInt8]) -> Int? {
        if body.starts(with: delimiter) { return 0 }
        return find(Array("\r\n".utf8) + delimiter, in: body, from: 0, limit: body.count).map { $0 + 2 }
    }

    /// The index of `needle` in `haystack` at or after `start`, looking at most `limit` bytes.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int, limit: Int) -> Int? {
        guard let first = needle.first else { return nil }
        let end = min(haystack.count, start + limit)
        var index = start
        while index + needle.count <= end {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) {
                return index
            }
            index += 1
        }
        return nil
    }

    private static func split(_ bytes: ArraySlice<UInt8>, on separator: [UInt8]) -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var index = bytes.startIndex
        while index + separator.count <= bytes.endIndex {
            if bytes[index..<(index + separator.count)].elementsEqual(separator) {
                lines.append(bytes[start..<index])
                index += separator.count
                start = index
            } else {
                index += 1
            }
        }
        lines.append(bytes[start..<bytes.endIndex])
        return lines
    }
}
