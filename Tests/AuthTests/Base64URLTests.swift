import Auth
import Testing

@Suite("Base64URL")
struct Base64URLTests {
    @Test("round trips every length and byte value", arguments: [0, 1, 2, 3, 4, 5, 31, 32, 33, 256])
    func roundTrip(length: Int) {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let encoded = Base64URL.encode(bytes)
        #expect(!encoded.contains("="))
        #expect(Base64URL.decode(encoded) == bytes)
    }

    @Test("uses the URL-safe alphabet")
    func urlSafeAlphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
    }

    @Test(
        "known vectors (RFC 4648 §10, unpadded)",
        arguments: [
            ("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy"),
        ])
    func vectors(plain: String, encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(encoded) == Array(plain.utf8))
    }

    @Test(
        "rejects what is not canonical unpadded base64url",
        arguments: [
            "Zg==",  // padding
            "Zm8=",  // padding
            "+_-_",  // '+' from the standard alphabet
            "-/-_",  // '/' from the standard alphabet
            "Zm9v Yg",  // inner space
            "Zm9v\n",  // trailing newline
            " Zm9v",  // leading space
            "Zm9vY",  // length % 4 == 1
            "A",  // length % 4 == 1
            "QR",  // non-canonical: stray bits in the last character (canonical is "QQ")
            "Zm9",  // three characters with stray low bits (canonical is "Zm8")
            "Zm9vYmF5Zg=",  // padded tail
            "Zm9vé",  // non-ASCII
        ])
    func rejects(input: String) {
        #expect(Base64URL.decode(input) == nil)
    }

    @Test("canonical forms of the rejected stray-bit strings decode")
    func canonicalCounterparts() {
        #expect(Base64URL.decode("QQ") == [0x41])
        #expect(Base64URL.decode("Zm8") == Array("fo".utf8))
    }

    @Test("decodes a slice that does not start at index 0")
    func sliceDecoding() {
        let token = Array("xx.Zm9vYmFy.yy".utf8)
        #expect(Base64URL.decode(token[3..<11]) == Array("foobar".utf8))
    }
}
