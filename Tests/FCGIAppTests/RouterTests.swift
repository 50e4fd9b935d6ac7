import Testing
import TestSupport

@testable import FCGIApp

@Suite("Router")
struct RouterTests {
    static let notFound = #"{"detail":"Not Found"}"#
    static let methodNotAllowed = #"{"detail":"Method Not Allowed"}"#

    @Test(
        "unknown paths are 404 Not Found",
        arguments: [
            ("GET", "/nope"), ("GET", "/login/"), ("GET", "/protected/"), ("POST", "/protect"), ("GET", "/docs"),
            ("GET", "/openapi.json"), ("DELETE", "/x"), ("GET", ""), ("GET", "/LOGIN"), ("HEAD", "/missing"),
        ])
    func notFound(method: String, path: String) throws {
        let app = try AppHarness()
        let response = app.send(HTTPRequest(method: method, path: path))
        #expect(response.status == .notFound)
        expectBody(response, method == "HEAD" ? "" : Self.notFound)
        #expect(response.header("Content-Type") == "application/json")
    }

    @Test(
        "a known path with another method is 405 with Allow",
        arguments: [
            ("POST", "/", "GET, HEAD"),
            ("DELETE", "/", "GET, HEAD"),
            ("GET", "/login", "POST"),
            ("HEAD", "/login", "POST"),
            ("PUT", "/login", "POST"),
            ("POST", "/protected", "GET, HEAD"),
            ("OPTIONS", "/protected", "GET, HEAD"),
        ])
    func methodNotAllowed(method: String, path: String, allow: String) throws {
        let app = try AppHarness()
        let response = app.send(
            HTTPRequest(
                method: method, path: path, contentType: "application/x-www-form-urlencoded", body: Array("username=a&password=b".utf8)))
        #expect(response.status == .methodNotAllowed)
        expectBody(response, method == "HEAD" ? "" : Self.methodNotAllowed)
        #expect(response.header("Allow") == allow)
        #expect(app.provider.requests(to: .token).isEmpty)
    }

    @Test("HEAD on a route answers the GET's status and headers without a body")
    func headProtected() throws {
        let app = try AppHarness()
        let refused = app.send(HTTPRequest(method: "HEAD", path: "/protected"))
        #expect(refused.status == .unauthorized)
        #expect(refused.header("WWW-Authenticate") == "Bearer")
        #expect(refused.body.isEmpty)

        let served = app.send(HTTPRequest(method: "HEAD", path: "/protected", authorization: "Bearer \(FixtureRealm.validToken())"))
        #expect(served.status == .ok)
        #expect(served.body.isEmpty)
    }

}
