@testable import Auth
import Foundation
import Testing

// Project Wycheproof (C2SP/wycheproof, Apache-2.0) against the verifier, each case with its
// expected verdict. The vectors are read from ../shared/testvectors/wycheproof next to the
// repository (never copied into it); WYCHEPROOF_DIR overrides the location.
//
// Two layers are checked per JWS case:
//   1. the whole verifier, `JWTVerifier.verify` with the group's public key(s) parsed by
//      `JSONWebKeySet` (the product's own JWKS path). Wycheproof payloads are not JWT claims
//      ("foo", "", binary), so a token whose signature verified fails afterwards at the payload
//      or claim checks: those errors count as "passed the signature", every earlier one as
//      "refused". Claims therefore never hide a signature verdict.
//   2. the signature layer alone (`CompactJWS` + `SignatureAlgorithm.verify`, reachable with
//      @testable), with the group's key chosen by kid or, for a token without kid, the group's
//      key: the cryptographic verdict of cases the verifier refuses earlier by design.
//
// `valid` must verify, unless the verifier refuses it by design, which the test states per
// case (algorithm outside the allow-list — HS*, none, EdDSA, ES512 —; no kid; the key's JWK
// `alg` pins another algorithm); then it must be refused for exactly that reason and, where the
// algorithm is ours, the signature layer must still accept it. `invalid` must be refused before
// the payload is read. `acceptable` may go either way but must not crash.

/// Where the vectors are, if they are there.
enum WycheproofVectors {
    static let directory: URL? = {
        let directory: URL
        if let override = ProcessInfo.processInfo.environment["WYCHEPROOF_DIR"], !override.isEmpty {
            directory = URL(fileURLWithPath: override, isDirectory: true)
        } else {
            // Tests/AuthTests/WycheproofTests.swift → the repository root → ../shared/...
            let repository = URL(fileURLWithPath: #filePath)
                .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            directory = repository.deletingLastPathComponent()
                .appendingPathComponent("shared/testvectors/wycheproof", isDirectory: true)
        }
        let probe = directory.appendingPathComponent("json_web_signature_test.json").path
        return FileManager.default.fileExists(atPath: probe) ? directory : nil
    }()

    static var available: Bool { directory != nil }

    static let absence: Comment = """
        the Wycheproof vectors are absent (no json_web_signature_test.json in WYCHEPROOF_DIR or in \
        ../shared/testvectors/wycheproof, e.g. a clone without ../shared): the Wycheproof cases were NOT run
        """

    /// The JSON object of one vector file; nil when absent.
    static func load(_ name: String) -> [String: Any]? {
        guard let directory,
            let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object
    }

    static func groups(of file: [String: Any]?) -> [[String: Any]] {
        file?["testGroups"] as? [[String: Any]] ?? []
    }

    static func json(_ object: Any) -> [UInt8] {
        (try? Array(JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))) ?? []
    }

    static func hex(_ text: String) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(text.utf8.count / 2)
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)  // the vectors' hex is well-formed
            index = next
        }
        return bytes
    }
}

// MARK: - JSON Web Signature cases

/// One JWS test case with its group's public keys.
struct JWSVector: Sendable, CustomTestStringConvertible {
    let file: String
    let tcId: Int
    let comment: String
    let group: String
    let result: String
    let flags: [String]
    /// The compact serialization, or the JSON serialization's text (always refused).
    let token: String
    let isJSONSerialization: Bool
    /// `{"keys":[...]}` exactly as a provider would publish the group's public key(s).
    let keySet: [UInt8]
    /// Each public JWK alone, for the signature layer (which ignores `use`/`key_ops`).
    let keys: [[UInt8]]
    /// The JWKs' `kid` and `alg` (nil when absent), in the order of `keys`.
    let keyIDs: [String?]
    let keyAlgorithms: [String?]

    var testDescription: String { "\(file) #\(tcId) \(result) [\(group)] \(comment)" }

    /// Cases of `json_web_signature_test.json` and `json_web_key_test.json`.
    static let all: [JWSVector] = ["json_web_signature_test.json", "json_web_key_test.json"].flatMap(load)

    static func load(_ name: String) -> [JWSVector] {
        WycheproofVectors.groups(of: WycheproofVectors.load(name)).flatMap { group -> [JWSVector] in
            var jwks: [[String: Any]] = []
            if let published = group["public"] as? [String: Any] {
                jwks = published["keys"] as? [[String: Any]] ?? [published]
            }
            let keySet = WycheproofVectors.json(["keys": jwks])
            return (group["tests"] as? [[String: Any]] ?? []).map { test in
                let jws = test["jws"]
                let token: String
                if let compact = jws as? String {
                    token = compact
                } else {
                    token = String(decoding: WycheproofVectors.json(jws ?? [:]), as: UTF8.self)
                }
                return JWSVector(
                    file: name, tcId: test["tcId"] as? Int ?? -1, comment: test["comment"] as? String ?? "",
                    group: group["comment"] as? String ?? "", result: test["result"] as? String ?? "",
                    flags: test["flags"] as? [String] ?? [], token: token, isJSONSerialization: !(jws is String),
                    keySet: keySet, keys: jwks.map { WycheproofVectors.json($0) },
                    keyIDs: jwks.map { $0["kid"] as? String }, keyAlgorithms: jwks.map { $0["alg"] as? String })
            }
        }
    }

    /// The protected header, decoded leniently (padding and the standard alphabet tolerated):
    /// only to name the case's algorithm and kid, never to verify anything.
    var lenientHeader: [String: Any]? {
        guard !isJSONSerialization, let first = token.split(separator: ".", omittingEmptySubsequences: false).first
        else { return nil }
        var text = first.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        text = text.replacingOccurrences(of: "=", with: "")
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: text) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    var headerAlgorithm: String? { lenientHeader?["alg"] as? String }
    var headerKeyID: String? { lenientHeader?["kid"] as? String }

    /// The index of the key a verifier would pick: by kid, else the group's only key.
    var selectedKey: Int? {
        if let kid = headerKeyID, let index = keyIDs.firstIndex(of: kid) { return index }
        return keys.count == 1 ? 0 : nil
    }
}

/// What the whole verifier made of a token.
struct VerifierOutcome: CustomStringConvertible {
    /// The signature verified (the failure, if any, came from the payload or the claims).
    let passedSignature: Bool
    let error: AuthError?

    var description: String {
        passedSignature
            ? "passed the signature check (then: \(error.map { "\($0)" } ?? "accepted"))"
            : "refused: \(error.map { "\($0)" } ?? "?")"
    }

    /// Errors the verifier throws only after the signature verified (JWTVerifier's order:
    /// size → parse → alg → crit → kid → key → signature → payload → claims).
    static func isAfterSignature(_ error: AuthError) -> Bool {
        switch error.code {
        case .missingClaim, .issuerMismatch, .tokenExpired, .tokenNotYetValid, .wrongTokenType, .audienceMismatch:
            true
        case .malformedToken:
            error.context.hasPrefix("payload")
        default:
            false
        }
    }
}

enum WycheproofJWS {
    /// Any time: Wycheproof payloads carry no claims, so the clock and issuer never matter.
    static let now = Date(timeIntervalSince1970: 1_700_000_000)
    static let issuer = "urn:wycheproof:payloads-are-not-claims"

    /// Layer 1: the verifier as the product runs it, keys from `JSONWebKeySet`.
    static func verifier(_ vector: JWSVector) -> VerifierOutcome {
        let keySet: JSONWebKeySet
        do {
            keySet = try JSONWebKeySet(json: vector.keySet)
        } catch {
            return VerifierOutcome(passedSignature: false, error: error)
        }
        do {
            _ = try JWTVerifier(policy: VerificationPolicy()).verify(
                vector.token, now: now, issuer: issuer, allowedAlgorithms: Set(SignatureAlgorithm.allCases)
            ) { kid throws(AuthError) in
                guard let key = keySet[kid] else { throw AuthError(.unknownKeyID, "kid \(kid.prefix(64))") }
                return key
            }
            return VerifierOutcome(passedSignature: true, error: nil)
        } catch {
            return VerifierOutcome(passedSignature: VerifierOutcome.isAfterSignature(error), error: error)
        }
    }

    /// Layer 2: the signature alone, with the selected key built straight from its JWK
    /// (ignoring kid policy, `use`, `key_ops` and the JWK's `alg` pin). nil when there is no
    /// cryptographic verdict to give: not a strict compact JWS, an algorithm outside
    /// `SignatureAlgorithm`, no usable key of the algorithm's type.
    static func signature(_ vector: JWSVector) -> Bool? {
        guard let parts = signatureParts(vector.token),
            let algorithm = SignatureAlgorithm(rawValue: parts.alg),
            let index = vector.selectedKey,
            let jwk = try? JSONDecoder().decode(JSONWebKey.self, from: Data(vector.keys[index])),
            let key = try? jwk.verificationKey(),
            algorithm.accepts(key)
        else { return nil }
        return algorithm.verify(parts.signature, over: parts.signingInput, with: key)
    }

    /// The algorithm, signing input and signature, split by `CompactJWS` — or, for a token
    /// with an empty payload (which `CompactJWS` refuses by design, see `policyRefusal`), split
    /// by hand with the same strict base64url, for the cryptographic verdict only.
    static func signatureParts(_ token: String) -> (alg: String, signingInput: ArraySlice<UInt8>, signature: [UInt8])? {
        let bytes = Array(token.utf8)
        if let jws = try? CompactJWS(bytes) {
            return (jws.header.alg, jws.signingInput, jws.signature)
        }
        let pieces = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[1].isEmpty, !pieces[0].isEmpty, !pieces[2].isEmpty,
            let header = Base64URL.decode(pieces[0]),
            let decoded = try? JSONDecoder().decode(JOSEHeader.self, from: Data(header)),
            let signature = Base64URL.decode(pieces[2])
        else { return nil }
        return (decoded.alg, bytes[..<(pieces[0].count + 1)], signature)
    }

    /// Why the verifier refuses a case by design, with the error codes that say so.
    struct PolicyRefusal {
        let reason: String
        let codes: Set<AuthError.Code>
        /// Whether the signature layer can still give (and must give) a positive verdict.
        let signatureStillChecked: Bool
    }

    static func policyRefusal(_ vector: JWSVector) -> PolicyRefusal? {
        if vector.isJSONSerialization {
            return PolicyRefusal(
                reason: "JWS JSON serialization: only the compact form is a bearer token",
                codes: [.malformedToken], signatureStillChecked: false)
        }
        let alg = vector.headerAlgorithm ?? "?"
        let pieces = vector.token.split(separator: ".", omittingEmptySubsequences: false)
        if SignatureAlgorithm(rawValue: alg) != nil, pieces.count == 3, pieces[1].isEmpty {
            return PolicyRefusal(
                reason: "empty payload: a bearer token is a JWT whose payload is a JSON claims set (RFC 7519 §7.2), "
                    + "so an empty segment is refused before any cryptography",
                codes: [.malformedToken], signatureStillChecked: true)
        }
        if SignatureAlgorithm(rawValue: alg) == nil {
            return PolicyRefusal(
                reason: "alg \(alg) is outside the verifier's allow-list (RS256/384/512, PS256/384/512, ES256/384: "
                    + "never none or HMAC, RFC 8725 §3.1); correctly refused although Wycheproof calls it valid",
                codes: [.unsupportedAlgorithm, .malformedToken], signatureStillChecked: false)
        }
        if vector.headerKeyID == nil {
            return PolicyRefusal(
                reason: "the token has no kid: refused by design (docs/design.md: Keycloak always sets kid, no fallback key)",
                codes: [.unknownKeyID], signatureStillChecked: true)
        }
        if let index = vector.selectedKey, let pinned = vector.keyAlgorithms[index], pinned != alg,
            SignatureAlgorithm(rawValue: pinned) != nil
        {
            return PolicyRefusal(
                reason: "the key's JWK pins alg \(pinned) and the token says \(alg): a key verifies one algorithm only",
                codes: [.unsupportedAlgorithm], signatureStillChecked: true)
        }
        return nil
    }

    /// Invalid cases whose signature must also fail on its own: not those about the key's
    /// permitted use (use/key_ops/key validation) or a deliberately mismatched algorithm, where
    /// the signature may be cryptographically sound.
    static func signatureMustFail(_ vector: JWSVector) -> Bool {
        guard vector.result == "invalid", vector.file == "json_web_signature_test.json",
            !["rsa_encryption", "ec_key_for_encryption"].contains(vector.group),
            !vector.flags.contains("WrongPrimitive")
        else { return false }
        if let index = vector.selectedKey, let pinned = vector.keyAlgorithms[index], pinned != vector.headerAlgorithm {
            return false
        }
        return true
    }

    /// The verdict counts for the summary line.
    static func tally(_ vectors: [JWSVector]) -> String {
        var counts: [String: Int] = [:]
        for vector in vectors {
            let outcome = verifier(vector)
            let bucket: String
            switch vector.result {
            case "valid":
                if let refusal = policyRefusal(vector) {
                    bucket =
                        "valid, refused by design ("
                        + (refusal.reason.hasPrefix("alg")
                            ? "alg outside the allow-list"
                            : refusal.reason.hasPrefix("the token has no kid")
                                ? "no kid"
                                : refusal.reason.hasPrefix("JWS JSON")
                                    ? "JSON serialization"
                                    : refusal.reason.hasPrefix("empty payload") ? "empty payload" : "key pinned to another alg") + ")"
                } else {
                    bucket = outcome.passedSignature ? "valid, verified" : "valid, NOT verified"
                }
            case "invalid":
                bucket = outcome.passedSignature ? "invalid, NOT refused" : "invalid, refused"
            default:
                bucket = "acceptable, " + (outcome.passedSignature ? "verified" : "refused")
            }
            counts[bucket, default: 0] += 1
        }
        return counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
    }
}

// MARK: - Raw signature cases (RSA PKCS#1 v1.5, RSA-PSS, ECDSA P-256 in P1363 form)

/// One signature-verification case of the non-JOSE files, run through the algorithm a JWS of
/// that kind would use (RS256, PS256, ES256: the exact `SignatureAlgorithm.verify` path).
struct RawSignatureVector: Sendable, CustomTestStringConvertible {
    let file: String
    let tcId: Int
    let comment: String
    let result: String
    let flags: [String]
    let algorithm: SignatureAlgorithm
    let jwk: [UInt8]
    let message: [UInt8]
    let signature: [UInt8]

    var testDescription: String { "\(file) #\(tcId) \(result) \(comment)" }

    static let files: [(String, SignatureAlgorithm, String)] = [
        ("ecdsa_secp256r1_sha256_p1363_test.json", .es256, "publicKeyJwk"),
        ("rsa_signature_2048_sha256_test.json", .rs256, "keyJwk"),
        ("rsa_pss_2048_sha256_mgf1_32_test.json", .ps256, "publicKeyJwk"),
    ]

    static let all: [RawSignatureVector] = files.flatMap { name, algorithm, keyMember in
        WycheproofVectors.groups(of: WycheproofVectors.load(name)).flatMap { group -> [RawSignatureVector] in
            let jwk = WycheproofVectors.json(group[keyMember] ?? jwk(from: group["publicKey"], algorithm) ?? [:])
            return (group["tests"] as? [[String: Any]] ?? []).map { test in
                RawSignatureVector(
                    file: name, tcId: test["tcId"] as? Int ?? -1, comment: test["comment"] as? String ?? "",
                    result: test["result"] as? String ?? "", flags: test["flags"] as? [String] ?? [],
                    algorithm: algorithm, jwk: jwk, message: WycheproofVectors.hex(test["msg"] as? String ?? ""),
                    signature: WycheproofVectors.hex(test["sig"] as? String ?? ""))
            }
        }
    }

    /// A JWK from the group's `publicKey` (hex members) when the group has no JWK (some edge-case
    /// ECDSA keys): coordinates padded to the curve size as RFC 7518 §6.2.1.2 requires.
    static func jwk(from publicKey: Any?, _ algorithm: SignatureAlgorithm) -> [String: Any]? {
        guard let publicKey = publicKey as? [String: Any] else { return nil }
        func fixed(_ hex: String, _ size: Int) -> String {
            let bytes = Array(WycheproofVectors.hex(hex).drop { $0 == 0 })
            return Base64URL.encode([UInt8](repeating: 0, count: max(0, size - bytes.count)) + bytes)
        }
        if algorithm == .es256, let x = publicKey["wx"] as? String, let y = publicKey["wy"] as? String {
            return ["kty": "EC", "crv": "P-256", "x": fixed(x, 32), "y": fixed(y, 32)]
        }
        if let modulus = publicKey["modulus"] as? String, let exponent = publicKey["publicExponent"] as? String {
            let n = Array(WycheproofVectors.hex(modulus).drop { $0 == 0 })
            let e = Array(WycheproofVectors.hex(exponent).drop { $0 == 0 })
            return ["kty": "RSA", "n": Base64URL.encode(n), "e": Base64URL.encode(e)]
        }
        return nil
    }

    /// nil when the group's key cannot be built (reported as a failure for valid cases).
    func verify() -> Bool? {
        guard let key = try? JSONDecoder().decode(JSONWebKey.self, from: Data(jwk)).verificationKey() else { return nil }
        return algorithm.verify(signature, over: ArraySlice(message), with: key)
    }
}

// MARK: - The tests

@Suite("Wycheproof")
struct WycheproofTests {
    @Test("the Wycheproof vectors are present, or their absence is recorded")
    func vectorsArePresent() {
        guard WycheproofVectors.available else {
            withKnownIssue(WycheproofVectors.absence) {
                Issue.record("no ../shared/testvectors/wycheproof/json_web_signature_test.json")
            }
            return
        }
        #expect(JWSVector.all.count == 401 + 26, "json_web_signature_test.json has 401 cases, json_web_key_test.json 26")
        #expect(RawSignatureVector.all.count == 262 + 259 + 108)
    }

    @Test(
        "JSON Web Signature and JSON Web Key cases: each with its expected verdict",
        .enabled(if: WycheproofVectors.available, WycheproofVectors.absence), arguments: JWSVector.all)
    func jws(_ vector: JWSVector) {
        let outcome = WycheproofJWS.verifier(vector)
        let signature = WycheproofJWS.signature(vector)
        switch vector.result {
        case "valid":
            if let refusal = WycheproofJWS.policyRefusal(vector) {
                // Valid in Wycheproof, refused by this verifier on purpose: say why.
                #expect(!outcome.passedSignature, "\(vector): must be refused (\(refusal.reason)); \(outcome)")
                #expect(
                    outcome.error.map { refusal.codes.contains($0.code) } ?? false,
                    "\(vector): refused for another reason than \(refusal.reason): \(outcome)")
                if refusal.signatureStillChecked {
                    #expect(signature == true, "\(vector): the signature layer must still verify it (\(refusal.reason))")
                }
            } else {
                #expect(outcome.passedSignature, "\(vector): valid, but \(outcome)")
                #expect(signature == true, "\(vector): valid, but the signature layer says \(String(describing: signature))")
            }
        case "invalid" where vector.comment == "rejectsKeyWithRocaVulnerability":
            // A documented limitation, not a silent skip: the verifier does not test RSA moduli
            // for the ROCA weakness (CVE-2017-15361, Infineon key generation). The key comes from
            // the operator's identity provider (Keycloak generates keys with the JDK), not from
            // the token, so an attacker cannot bring one. Recorded as a known issue so the
            // case stays visible and turns into a failure once a check exists.
            withKnownIssue("ROCA-weak RSA keys from the provider's JWKS are not detected (docs/design.md)") {
                #expect(!outcome.passedSignature, "\(vector): invalid (ROCA key), but it \(outcome)")
            }
        case "invalid":
            #expect(!outcome.passedSignature, "\(vector): invalid (flags \(vector.flags)), but it \(outcome)")
            if WycheproofJWS.signatureMustFail(vector), let signature {
                #expect(!signature, "\(vector): invalid, but the signature layer accepts it")
            }
        case "acceptable":
            // Either verdict is allowed; reaching here means neither layer crashed.
            break
        default:
            Issue.record("\(vector): unknown result \(vector.result)")
        }
    }

    @Test(
        "raw RS256, PS256 and ES256 (P1363 r||s) signature cases: each with its expected verdict",
        .enabled(if: WycheproofVectors.available, WycheproofVectors.absence), arguments: RawSignatureVector.all)
    func rawSignature(_ vector: RawSignatureVector) {
        let verdict = vector.verify()
        switch vector.result {
        case "valid":
            #expect(verdict == true, "\(vector) (flags \(vector.flags)): valid, but \(String(describing: verdict))")
        case "invalid":
            #expect(verdict != true, "\(vector) (flags \(vector.flags)): invalid, but accepted")
        case "acceptable":
            break  // either way; it did not crash
        default:
            Issue.record("\(vector): unknown result \(vector.result)")
        }
    }

    @Test("summary of the verdicts (printed)", .enabled(if: WycheproofVectors.available, WycheproofVectors.absence))
    func summary() {
        for file in ["json_web_signature_test.json", "json_web_key_test.json"] {
            let vectors = JWSVector.all.filter { $0.file == file }
            print("Wycheproof \(file): \(vectors.count) cases — \(WycheproofJWS.tally(vectors))")
        }
        for (file, algorithm, _) in RawSignatureVector.files {
            let vectors = RawSignatureVector.all.filter { $0.file == file }
            var counts: [String: Int] = [:]
            for vector in vectors {
                let verdict = vector.verify() == true ? "verified" : "refused"
                counts["\(vector.result), \(verdict)", default: 0] += 1
            }
            let line = counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
            print("Wycheproof \(file) via \(algorithm.rawValue): \(vectors.count) cases — \(line)")
        }
    }
}
