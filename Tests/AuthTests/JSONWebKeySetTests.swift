import Auth
import TestSupport
import Foundation
import Testing

@Suite("JSONWebKeySet")
struct JSONWebKeySetTests {
    private func parse(_ keys: [[String: Any]]) throws -> JSONWebKeySet {
        try JSONWebKeySet(json: JWK.set(keys))
    }

    /// Keycloak's default `certs`: the encryption key first, then the signing key, both with
    /// the certificate members a verifier ignores.
    @Test("keeps only the signing key of a Keycloak JWKS")
    func keycloakShape() throws {
        var enc = JWK.rsa(SigningKeys.rsaOther, kid: "enc-kid", alg: "RSA-OAEP", use: "enc")
        var sig = JWK.rsa(SigningKeys.rsaCurrent, kid: "sig-kid", alg: "RS256", use: "sig")
        for index in [0, 1] {
            let extras: [String: Any] = ["x5c": ["MIICoz..."], "x5t": "abc", "x5t#S256": "def"]
            if index == 0 { enc.merge(extras) { a, _ in a } } else { sig.merge(extras) { a, _ in a } }
        }
        let set = try parse([enc, sig])
        #expect(Array(set.keys.keys) == ["sig-kid"])
        #expect(set["sig-kid"]?.algorithm == .rs256)
        #expect(set["enc-kid"] == nil)
        #expect(set.skipped.count == 1)
    }

    @Test("an encryption key is skipped even without alg")
    func encWithoutAlg() throws {
        let set = try parse([JWK.rsa(SigningKeys.rsaCurrent, kid: "enc", use: "enc")])
        #expect(set.keys.isEmpty)
    }

    @Test("use may be absent (RFC 7517 §4.2 makes it optional)")
    func useAbsent() throws {
        let set = try parse([JWK.rsa(SigningKeys.rsaCurrent, kid: "k", alg: "RS256", use: nil)])
        #expect(set["k"] != nil)
    }

    @Test("a key without alg is kept unpinned")
    func unpinned() throws {
        let set = try parse([JWK.rsa(SigningKeys.rsaCurrent, kid: "k")])
        #expect(set["k"] != nil)
        #expect(set["k"]?.algorithm == nil)
    }

    @Test("EC P-256 and P-384 keys are parsed with their algorithm")
    func ecKeys() throws {
        let set = try parse([JWK.p256(SigningKeys.p256, kid: "p256"), JWK.p384(SigningKeys.p384, kid: "p384")])
        #expect(set["p256"]?.algorithm == .es256)
        #expect(set["p384"]?.algorithm == .es384)
        if case .p256 = set["p256"]?.key {} else { Issue.record("p256 is not a P-256 key") }
        if case .p384 = set["p384"]?.key {} else { Issue.record("p384 is not a P-384 key") }
    }

    /// Unusable entries, each next to a good key that must survive.
    static let unusable: [(String, @Sendable () -> [String: Any])] = [
        ("no kid", { JWK.rsa(SigningKeys.rsaOther, kid: nil, alg: "RS256") }),
        ("empty kid", { JWK.rsa(SigningKeys.rsaOther, kid: "", alg: "RS256") }),
        ("RSA 1024", { JWK.rsa(SigningKeys.rsa1024, kid: "bad", alg: "RS256") }),
        ("RSA 1024 without alg", { JWK.rsa(SigningKeys.rsa1024, kid: "bad") }),
        (
            "OKP (Ed25519)",
            {
                [
                    "kty": "OKP", "crv": "Ed25519", "kid": "bad", "use": "sig", "alg": "EdDSA",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                ]
            }
        ),
        (
            "OKP without alg",
            { ["kty": "OKP", "crv": "Ed25519", "kid": "bad", "use": "sig", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"] }
        ),
        ("oct (symmetric)", { ["kty": "oct", "kid": "bad", "k": "c2VjcmV0"] }),
        ("EC key with alg RS256", { JWK.p256(SigningKeys.p256, kid: "bad", alg: "RS256") }),
        ("RSA key with alg ES256", { JWK.rsa(SigningKeys.rsaOther, kid: "bad", alg: "ES256") }),
        ("P-384 key with alg ES256", { JWK.p384(SigningKeys.p384, kid: "bad", alg: "ES256") }),
        ("HS256 alg", { JWK.rsa(SigningKeys.rsaOther, kid: "bad", alg: "HS256") }),
        (
            "RSA without n",
            {
                var jwk = JWK.rsa(SigningKeys.rsaOther, kid: "bad"); jwk["n"] = nil; return jwk
            }
        ),
        (
            "RSA with padded n",
            {
                var jwk = JWK.rsa(SigningKeys.rsaOther, kid: "bad"); jwk["n"] = (jwk["n"] as? String ?? "") + "="; return jwk
            }
        ),
        (
            "EC with unknown curve",
            {
                var jwk = JWK.p256(SigningKeys.p256, kid: "bad"); jwk["crv"] = "P-521"; return jwk
            }
        ),
        (
            "EC point not on the curve",
            {
                var jwk = JWK.p256(SigningKeys.p256, kid: "bad", alg: nil)
                jwk["y"] = Base64URL.encode([UInt8](repeating: 1, count: 32))
                return jwk
            }
        ),
        ("kty not a string", { ["kty": 1, "kid": "bad"] }),
        ("not an object", { ["kid": ["nested"]] }),
    ]

    @Test("skips unusable entries and keeps the rest", arguments: unusable.map(\.0))
    func skipsUnusable(name: String) throws {
        let entry = try #require(Self.unusable.first { $0.0 == name }).1()
        let set = try parse([entry, JWK.rsa(SigningKeys.rsaCurrent, kid: "good", alg: "RS256")])
        #expect(Array(set.keys.keys) == ["good"])
        #expect(set["bad"] == nil)
        #expect(set.skipped.count == 1)
    }

    @Test("a duplicate kid keeps the first key")
    func duplicateKid() throws {
        let set = try parse([
            JWK.rsa(SigningKeys.rsaCurrent, kid: "k", alg: "RS256"),
            JWK.rsa(SigningKeys.rsaOther, kid: "k", alg: "PS256"),
        ])
        #expect(set["k"]?.algorithm == .rs256)
        #expect(set.skipped.count == 1)
    }

    @Test("an empty key list parses to no keys")
    func emptyList() throws {
        #expect(try JSONWebKeySet(json: Array(#"{"keys":[]}"#.utf8)).keys.isEmpty)
    }

    @Test(
        "refuses a document that is not a JWKS",
        arguments: [
            "not json", "", "[]", "{}", #"{"keys":{}}"#, #"{"keys":null}"#, "<html>502 Bad Gateway</html>",
        ])
    func refusesDocument(text: String) {
        #expect {
            try JSONWebKeySet(json: Array(text.utf8))
        } throws: { error in
            (error as? AuthError)?.code == .identityProviderInvalidResponse
        }
    }
}
