import Auth
import TestSupport
import Foundation
import Logging
import Testing

@testable import FCGIApp

/// The whole service built by `buildApplication` over a fake provider, driven with plain
/// request values.
struct AppHarness {
    let provider: FakeKeycloak
    let application: Application
    let worker: Application.Worker

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static let baseEnvironment = [
        "KEYCLOAK_SERVER_URL": "https://sso.example.com/",
        "KEYCLOAK_REALM": "testing",
        "KEYCLOAK_CLIENT_ID": FixtureRealm.clientID,
        "KEYCLOAK_CLIENT_SECRET": FakeKeycloak.clientSecret,
    ]

    /// - Parameter discovered: records discovery into the shared provider state, as the
    ///   background monitor would (the key cache stays empty: the first token fetches it).
    init(environment: [String: String] = [:], discovered: Bool = true) throws {
        let configuration = try AppConfiguration.load(environment: Self.baseEnvironment.merging(environment) { $1 })
        let provider = FakeKeycloak()
        self.provider = provider
        self.application = buildApplication(
            configuration: configuration, logger: AppHarness.quiet,
            makeTransport: { () throws(AuthError) -> any HTTPTransport in provider.makeTransport() })
        self.worker = try application.makeWorker()
        if discovered {
            application.provider.record(try worker.client.discover())
        }
    }

    func send(_ request: HTTPRequest, now: Date = FixtureRealm.now) -> HTTPResponse {
        worker.respond(to: request, logger: AppHarness.quiet, now: now)
    }

    func get(_ path: String, authorization: String? = nil, now: Date = FixtureRealm.now) -> HTTPResponse {
        send(HTTPRequest(method: "GET", path: path, authorization: authorization), now: now)
    }

    func postForm(_ body: String, contentType: String? = "application/x-www-form-urlencoded") -> HTTPResponse {
        send(HTTPRequest(method: "POST", path: "/login", contentType: contentType, body: Array(body.utf8)))
    }

    /// A form POST to `path`.
    func post(
        _ path: String, form body: String, contentType: String? = "application/x-www-form-urlencoded", authorization: String? = nil,
        now: Date = FixtureRealm.now
    ) -> HTTPResponse {
        send(
            HTTPRequest(method: "POST", path: path, contentType: contentType, authorization: authorization, body: Array(body.utf8)),
            now: now)
    }

    /// The form the provider received at `endpoint` in its latest request, as pairs in order.
    func lastForm(to endpoint: FakeKeycloak.Endpoint) -> [(String, String)]? {
        provider.requests(to: endpoint).last?.body.map { FormURLEncoding.decode($0) }
    }
}

extension HTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// The contract's bytes for a JSON body, key order included. On a mismatch the content is
/// compared too, so the failure says whether only the order or the members differ.
func expectBody(_ response: HTTPResponse, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.text == expected, sourceLocation: sourceLocation)
    if response.text != expected {
        #expect(canonicalJSON(response.body) == canonicalJSON(Array(expected.utf8)), "JSON content", sourceLocation: sourceLocation)
    }
}

/// The JSON re-serialized with sorted keys, or nil when it is not JSON.
func canonicalJSON(_ bytes: [UInt8]) -> String? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]),
        let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])
    else { return nil }
    return String(decoding: data, as: UTF8.self)
}
