import Auth
import Testing

@Suite("BearerCredentials")
struct BearerCredentialsTests {
    @Test(
        "extracts the token",
        arguments: [
            ("Bearer abc", "abc"),
            ("bearer abc", "abc"),
            ("BEARER abc", "abc"),
            ("BeArEr abc", "abc"),
            ("Bearer    abc   ", "abc"),
            ("  Bearer abc", "abc"),
            ("Bearer\tabc\t", "abc"),
            ("Bearer Bearer abc", "abc"),  // Swagger users type the prefix into a field that adds it
            ("Bearer bearer abc", "abc"),
            ("Bearer a.b.c", "a.b.c"),
            ("Bearer BearerToken", "BearerToken"),  // a token that merely starts with the word
        ])
    func extracts(header: String, token: String) throws {
        #expect(try BearerCredentials.token(fromAuthorization: header) == token)
    }

    @Test(
        "refuses with missingBearerToken",
        arguments: [
            nil, "", "   ", "Basic dXNlcjpwYXNz", "Basic x", "Bearer", "Bearer   ", "Bearer\t", "Bearerabc",
            "Token abc", "Digest Bearer abc", "Bearer\r\n",
        ] as [String?])
    func refuses(header: String?) {
        #expect {
            try BearerCredentials.token(fromAuthorization: header)
        } throws: { error in
            (error as? AuthError)?.code == .missingBearerToken
        }
    }
}
