/// Trimming and percent-encoding without Foundation's `CharacterSet` (the package imports only
/// FoundationEssentials; docs/design.md, "Memory").
extension StringProtocol {
    /// The string without leading and trailing characters for which `isTrimmed` holds.
    func trimmed(where isTrimmed: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !isTrimmed($0) }), let last = lastIndex(where: { !isTrimmed($0) }) else {
            return ""
        }
        return String(self[first...last])
    }

    /// Without leading and trailing spaces and tabs (and other non-newline whitespace).
    var trimmingWhitespace: String { trimmed { $0.isWhitespace && !$0.isNewline } }

    /// Without leading and trailing line breaks.
    var trimmingNewlines: String { trimmed { $0.isNewline } }

    /// Percent-encoded for one URL path segment: RFC 3986 unreserved characters, sub-delims,
    /// `:` and `@` stay; every other UTF-8 byte becomes `%XX`.
    var percentEncodedPathSegment: String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@".utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        for byte in utf8 {
            if allowed.contains(byte) {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    /// Without leading and trailing characters from `set`.
    func trimming(_ set: Set<Character>) -> String {
        var slice = self
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
