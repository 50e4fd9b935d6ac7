import Foundation
import Testing

@testable import FCGIApp

@Suite("JSONValue")
struct JSONValueTests {
    private func text(_ value: JSONValue) -> String {
        String(decoding: value.serialized, as: UTF8.self)
    }

    @Test("objects keep their keys in the order written")
    func order() {
        let value = JSONValue.object([("z", 1), ("a", 2), ("m", 3)].map { ($0.0, .integer($0.1)) })
        #expect(text(value) == #"{"z":1,"a":2,"m":3}"#)
        let reversed = JSONValue.object([("m", .integer(3)), ("a", .integer(2)), ("z", .integer(1))])
        #expect(text(reversed) == #"{"m":3,"a":2,"z":1}"#)
    }

    @Test("scalars, arrays and nesting are compact")
    func compact() {
        let value = JSONValue.object([
            ("s", "x"), ("i", .integer(-42)), ("t", .bool(true)), ("f", .bool(false)), ("n", .null),
            ("a", .array([.integer(1), "two", .array([]), .object([])])), ("o", .object([("k", .null)])),
        ])
        #expect(text(value) == #"{"s":"x","i":-42,"t":true,"f":false,"n":null,"a":[1,"two",[],{}],"o":{"k":null}}"#)
    }

    @Test("optional is the string or null")
    func optional() {
        #expect(text(.optional("a")) == #""a""#)
        #expect(text(.optional(nil)) == "null")
    }

    @Test(
        "strings are escaped as Python's json.dumps(ensure_ascii=False) does",
        arguments: [
            ("plain", #""plain""#),
            ("/docs", #""/docs""#),  // '/' is not escaped
            ("quote \" backslash \\", #""quote \" backslash \\""#),
            ("\n\r\t\u{08}\u{0C}", #""\n\r\t\b\f""#),
            ("\u{00}\u{01}\u{1F}", #""\u0000\u0001\u001f""#),
            ("\u{7F}", "\"\u{7F}\""),
            ("é ü 日本 😀", "\"é ü 日本 😀\""),
            ("\u{2028}", "\"\u{2028}\""),
            ("", #""""#),
        ])
    func escaping(string: String, expected: String) {
        #expect(text(.string(string)) == expected)
    }

    @Test(
        "every string survives a round trip through a JSON parser",
        arguments: [
            "Test#123456", "p&ss+w%rd é#1", "\u{00}\u{1F}\u{7F}\"\\/", "line\nbreak", "😀\u{2029}",
        ])
    func roundTrip(string: String) throws {
        let bytes = JSONValue.object([("k", .string(string))]).serialized
        let parsed = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: String]
        #expect(parsed == ["k": string])
    }

    @Test("equality is by serialization, so order matters")
    func equality() {
        #expect(JSONValue.object([("a", .null), ("b", .null)]) == .object([("a", .null), ("b", .null)]))
        #expect(JSONValue.object([("a", .null), ("b", .null)]) != .object([("b", .null), ("a", .null)]))
        #expect(JSONValue.string("1") != .integer(1))
    }
}
