import FoundationEssentials

/// The provider's signing keys, indexed by `kid`, parsed once per fetch.
///
/// Only keys usable for signatures are kept: `use` must be `sig` (or absent, as RFC 7517
/// allows for servers that omit it), `key_ops`, when present, must include `verify`, and the
/// key must be RSA 2048–8192 bits, P-256 or P-384.
/// Unusable entries (encryption keys, Ed25519, malformed members) are skipped, not fatal, so
/// one odd key at the provider does not take verification down.
public struct JSONWebKeySet: Sendable {
    /// A key the verifier may use, with the single algorithm it is pinned to, if any.
    public struct SigningKey: Sendable {
        public let kid: String
        /// From the JWK's `alg`; `nil` means any algorithm matching the key type.
        public let algorithm: SignatureAlgorithm?
        public let key: VerificationKey
    }

    /// The usable keys by `kid`.
    public let keys: [String: SigningKey]
    /// Entries that were skipped, with the reason, for logs.
    public let skipped: [String]

    /// Parses a JWKS document (RFC 7517 §5).
    public init(json: [UInt8]) throws(AuthError) {
        struct Document: Decodable {
            let keys: [LenientKey]
        }
        // Decodes one entry without failing the whole set when it is odd.
        struct LenientKey: Decodable {
            let key: JSONWebKey?
            init(from decoder: any Decoder) throws {
                key = try? JSONWebKey(from: decoder)
            }
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: Data(json))
        } catch {
            throw AuthError(.identityProviderInvalidResponse, "JWKS is not a JSON object with keys")
        }
        var keys: [String: SigningKey] = [:]
        var skipped: [String] = []
        for entry in document.keys {
            guard let jwk = entry.key else {
                skipped.append("an entry that is not a JWK")
                continue
            }
            guard let kid = jwk.kid, !kid.isEmpty else {
                skipped.append("a key without kid")
                continue
            }
            guard jwk.use == nil || jwk.use == "sig" else {
                skipped.append("\(kid): use=\(jwk.use ?? "")")
                continue
            }
            // RFC 7517 §4.3: a key restricted to other operations does not verify.
            if let operations = jwk.keyOps, !operations.contains("verify") {
                skipped.append("\(kid): key_ops without verify")
                continue
            }
            var algorithm: SignatureAlgorithm?
            if let alg = jwk.alg {
                guard let known = SignatureAlgorithm(rawValue: alg) else {
                    skipped.append("\(kid): alg \(alg) not supported")
                    continue
                }
                algorithm = known
            }
            let key: VerificationKey
            do {
                key = try jwk.verificationKey()
            } catch {
                skipped.append("\(kid): \(error.context)")
                continue
            }
            if let algorithm, !algorithm.accepts(key) {
                skipped.append("\(kid): alg \(algorithm.rawValue) does not fit kty \(jwk.kty)")
                continue
            }
            if keys[kid] != nil {
                skipped.append("\(kid): duplicate kid")
                continue
            }
            keys[kid] = SigningKey(kid: kid, algorithm: algorithm, key: key)
        }
        self.keys = keys
        self.skipped = skipped
    }

    /// The signing key with this `kid`, if the set has one.
    public subscript(kid: String) -> SigningKey? { keys[kid] }
}
