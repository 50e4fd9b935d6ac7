/// Extracts the token from an `Authorization` header (RFC 6750 §2.1).
public enum BearerCredentials {
    /// The token, or `missingBearerToken` for no header, empty credentials, or another scheme.
    ///
    /// The scheme is matched case-insensitively (RFC 7235 §2.1). A second `Bearer ` in front of
    /// the token is tolerated: the article tells Swagger users to type `Bearer <token>` into a
    /// field that already adds the prefix, and no token contains a space, so the result is
    /// unambiguous.
    ///
    /// Works on UTF-8 bytes: counting `Character`s of a long token on every request showed up
    /// in profiles.
    public static func token(fromAuthorization header: String?) throws(AuthError) -> String {
        guard let header else {
            throw AuthError(.missingBearerToken, "no Authorization header")
        }
        var bytes = Substring(header).utf8[...]
        bytes = bytes.drop(while: isSpace)
        guard dropBearerScheme(&bytes) else {
            throw AuthError(.missingBearerToken, "scheme is not Bearer")
        }
        _ = dropBearerScheme(&bytes)
        while let last = bytes.last, isSpace(last) {
            bytes = bytes.dropLast()
        }
        guard !bytes.isEmpty else {
            throw AuthError(.missingBearerToken, "empty credentials")
        }
        return String(Substring(bytes))
    }

    private static let scheme = Array("bearer".utf8)

    /// Removes a leading `Bearer` and the blanks after it; false when the text has no such prefix.
    private static func dropBearerScheme(_ bytes: inout Substring.UTF8View.SubSequence) -> Bool {
        var index = bytes.startIndex
        for expected in scheme {
            guard index < bytes.endIndex, bytes[index] | 0x20 == expected else { return false }
            index = bytes.index(after: index)
        }
        guard index < bytes.endIndex, isSpace(bytes[index]) else { return false }
        bytes = bytes[index...].drop(while: isSpace)
        return true
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
