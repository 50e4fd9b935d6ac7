import Auth
import Foundation
import Testing

@testable import FCGIApp

@Suite("Health, readiness and metrics routes")
struct OperationsHandlersTests {
    @Test("healthz answers ok whatever the provider's state")
    func health() throws {
        let app = try AppHarness(discovered: false)
        let response = app.get("/healthz")
        #expect(response.status == .ok)
        expectBody(response, #"{"status":"ok"}"#)
    }

    @Test("readyz and metrics are hidden from requests that are not internal", arguments: ["/readyz", "/metrics"])
    func internalOnly(path: String) throws {
        let app = try AppHarness()
        let outside = app.send(HTTPRequest(method: "GET", path: path))
        #expect(outside.status == .notFound)
        expectBody(outside, #"{"detail":"Not Found"}"#)
        let inside = app.send(HTTPRequest(method: "GET", path: path, isInternal: true))
        #expect(inside.status != .notFound)
    }

    @Test("readyz is 503 until discovery, keys and a provider answer, then 200")
    func readiness() throws {
        let app = try AppHarness(discovered: false)
        let internalReady = HTTPRequest(method: "GET", path: "/readyz", isInternal: true)
        let before = app.send(internalReady)
        #expect(before.status == .serviceUnavailable)
        expectBody(before, #"{"status":"not_ready","checks":{"discovery":"pending","keys":"pending","provider":"unreachable"}}"#)

        app.application.provider.record(try app.worker.client.discover())  // also a provider contact
        let discoveredOnly = app.send(internalReady)
        #expect(discoveredOnly.status == .serviceUnavailable)
        expectBody(discoveredOnly, #"{"status":"not_ready","checks":{"discovery":"ok","keys":"pending","provider":"ok"}}"#)

        try app.application.provider.keys.refresh { () throws(AuthError) in try app.worker.client.fetchKeys() }
        let ready = app.send(internalReady)
        #expect(ready.status == .ok)
        expectBody(ready, #"{"status":"ready","checks":{"discovery":"ok","keys":"ok","provider":"ok"}}"#)
    }

    @Test("readyz in userinfo mode does not wait for keys")
    func readinessUserinfo() throws {
        let app = try AppHarness(environment: ["AUTH_VERIFY": "userinfo"])
        let response = app.send(HTTPRequest(method: "GET", path: "/readyz", isInternal: true))
        #expect(response.status == .ok)
        expectBody(response, #"{"status":"ready","checks":{"discovery":"ok","keys":"not_needed","provider":"ok"}}"#)
    }

    @Test("metrics answer the Prometheus text format")
    func metrics() throws {
        let app = try AppHarness()
        let response = app.send(HTTPRequest(method: "GET", path: "/metrics", isInternal: true))
        #expect(response.status == .ok)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
    }

    @Test("route labels are bounded: unknown paths share one label")
    func routeLabels() throws {
        let app = try AppHarness()
        #expect(app.application.router.routeLabel(for: "/protected") == "/protected")
        #expect(app.application.router.routeLabel(for: "/metrics") == "/metrics")
        #expect(app.application.router.routeLabel(for: "/random-\(UUID())") == "unmatched")
    }
}
