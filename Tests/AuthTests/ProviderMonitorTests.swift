import Auth
import TestSupport
import Foundation
import Logging
import Synchronization
import Testing

@Suite("ProviderMonitor")
struct ProviderMonitorTests {
    typealias P = FakeKeycloak
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Answers discovery and certs; `discoveryFailures` first discovery calls fail.
    private static func makeTransport(
        discoveryCalls: Counter, certsCalls: Counter, discoveryFailures: Int = 0, certsDelay: Double = 0,
        certsStarted: DispatchSemaphore? = nil
    ) -> @Sendable () throws(AuthError) -> any HTTPTransport {
        return { () throws(AuthError) -> any HTTPTransport in
            FakeTransport { request throws(AuthError) in
                if request.url.hasSuffix("/.well-known/openid-configuration") {
                    if discoveryCalls.increment() <= discoveryFailures {
                        throw AuthError(.identityProviderUnavailable, "discovery: cannot connect")
                    }
                    return request.url.hasPrefix(P.issuer + "/") ? .json(200, P.discoveryJSON()) : .html(404)
                }
                if request.url == P.jwksURI {
                    certsCalls.increment()
                    certsStarted?.signal()
                    if certsDelay > 0 { Thread.sleep(forTimeInterval: certsDelay) }
                    return IncomingResponse(
                        status: 200, contentType: "application/json",
                        body: JWK.set([JWK.rsa(SigningKeys.rsaCurrent, kid: "k1", alg: "RS256")]))
                }
                return .html(404)
            }
        }
    }

    private static func waitUntil(_ condition: () -> Bool, timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return condition()
    }

    /// A monitor of an undiscovered provider whose discovery fails `discoveryFailures` times first.
    struct Monitored {
        let provider = P.provider(discovered: false)
        let discovery = Counter(), certs = Counter()
        let monitor: ProviderMonitor

        init(discoveryFailures: Int = 0) {
            monitor = ProviderMonitor(
                provider: provider, refreshInterval: .seconds(300), logger: ProviderMonitorTests.quiet,
                makeTransport: ProviderMonitorTests.makeTransport(
                    discoveryCalls: discovery, certsCalls: certs, discoveryFailures: discoveryFailures))
        }
    }

    @Test("discovers (retrying with backoff until it succeeds), records the metadata, then loads the keys", arguments: [0, 2])
    func discoversAndLoads(discoveryFailures: Int) {
        let monitored = Monitored(discoveryFailures: discoveryFailures)
        let provider = monitored.provider
        monitored.monitor.start()
        defer { monitored.monitor.stop(timeout: .seconds(2)) }
        #expect(Self.waitUntil { provider.keys.isLoaded })
        #expect(provider.isDiscovered)
        #expect((try? provider.metadata().issuer) == P.issuer)
        #expect(provider.keys.keyIDs == ["k1"])
        #expect(monitored.discovery.value == discoveryFailures + 1)
        #expect(monitored.certs.value == 1)
    }

    @Test("stop wakes a monitor that is waiting for the next refresh")
    func stopWakes() {
        let monitored = Monitored()
        let (provider, monitor, certs) = (monitored.provider, monitored.monitor, monitored.certs)
        monitor.start()
        #expect(Self.waitUntil { provider.keys.isLoaded })
        let started = Date()
        monitor.stop(timeout: .seconds(5))
        #expect(Date().timeIntervalSince(started) < 1)
        #expect(certs.value == 1)
    }

    @Test("stop waits for a call in flight, up to a sub-second timeout")
    func stopWaitsSubSecond() {
        let provider = P.provider(discovered: false)
        let discovery = Counter(), certs = Counter()
        let certsStarted = DispatchSemaphore(value: 0)
        let monitor = ProviderMonitor(
            provider: provider, refreshInterval: .seconds(300), logger: Self.quiet,
            makeTransport: Self.makeTransport(discoveryCalls: discovery, certsCalls: certs, certsDelay: 0.4, certsStarted: certsStarted))
        monitor.start()
        #expect(certsStarted.wait(timeout: .now() + 5) == .success)
        let started = Date()
        monitor.stop(timeout: .milliseconds(900))
        let waited = Date().timeIntervalSince(started)
        // The call in flight ends about 0.4 s after it started; stop must wait for it.
        #expect(waited > 0.2)
        #expect(waited < 0.9 + 0.5)
        _ = Self.waitUntil { provider.keys.isLoaded }
    }
}
