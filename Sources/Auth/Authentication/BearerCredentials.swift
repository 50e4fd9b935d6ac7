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

/// The credentials of an `Authorization` header at a resource: a Bearer token (RFC 6750) or a
/// DPoP-bound token (RFC 9449 §7.1, scheme `DPoP`).
public struct Credentials: Sendable, Equatable {
    public enum Scheme: Sendable, Equatable { case bearer, dpop }

    public let scheme: Scheme
    public let token: String

    /// `missingBearerToken` for no header, empty credentials, or a scheme other than Bearer
    /// (and DPoP when `acceptsDPoP`).
    public static func parse(_ header: String?, acceptsDPoP: Bool) throws(AuthError) -> Credentials {
        if acceptsDPoP, let header {
            var bytes = Substring(header).utf8[...].drop(while: isSpace)
            if bytes.count > 5, bytes.prefix(4).map({ $0 | 0x20 }) == Array("dpop".utf8),
                isSpace(bytes[bytes.index(bytes.startIndex, offsetBy: 4)])
            {
                bytes = bytes.dropFirst(5).drop(while: isSpace)
                while let last = bytes.last, isSpace(last) { bytes = bytes.dropLast() }
                guard !bytes.isEmpty else { throw AuthError(.missingBearerToken, "empty credentials") }
                return Credentials(scheme: .dpop, token: String(Substring(bytes)))
            }
        }
        return Credentials(scheme: .bearer, token: try BearerCredentials.token(fromAuthorization: header))
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
    }
}
