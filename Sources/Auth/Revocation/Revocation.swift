/// One entry of the revocation list: a session or a subject an OpenID Connect back-channel
/// logout ended (OpenID Connect Back-Channel Logout 1.0 §2.4: a logout token names a `sid`, a
/// `sub`, or both).
///
/// A `sid` or `sub` is unique only per issuer, so every entry carries the logout token's
/// `iss`. `expiresAt` is when the entry stops mattering: the longest token lifetime after
/// `revokedAt`, when every token it could refuse has expired anyway.
public struct Revocation: Sendable, Equatable {
    /// What the entry names; the raw value is the claim's name.
    public enum Kind: String, Sendable {
        /// A session (`sid`): every token of that session is refused, whatever its `iat`.
        case session = "sid"
        /// A subject (`sub`): tokens of that user issued at or before `revokedAt` are refused.
        case subject = "sub"
    }

    /// Session or subject.
    public let kind: Kind
    /// The logout token's `iss`.
    public let issuer: String
    /// The `sid` or the `sub`.
    public let value: String
    /// When the logout happened, in unix seconds.
    public let revokedAt: Int64
    /// When the entry is dropped, in unix seconds.
    public let expiresAt: Int64

    /// Creates an entry.
    public init(kind: Kind, issuer: String, value: String, revokedAt: Int64, expiresAt: Int64) {
        self.kind = kind
        self.issuer = issuer
        self.value = value
        self.revokedAt = revokedAt
        self.expiresAt = expiresAt
    }
}
