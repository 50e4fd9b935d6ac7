import Testing

@testable import FCGIApp

@Suite("MultipartForm")
struct MultipartFormTests {
    static func body(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test("text fields by name, last occurrence winning; file parts and nameless parts ignored")
    func fields() {
        let body = Self.body(
            "preamble\r\n--B\r\nContent-Disposition: form-data; name=\"username\"\r\n\r\nabdullah\r\n"
                + "--B\r\nContent-Disposition: form-data; name=\"password\"\r\nContent-Type: text/plain\r\n\r\nTest#123456\r\n"
                + "--B\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"a.txt\"\r\n\r\nfile\r\n"
                + "--B\r\nContent-Type: text/plain\r\n\r\nno name\r\n"
                + "--B\r\ncontent-disposition: form-data; name=\"username\"\r\n\r\nsecond\r\n--B--\r\nepilogue")
        #expect(MultipartForm.fields(of: body, boundary: "B") == ["username": "second", "password": "Test#123456"])
    }

    @Test("values keep line breaks, non-ASCII and bytes that look like a boundary")
    func values() {
        let body = Self.body(
            "--XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\np&ss+w%rd é#1\r\n--Xy\r\nline\r\n--XyZ--\r\n")
        #expect(MultipartForm.fields(of: body, boundary: "XyZ") == ["password": "p&ss+w%rd é#1\r\n--Xy\r\nline"])
    }

    @Test("UTF-8 in a field name is read; a non-token header name (which crashed MultipartKit 4.7.1) or invalid UTF-8 is refused")
    func nonASCIIHeaders() {
        let utf8Name = Self.body("--B\r\nContent-Disposition: form-data; name=\"n\u{e9}\"\r\n\r\nv\r\n--B--\r\n")
        #expect(MultipartForm.fields(of: utf8Name, boundary: "B") == ["n\u{e9}": "v"])
        let headerName = Self.body("--B\r\n\u{e9}: x\r\n\r\nv\r\n--B--\r\n")
        #expect(MultipartForm.fields(of: headerName, boundary: "B") == nil)
        let invalidUTF8 = Array("--B\r\nContent-Disposition: form-data; name=\"".utf8) + [0xFF, 0xFE] + Array("\"\r\n\r\nv\r\n--B--".utf8)
        #expect(MultipartForm.fields(of: invalidUTF8, boundary: "B") == nil)
    }

    @Test("control characters in a field name are kept (FastAPI keeps them); the field is just not one asked for")
    func controlCharactersInNames() {
        let body = Self.body("--B\r\nContent-Disposition: form-data; name=\"a\u{5}\"\r\n\r\nv\r\n--B--")
        #expect(MultipartForm.fields(of: body, boundary: "B") == ["a\u{5}": "v"])
    }

    @Test("quoted names with escapes, unquoted names, odd spacing")
    func names() {
        let body = Self.body(
            "--b\r\nContent-Disposition: form-data ;name=plain\r\n\r\n1\r\n"
                + "--b\r\nContent-Disposition:form-data; name=\"we\\\"ird\"\r\n\r\n2\r\n--b--")
        #expect(MultipartForm.fields(of: body, boundary: "b") == ["plain": "1", "we\"ird": "2"])
    }

    @Test(
        "malformed bodies are refused, never guessed",
        arguments: [
            ("no delimiter at all", "username=abdullah", "B"),
            ("no closing delimiter", "--B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv", "B"),
            ("a header line without a colon", "--B\r\nContent-Disposition form-data\r\n\r\nv\r\n--B--", "B"),
            ("garbage after the delimiter", "--Bjunk\r\n\r\nv\r\n--B--", "B"),
            ("an empty boundary", "----\r\n\r\n", ""),
            ("a boundary over 70 characters", "x", String(repeating: "b", count: 71)),
            ("a boundary with a line break", "x", "a\nb"),
        ])
    func malformed(_ name: String, _ text: String, _ boundary: String) {
        #expect(MultipartForm.fields(of: Self.body(text), boundary: boundary) == nil, "\(name)")
    }

    @Test("a header section over 8 KiB is refused")
    func headerLimit() {
        let body = Self.body("--B\r\nX-Pad: \(String(repeating: "a", count: 9000))\r\n\r\nv\r\n--B--")
        #expect(MultipartForm.fields(of: body, boundary: "B") == nil)
    }

    @Test("more than 64 parts are refused")
    func partLimit() {
        var text = ""
        for index in 0..<65 {
            text += "--B\r\nContent-Disposition: form-data; name=\"f\(index)\"\r\n\r\nv\r\n"
        }
        #expect(MultipartForm.fields(of: Self.body(text + "--B--"), boundary: "B") == nil)
    }
}
