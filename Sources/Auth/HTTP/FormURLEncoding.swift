/// `application/x-www-form-urlencoded` (WHATWG URL §5) in both directions.
public enum FormURLEncoding {
    /// Encodes pairs as a form body: every byte outside `A-Z a-z 0-9 * - . _` is
    /// percent-encoded and spaces become `+`, so `#`, `&`, `+`, `%` and non-ASCII survive.
    public static func encode(_ pairs: [(String, String)]) -> [UInt8] {
        var output = [UInt8]()
        for (index, pair) in pairs.enumerated() {
            if index > 0 { output.append(UInt8(ascii: "&")) }
            append(pair.0, to: &output)
            output.append(UInt8(ascii: "="))
            append(pair.1, to: &output)
        }
        return output
    }

    /// Decodes a form body into pairs in order. Lenient like Python's `unquote_plus`, which
    /// the seed service used: a `%` not followed by two hex digits stays as it is, and bytes
    /// that are not UTF-8 become U+FFFD.
    public static func decode(_ body: some Collection<UInt8>) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for field in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let equals = field.firstIndex(of: UInt8(ascii: "=")) {
                pairs.append((unescape(field[..<equals]), unescape(field[field.index(after: equals)...])))
            } else {
                pairs.append((unescape(field[...]), ""))
            }
        }
        return pairs
    }

    private static func append(_ string: String, to output: inout [UInt8]) {
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "*"), UInt8(ascii: "-"),
                UInt8(ascii: "."), UInt8(ascii: "_"):
                output.append(byte)
            case UInt8(ascii: " "):
                output.append(UInt8(ascii: "+"))
            default:
                output.append(UInt8(ascii: "%"))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
        }
    }

    private static func unescape(_ field: some Collection<UInt8>) -> String {
        let input = Array(field)
        var output = [UInt8]()
        output.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "+") {
                output.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < input.count,
                let high = hexValue(input[index + 1]), let low = hexValue(input[index + 2])
            {
                output.append(high << 4 | low)
                index += 2
            } else {
                output.append(byte)
            }
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
