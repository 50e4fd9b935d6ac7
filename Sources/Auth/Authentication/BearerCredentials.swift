/// Extracts the token from an `Authorization` header (RFC 6750 §2.1).
public enum BearerCredentials {
    /// The token, or `missingBearerToken` for no header, empty credentials, or another scheme.
    ///
    /// The scheme is matched case-insensitively (RFC 7235 §2.1). A second `Bearer ` in front of
    /// the token is tolerated: the article tells Swagger users to type `Bearer <token>` into a
    /// field that already adds the prefix, and no token contains a space, so the result is
    /// unambiguous.
    public static func token(fromAuthorization header: String?) throws(AuthError) -> String {
        guard let header else {
            throw AuthError(.missingBearerToken, "no Authorization header")
        }
        var credentials = Substring(header).drop { $0 == " " || $0 == "\t" }
        guard Self.dropBearerScheme(&credentials) else {
            throw AuthError(.missingBearerToken, "scheme is not Bearer")
        }
        _ = Self.dropBearerScheme(&credentials)
        let token = credentials.trimmingSpaces()
        guard !token.isEmpty else {
            throw AuthError(.missingBearerToken, "empty credentials")
        }
        return String(token)
    }

    /// Removes a leading `Bearer` and the spaces after it; false when the text has no such prefix.
    private static func dropBearerScheme(_ text: inout Substring) -> Bool {
        let scheme = "bearer"
        guard text.count > scheme.count,
            text.prefix(scheme.count).lowercased() == scheme,
            let separator = text.dropFirst(scheme.count).first, separator == " " || separator == "\t"
        else { return false }
        text = text.dropFirst(scheme.count).drop { $0 == " " || $0 == "\t" }
        return true
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var result = self
        while let last = result.last, last == " " || last == "\t" {
            result = result.dropLast()
        }
        return result
    }
}
