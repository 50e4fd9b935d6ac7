import Testing

@testable import FCGIApp

@Suite("RootHandler")
struct RootHandlerTests {
    static let welcome =
        #"{"message":"Welcome to the Keycloak authentication system. Use the /login endpoint to authenticate and /protected to access the protected resource.","documentation":"/docs"}"#

    @Test("GET / answers the seed's welcome, byte for byte")
    func welcome() throws {
        let app = try AppHarness()
        let response = app.get("/")
        #expect(response.status == .ok)
        expectBody(response, Self.welcome)
        #expect(response.header("Content-Type") == "application/json")
    }

    @Test("GET / needs neither credentials nor the provider")
    func noProvider() throws {
        let app = try AppHarness(discovered: false)
        let response = app.get("/", authorization: "Bearer garbage")
        #expect(response.status == .ok)
        expectBody(response, Self.welcome)
        #expect(app.provider.requests.isEmpty)
    }

    @Test("HEAD / has the GET headers and no body")
    func head() throws {
        let app = try AppHarness()
        let response = app.send(HTTPRequest(method: "HEAD", path: "/"))
        #expect(response.status == .ok)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Type") == "application/json")
    }
}
