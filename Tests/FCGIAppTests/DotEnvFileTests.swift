import Testing

@testable import FCGIApp

@Suite("DotEnvFile")
struct DotEnvFileTests {
    @Test(
        "reads values",
        arguments: [
            ("KEY=value", "value"),
            ("export KEY=value", "value"),
            ("export   KEY=value", "value"),
            ("  KEY = value  ", "value"),
            ("KEY=Test#123", "Test#123"),
            ("KEY=Test#123456 # the article's password", "Test#123456"),
            ("KEY=value # comment", "value"),
            ("KEY=#not-a-comment", "#not-a-comment"),
            ("KEY= #not-a-comment", "#not-a-comment"),
            ("KEY=value\t# comment", "value"),
            ("KEY=", ""),
            ("KEY=a=b=c", "a=b=c"),
            ("KEY=\"double # not a comment\"", "double # not a comment"),
            ("KEY='single # not a comment'", "single # not a comment"),
            ("KEY=\"a\\nb\\t\\\"c\\\"\\\\\"", "a\nb\t\"c\"\\"),
            ("KEY='no \\n escapes'", "no \\n escapes"),
            ("KEY=\"unknown \\q escape\"", "unknown \\q escape"),
            ("KEY=\"quoted\" # comment", "quoted"),
            ("KEY=https://sso.example.com/", "https://sso.example.com/"),
            ("KEY=é ü", "é ü"),
        ])
    func value(line: String, expected: String) throws {
        #expect(try DotEnvFile.parse(line) == ["KEY": expected])
    }

    @Test("skips comments and blank lines; later lines win")
    func file() throws {
        let text = """
            # Keycloak
            KEYCLOAK_SERVER_URL=http://localhost:8080

              # indented comment
            KEYCLOAK_REALM=testing
            export KEYCLOAK_CLIENT_ID=fastapi-keycloak
            KEYCLOAK_REALM=other

            """
        #expect(
            try DotEnvFile.parse(text) == [
                "KEYCLOAK_SERVER_URL": "http://localhost:8080", "KEYCLOAK_REALM": "other", "KEYCLOAK_CLIENT_ID": "fastapi-keycloak",
            ])
    }

    @Test("reads a file with CRLF line ends")
    func crlf() throws {
        // "\r\n" is one Character in Swift, so splitting the String on "\n" never splits it.
        #expect(try DotEnvFile.parse("A=1\r\nB=\"two\"\r\nC=Test#123\r\n") == ["A": "1", "B": "two", "C": "Test#123"])
        #expect(try DotEnvFile.parse("# comment\r\nA=1\r\n") == ["A": "1"])
    }

    @Test("an empty file has no values")
    func empty() throws {
        #expect(try DotEnvFile.parse("") == [:])
    }

    @Test(
        "reports a bad line by number without its value",
        arguments: [
            ("A=1\nnot a pair\n", 2, "expected KEY=VALUE"),
            ("A=1\n\n# c\n=value\n", 4, "invalid key"),
            ("BAD-KEY=1", 1, "invalid key"),
            ("A=1\nB=\"unterminated secret\n", 2, "unterminated quoted value"),
            ("A='open", 1, "unterminated quoted value"),
        ])
    func problem(text: String, line: Int, reason: String) {
        let error = #expect(throws: DotEnvFile.Problem.self) { try DotEnvFile.parse(text) }
        #expect(error == DotEnvFile.Problem(line: line, reason: reason))
        #expect(error.map { !"\($0)".contains("secret") } ?? true)
    }
}
