import Crypto

extension JSONWebKey {
    /// RFC 7638 §3: the SHA-256 thumbprint, base64url: the hash of the key's required members,
    /// in lexicographic order, without white space. nil for a key type this verifier does not
    /// use. Called on keys whose members were already decoded (canonical base64url, a known
    /// curve), so no member needs JSON escaping.
    func thumbprintSHA256() -> String? {
        let canonical: String
        switch kty {
        case "EC":
            guard let crv, let x, let y else { return nil }
            canonical = #"{"crv":"\#(crv)","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        case "RSA":
            guard let e, let n else { return nil }
            canonical = #"{"e":"\#(e)","kty":"RSA","n":"\#(n)"}"#
        default:
            return nil
        }
        return Base64URL.encode(SHA256.hash(data: Array(canonical.utf8)))
    }
}
