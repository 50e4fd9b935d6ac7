/// The protected header of a JWS (RFC 7515 §4): only the fields the verifier acts on.
///
/// `jku`, `x5u`, `jwk` and `x5c` are never read, so a token cannot bring its own key.
struct JOSEHeader: Decodable, Sendable {
    /// RFC 7515 §4.1.1. Required.
    let alg: String
    /// RFC 7515 §4.1.4. Selects the provider's key; required by this verifier.
    let kid: String?
    /// RFC 7515 §4.1.9 (media type, e.g. `JWT`); informational only.
    let typ: String?
    /// RFC 7515 §4.1.11. Any critical extension is refused: this verifier understands none.
    let crit: [String]?
}
