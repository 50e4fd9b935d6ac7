import FoundationEssentials

/// What can be learnt from a token without checking its signature, for the few places that
/// need it before or instead of a local verification: refusing junk before a provider call,
/// choosing whose keys to try (several realms), and reading a payload the provider has just
/// vouched for (userinfo mode) or that the provider will check itself (a refresh token's `sid`).
public enum UnverifiedJWS {
    /// `tokenTooLarge` beyond `maximumBytes`, `malformedToken` unless three non-empty segments of
    /// base64url characters: the cheap check before a token is sent to the provider.
    public static func precheck(_ token: String, maximumBytes: Int) throws(AuthError) {
        let bytes = token.utf8
        guard bytes.count <= maximumBytes else {
            throw AuthError(.tokenTooLarge, "\(bytes.count) bytes")
        }
        guard looksLikeCompactJWS(bytes) else {
            throw AuthError(.malformedToken, "not a compact JWS")
        }
    }

    /// The payload decoded as `Claims`, signature unchecked; nil when it is not one.
    public static func payload<Claims: Decodable>(of token: String, as type: Claims.Type) -> Claims? {
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3, let payload = Base64URL.decode(ArraySlice(segments[1])) else { return nil }
        return try? decoder.decode(Claims.self, from: Data(payload))
    }

    private static let decoder = JSONDecoder()

    /// The access-token claims of the payload, signature unchecked.
    public static func claims(of token: String) -> AccessTokenClaims? {
        payload(of: token, as: AccessTokenClaims.self)
    }

    /// Three non-empty segments of base64url characters.
    /// Whether `text` has the shape of a compact JWS (three non-empty base64url segments).
    public static func isCompact(_ text: String) -> Bool {
        looksLikeCompactJWS(text.utf8)
    }

    static func looksLikeCompactJWS(_ bytes: String.UTF8View) -> Bool {
        var segments = 1
        var segmentLength = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "."):
                if segmentLength == 0 { return false }
                segments += 1
                segmentLength = 0
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                segmentLength += 1
            default:
                return false
            }
        }
        return segments == 3 && segmentLength > 0
    }
}
