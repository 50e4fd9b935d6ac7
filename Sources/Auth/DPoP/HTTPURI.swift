/// The comparison form of an absolute `http`/`https` URI without query or fragment, as DPoP
/// compares `htu` with the request (RFC 9449 §4.3 ¶9: syntax- and scheme-based normalisation,
/// RFC 3986 §6.2.2 and §6.2.3).
public enum HTTPURI {
    /// `scheme://host[:port]/path` with the scheme and host in lower case, the scheme's default
    /// port dropped, percent-encodings of unreserved characters decoded and the others in upper
    /// case, dot segments removed and an empty path written `/`. nil for anything else: another
    /// scheme, user information, a bad port or a bad percent-encoding. A query or fragment is
    /// cut off (callers that must refuse them check first).
    public static func normalized(_ text: some StringProtocol) -> String? {
        var bytes = Array(text.utf8)
        if let end = bytes.firstIndex(where: { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            bytes.removeSubrange(end...)
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes[colon...].starts(with: Array("://".utf8)) else {
            return nil
        }
        let scheme = String(decoding: bytes[..<colon].map(lowercased), as: UTF8.self)
        let defaultPort: String
        switch scheme {
        case "https": defaultPort = "443"
        case "http": defaultPort = "80"
        default: return nil
        }
        let rest = bytes[(colon + 3)...]
        let authorityEnd = rest.firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { return nil }
        // The port follows the last colon outside an IPv6 literal's brackets.
        var host = authority[...]
        var port: ArraySlice<UInt8> = []
        if let lastColon = authority.lastIndex(of: UInt8(ascii: ":")), !authority[lastColon...].contains(UInt8(ascii: "]")) {
            host = authority[..<lastColon]
            port = authority[(lastColon + 1)...]
        }
        guard !host.isEmpty, port.allSatisfy(isDigit), port.count <= 5 else { return nil }
        var result = scheme + "://" + String(decoding: host.map(lowercased), as: UTF8.self)
        if !port.isEmpty {
            guard let number = Int(String(decoding: port, as: UTF8.self)), number <= 65535 else { return nil }
            if String(number) != defaultPort { result += ":" + String(number) }
        }
        guard let path = normalizedPath(rest[authorityEnd...]) else { return nil }
        return result + path
    }

    /// Percent-encoding normalised, then dot segments removed (RFC 3986 §5.2.4); `/` when empty.
    static func normalizedPath(_ path: ArraySlice<UInt8>) -> String? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(path.count)
        var index = path.startIndex
        while index < path.endIndex {
            let byte = path[index]
            guard byte == UInt8(ascii: "%") else {
                decoded.append(byte)
                index += 1
                continue
            }
            guard index + 2 < path.endIndex, let high = hexValue(path[index + 1]), let low = hexValue(path[index + 2]) else {
                return nil
            }
            let value = high << 4 | low
            if isUnreserved(value) {
                decoded.append(value)
            } else {
                decoded.append(contentsOf: [UInt8(ascii: "%"), hexDigit(high), hexDigit(low)])
            }
            index += 3
        }
        let text = removingDotSegments(String(decoding: decoded, as: UTF8.self))
        return text.isEmpty ? "/" : text
    }

    /// RFC 3986 §5.2.4, on whole segments.
    static func removingDotSegments(_ path: String) -> String {
        guard path.contains(".") else { return path }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var output: [Substring] = []
        for (position, segment) in segments.enumerated() {
            switch segment {
            case ".":
                if position == segments.count - 1 { output.append("") }
            case "..":
                if output.count > 1 { output.removeLast() }
                if position == segments.count - 1 { output.append("") }
            default:
                output.append(segment)
            }
        }
        return output.joined(separator: "/")
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        isDigit(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "~")
    }

    /// `text` with every `%XX` decoded (no `+` rule: that is form encoding); nil for a bad escape.
    public static func percentDecoded(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
    }
}
