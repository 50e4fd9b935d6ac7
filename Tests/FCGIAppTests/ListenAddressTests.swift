import Testing

@testable import FCGIApp

@Suite("ListenAddress")
struct ListenAddressTests {
    @Test(
        "parses",
        arguments: [
            ("unix:/run/keycloak-fcgi.sock", ListenAddress.unix(path: "/run/keycloak-fcgi.sock")),
            ("127.0.0.1:9000", .tcp(host: "127.0.0.1", port: 9000)),
            ("localhost:1", .tcp(host: "localhost", port: 1)),
            ("0.0.0.0:65535", .tcp(host: "0.0.0.0", port: 65535)),
            (":9000", .tcp(host: "", port: 9000)),
        ])
    func parses(text: String, expected: ListenAddress) {
        #expect(ListenAddress(text) == expected)
    }

    @Test("round trips through description", arguments: ["unix:/tmp/x.sock", "127.0.0.1:9000", ":9000"])
    func description(text: String) {
        #expect(ListenAddress(text)?.description == text)
    }

    @Test("socketPath is what FCGX_OpenSocket expects")
    func socketPath() {
        #expect(ListenAddress("unix:/tmp/x.sock")?.socketPath == "/tmp/x.sock")
        #expect(ListenAddress("127.0.0.1:9000")?.socketPath == "127.0.0.1:9000")
    }

    @Test(
        "refuses",
        arguments: [
            "", "unix:", "unix:rel", "unix:relative/path.sock", "unix:/tmp/a:b.sock",
            "unix:/" + String(repeating: "x", count: 107),
            "9000", "localhost", "localhost:", "localhost:0", "localhost:65536", "localhost:-1", "localhost:http",
            "[::1]:9000", "::1:9000", "host/x:9000", "tcp://127.0.0.1:9000",
        ])
    func refuses(text: String) {
        #expect(ListenAddress(text) == nil)
    }

    @Test("a unix path of 107 bytes fits sun_path")
    func longestPath() {
        let path = "/" + String(repeating: "x", count: 106)
        #expect(ListenAddress("unix:" + path) == .unix(path: path))
    }
}
