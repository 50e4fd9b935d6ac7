import Crypto
import FoundationEssentials

/// What a resource server accepts in a DPoP proof (RFC 9449 §4.3).
public struct DPoPPolicy: Sendable, Equatable {
    /// The proof algorithms accepted, advertised as `algs` and in the resource metadata.
    public var algorithms: [SignatureAlgorithm]
    /// How old a proof's `iat` may be.
    public var maximumAgeSeconds: Int64
    /// How far in the future a proof's `iat` may be (the client's clock running ahead).
    public var futureSkewSeconds: Int64

    public init(
        algorithms: [SignatureAlgorithm] = DPoPPolicy.defaultAlgorithms, maximumAgeSeconds: Int64 = 60, futureSkewSeconds: Int64 = 5
    ) {
        self.algorithms = algorithms
        self.maximumAgeSeconds = maximumAgeSeconds
        self.futureSkewSeconds = futureSkewSeconds
    }

    /// Every asymmetric algorithm the verifier implements.
    public static let defaultAlgorithms: [SignatureAlgorithm] = [.es256, .es384, .ps256, .ps384, .ps512, .rs256, .rs384, .rs512]

    /// How long a `jti` must be remembered: as long as a proof carrying it can be accepted.
    public var replayWindowSeconds: Int64 { maximumAgeSeconds + futureSkewSeconds + 1 }
}

/// A DPoP proof that passed every check RFC 9449 §4.3 makes on the proof itself; what is left
/// is the binding to the token (`thumbprint` against `cnf.jkt`), the nonce and the replay check.
public struct DPoPProof: Sendable, Equatable {
    /// RFC 7638 SHA-256 thumbprint of the proof's `jwk`.
    public let thumbprint: String
    public let jti: String
    public let issuedAt: Int64
    public let nonce: String?

    /// The largest proof read; a proof is a header with one public key and five short claims.
    public static let maximumBytes = 8192

    /// Checks `proof` for a request with `method` to `targetURI` (already normalised, see
    /// `HTTPURI.normalized`) carrying `accessToken`. Every refusal is `invalidDPoPProof` whose
    /// context is the `error_description` answered (short, and never containing a secret).
    public static func verify(
        _ proof: String, method: String, targetURI: String, accessToken: String, policy: DPoPPolicy, now: Int64
    ) throws(AuthError) -> DPoPProof {
        let bytes = Array(proof.utf8)
        // The header first, so that an unsigned proof (`alg: none`, empty signature) is refused
        // for its algorithm rather than its shape.
        let segments = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard bytes.count <= maximumBytes, segments.count == 3, let headerJSON = Base64URL.decode(segments[0]),
            let header = try? decoder.decode(ProofHeader.self, from: Data(headerJSON))
        else { throw refusal("malformed DPoP proof") }
        // §4.3 ¶4: typ is dpop+jwt (compared exactly, as Keycloak's DPoPUtil does).
        guard header.typ == "dpop+jwt" else { throw refusal("typ is not dpop+jwt") }
        // ¶5: an asymmetric algorithm the server accepts; never none or a MAC.
        guard let algorithm = SignatureAlgorithm(rawValue: header.alg), policy.algorithms.contains(algorithm) else {
            throw refusal("alg is not allowed")
        }
        // ¶6-7: a public key, and the signature made with it.
        guard let jwk = header.jwk else { throw refusal("jwk is missing or not a public key") }
        guard !jwk.hasPrivateMembers else { throw refusal("jwk contains private key material") }
        guard let publicKey = jwk.key, let key = try? publicKey.verificationKey(), algorithm.accepts(key),
            let thumbprint = publicKey.thumbprintSHA256()
        else { throw refusal("jwk is missing or not a public key") }
        // The rest of the compact form (RFC 7515 §7.1), from the segments already split: the
        // header was decoded above, so `CompactJWS` (which decodes it again) is not used.
        guard let signature = Base64URL.decode(segments[2]), !signature.isEmpty, !segments[1].isEmpty else {
            throw refusal("malformed DPoP proof")
        }
        let signingInput = bytes[..<(segments[0].count + 1 + segments[1].count)]
        guard algorithm.verify(signature, over: signingInput, with: key) else {
            throw refusal("signature does not verify with the jwk")
        }
        guard let payload = Base64URL.decode(segments[1]), let claims = try? decoder.decode(ProofClaims.self, from: Data(payload))
        else { throw refusal("malformed DPoP proof") }
        guard let jti = claims.jti, !jti.isEmpty else { throw refusal("missing claim jti") }
        guard let htm = claims.htm else { throw refusal("missing claim htm") }
        guard let htu = claims.htu else { throw refusal("missing claim htu") }
        guard let iat = claims.iat, iat.isFinite else { throw refusal("missing claim iat") }
        guard let ath = claims.ath else { throw refusal("missing claim ath") }
        // ¶8: the method, compared exactly.
        guard htm == method else { throw refusal("htm does not match the request method") }
        // ¶9: the target URI without query and fragment (§4.2 says htu has none).
        guard !htu.utf8.contains(UInt8(ascii: "?")), !htu.utf8.contains(UInt8(ascii: "#")) else {
            throw refusal("htu has a query or fragment")
        }
        guard HTTPURI.normalized(htu) == targetURI else { throw refusal("htu does not match the request URI") }
        // ¶11: iat within the window.
        guard iat >= Double(now - policy.maximumAgeSeconds), iat <= Double(now + policy.futureSkewSeconds) else {
            throw refusal("iat is outside the accepted window")
        }
        // ¶12 (§4.2, §7): ath is the hash of the access token presented with the proof.
        guard ath == Self.accessTokenHash(accessToken) else { throw refusal("ath does not match the access token") }
        return DPoPProof(thumbprint: thumbprint, jti: jti, issuedAt: Int64(iat), nonce: claims.nonce)
    }

    /// RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the token's ASCII bytes.
    public static func accessTokenHash(_ token: String) -> String {
        Base64URL.encode(SHA256.hash(data: Array(token.utf8)))
    }

    private static let decoder = JSONDecoder()

    /// An `invalidDPoPProof` whose context is the `error_description` to answer.
    public static func refusal(_ description: String) -> AuthError {
        AuthError(.invalidDPoPProof, description)
    }
}

/// The proof's JOSE header: `typ`, `alg` and the public key itself. Only a missing or
/// non-string `alg` makes it unreadable; a `typ` or `jwk` of the wrong type is read as absent,
/// so that its own check names it.
private struct ProofHeader: Decodable {
    let typ: String?
    let alg: String
    let jwk: ProofKey?

    private enum CodingKeys: String, CodingKey { case typ, alg, jwk }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        typ = try? container.decode(String.self, forKey: .typ)
        alg = try container.decode(String.self, forKey: .alg)
        jwk = try? container.decode(ProofKey.self, forKey: .jwk)
    }
}

/// The header's `jwk`, with whether it carries private members (RFC 9449 §4.3 ¶6: refused).
private struct ProofKey: Decodable {
    let key: JSONWebKey?
    let hasPrivateMembers: Bool

    private enum PrivateMember: String, CodingKey, CaseIterable {
        case d, p, q, dp, dq, qi, oth, k
    }

    init(from decoder: any Decoder) throws {
        key = try? JSONWebKey(from: decoder)
        let container = try decoder.container(keyedBy: PrivateMember.self)
        hasPrivateMembers = PrivateMember.allCases.contains { container.contains($0) }
    }
}

/// The proof's claims (RFC 9449 §4.2); every one checked by `DPoPProof.verify`.
private struct ProofClaims: Decodable {
    let jti: String?
    let htm: String?
    let htu: String?
    let iat: Double?
    let ath: String?
    let nonce: String?
}
