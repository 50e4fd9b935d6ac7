import Auth
import Testing

@Suite("FormURLEncoding")
struct FormURLEncodingTests {
    private func encoded(_ pairs: [(String, String)]) -> String {
        String(decoding: FormURLEncoding.encode(pairs), as: UTF8.self)
    }

    @Test(
        "encodes the article's password and awkward characters",
        arguments: [
            ("Test#123456", "Test%23123456"),
            ("p&ss+w%rd é#1", "p%26ss%2Bw%25rd+%C3%A9%231"),
            ("a b  c", "a+b++c"),
            ("safe-._*AZaz09", "safe-._*AZaz09"),
            ("=/?", "%3D%2F%3F"),
        ])
    func encodesValue(value: String, expected: String) {
        #expect(encoded([("password", value)]) == "password=\(expected)")
    }

    @Test("joins pairs with '&' and encodes keys too")
    func joinsPairs() {
        #expect(encoded([("grant_type", "password"), ("a b", "c&d"), ("empty", "")]) == "grant_type=password&a+b=c%26d&empty=")
    }

    @Test("encode then decode returns the original pairs")
    func roundTrip() {
        let pairs = [("username", "abdullah"), ("password", "p&ss+w%rd é#1=="), ("x", "\u{1F600} tab\t")]
        let decoded = FormURLEncoding.decode(FormURLEncoding.encode(pairs))
        #expect(decoded.map(\.0) == pairs.map(\.0))
        #expect(decoded.map(\.1) == pairs.map(\.1))
    }

    @Test(
        "decodes",
        arguments: [
            ("a=b+c", "a", "b c"),
            ("a=%41%62%2b", "a", "Ab+"),
            ("a=%zz", "a", "%zz"),  // invalid escape kept literally
            ("a=%4", "a", "%4"),  // truncated escape kept literally
            ("a=100%", "a", "100%"),
            ("a=%%41", "a", "%A"),
            ("a=%FF%FE", "a", "\u{FFFD}\u{FFFD}"),  // not UTF-8
            ("a=%C3%A9", "a", "é"),
            ("a=x=y", "a", "x=y"),  // only the first '=' separates
            ("a+b=c", "a b", "c"),
        ])
    func decodesSingle(body: String, key: String, value: String) {
        let pairs = FormURLEncoding.decode(Array(body.utf8))
        #expect(pairs.count == 1)
        #expect(pairs.first?.0 == key)
        #expect(pairs.first?.1 == value)
    }

    @Test("keeps repeated keys in order, keys without '=', and skips empty fields")
    func decodesMany() {
        let pairs = FormURLEncoding.decode(Array("b=1&&a=2&b=3&flag&".utf8))
        #expect(pairs.map(\.0) == ["b", "a", "b", "flag"])
        #expect(pairs.map(\.1) == ["1", "2", "3", ""])
    }

    @Test("decodes an empty body to no pairs")
    func decodesEmpty() {
        #expect(FormURLEncoding.decode([UInt8]()).isEmpty)
    }
}
