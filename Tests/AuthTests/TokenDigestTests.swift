@testable import Auth
import Testing

@Suite("TokenDigest")
struct TokenDigestTests {
    @Test("the same namespace and token give equal keys with equal hashes")
    func equal() {
        let first = TokenDigest(namespace: "jwks|https://sso.example.com/realms/testing|", token: "a.b.c")
        let second = TokenDigest(namespace: "jwks|https://sso.example.com/realms/testing|", token: "a.b.c")
        #expect(first == second)
        #expect(first.hashValue == second.hashValue)
        #expect(Set([first, second]).count == 1)
    }

    @Test(
        "another namespace or another token gives another key",
        arguments: [
            (("ns", "a.b.c"), ("ns", "a.b.d")),
            (("ns", "a.b.c"), ("ns2", "a.b.c")),
            (("jwks|issuer|", "t.o.k"), ("jwks|issuer|api", "t.o.k")),
            (("introspect|issuer|client|", "t.o.k"), ("jwks|issuer|client|", "t.o.k")),
            (("", "a.b.c"), ("a.b.c", "")),
            // The separator keeps the boundary: "ab"+"c" is not "a"+"bc".
            (("ab", "c"), ("a", "bc")),
            (("ns", ""), ("ns", " ")),
        ])
    func different(first: (String, String), second: (String, String)) {
        let one = TokenDigest(namespace: first.0, token: first.1)
        let other = TokenDigest(namespace: second.0, token: second.1)
        #expect(one != other)
        #expect(Set([one, other]).count == 2)
    }

    @Test("many distinct tokens give distinct keys")
    func manyDistinct() {
        let keys = Set((0..<10_000).map { TokenDigest(namespace: "ns", token: "token-\($0)") })
        #expect(keys.count == 10_000)
    }

    @Test(
        "two-field keys (the revocation list's): the boundary between the fields counts, and a NUL in a field cannot move it",
        arguments: [
            (("sid", "ab", "c"), ("sid", "a", "bc")), (("sid", "a\u{0}", "b"), ("sid", "a", "\u{0}b")),
            (("sid", "iss", "x"), ("sub", "iss", "x")), (("sid", "", "ab"), ("sid", "ab", "")),
        ])
    func twoFields(first: (String, String, String), second: (String, String, String)) {
        let one = TokenDigest(namespace: first.0, token: first.1, first.2)
        #expect(one == TokenDigest(namespace: first.0, token: first.1, first.2))
        #expect(one != TokenDigest(namespace: second.0, token: second.1, second.2))
    }
}
