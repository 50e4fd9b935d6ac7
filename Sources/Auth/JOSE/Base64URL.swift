/// Strict base64url (RFC 4648 §5) without padding, as JWS compact serialization requires
/// (RFC 7515 §2). Non-canonical encodings (stray bits in the last character), padding,
/// whitespace and characters outside the alphabet are rejected.
///
/// Deliberately non-generic over `UInt8` buffers: a generic decoder called across modules ran
/// unspecialized and cost more than the RSA check it fed.
public enum Base64URL {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()

    /// Decodes `input`, or returns `nil` when it is not canonical unpadded base64url.
    public static func decode(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        let count = input.count
        if count % 4 == 1 { return nil }
        var output = [UInt8]()
        output.reserveCapacity(count * 3 / 4)
        let table = decodeTable
        return input.withContiguousStorageIfAvailable { buffer -> [UInt8]? in
            var index = 0
            while index + 4 <= count {
                let a = table[Int(buffer[index])]
                let b = table[Int(buffer[index + 1])]
                let c = table[Int(buffer[index + 2])]
                let d = table[Int(buffer[index + 3])]
                if (a | b | c | d) & 0xC0 != 0 { return nil }
                let value = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                output.append(UInt8(truncatingIfNeeded: value >> 16))
                output.append(UInt8(truncatingIfNeeded: value >> 8))
                output.append(UInt8(truncatingIfNeeded: value))
                index += 4
            }
            switch count - index {
            case 0:
                break
            case 2:
                let a = table[Int(buffer[index])]
                let b = table[Int(buffer[index + 1])]
                if (a | b) & 0xC0 != 0 || b & 0x0F != 0 { return nil }
                output.append(a << 2 | b >> 4)
            case 3:
                let a = table[Int(buffer[index])]
                let b = table[Int(buffer[index + 1])]
                let c = table[Int(buffer[index + 2])]
                if (a | b | c) & 0xC0 != 0 || c & 0x03 != 0 { return nil }
                output.append(a << 2 | b >> 4)
                output.append((b & 0x0F) << 4 | c >> 2)
            default:
                return nil
            }
            return output
        } ?? decode(ArraySlice(Array(input)))
    }

    /// Decodes a string, or returns `nil` when it is not canonical unpadded base64url.
    public static func decode(_ input: String) -> [UInt8]? {
        decode(ArraySlice(input.utf8))
    }

    /// Encodes bytes as unpadded base64url.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let input = Array(bytes)
        var output = [UInt8]()
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(value >> 18 & 0x3F)])
            output.append(alphabet[Int(value >> 12 & 0x3F)])
            output.append(alphabet[Int(value >> 6 & 0x3F)])
            output.append(alphabet[Int(value & 0x3F)])
            index += 3
        }
        switch input.count - index {
        case 1:
            let value = UInt32(input[index]) << 16
            output.append(alphabet[Int(value >> 18 & 0x3F)])
            output.append(alphabet[Int(value >> 12 & 0x3F)])
        case 2:
            let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
            output.append(alphabet[Int(value >> 18 & 0x3F)])
            output.append(alphabet[Int(value >> 12 & 0x3F)])
            output.append(alphabet[Int(value >> 6 & 0x3F)])
        default:
            break
        }
        return String(decoding: output, as: UTF8.self)
    }
}
