import FoundationEssentials
import Logging
import Platform

/// A background thread that brings the provider up and keeps its keys fresh: discovery at
/// start-up, retried with exponential backoff until it succeeds (the responder serves in the
/// meantime and answers 503 where the provider is needed), then the JWKS, refreshed
/// periodically so keys the provider drops stop being trusted. Between refreshes it fetches the
/// discovery document every `probeInterval`, so readiness notices a provider that went away
/// even when no request needs it.
public final class ProviderMonitor: @unchecked Sendable {
    // @unchecked: `stopping` and `thread` are guarded by `condition`; the rest is immutable.
    private let provider: IdentityProvider
    private let makeTransport: @Sendable () throws(AuthError) -> any HTTPTransport
    private let refreshInterval: Duration
    private let probeInterval: Duration
    private let logger: Logger
    private let condition = Condition()
    private var stopping = false
    private var running = false

    /// Backoff bounds for discovery and key fetch retries.
    public static let initialBackoff: Duration = .milliseconds(250)
    public static let maximumBackoff: Duration = .seconds(30)

    public init(
        provider: IdentityProvider,
        refreshInterval: Duration,
        probeInterval: Duration = .seconds(15),
        logger: Logger,
        makeTransport: @escaping @Sendable () throws(AuthError) -> any HTTPTransport
    ) {
        self.provider = provider
        self.refreshInterval = refreshInterval
        self.probeInterval = probeInterval
        var logger = logger
        logger[metadataKey: "idp.issuer"] = "\(provider.settings.label)"
        self.logger = logger
        self.makeTransport = makeTransport
    }

    /// Starts the thread.
    public func start() {
        condition.withLock { running = true }
        startThread(name: "provider-mon") { [self] in
            run()
            condition.withLock {
                running = false
                condition.broadcast()
            }
        }
    }

    /// Asks the thread to stop and waits up to `timeout` for it (a call in flight ends at the
    /// provider timeout at the latest).
    public func stop(timeout: Duration) {
        let deadline = Deadline.after(timeout)
        condition.withLock {
            stopping = true
            condition.broadcast()
            while running {
                if !condition.wait(until: deadline) { break }
            }
        }
    }

    private func run() {
        let client: KeycloakClient
        do {
            client = KeycloakClient(provider: provider, transport: try makeTransport(), usesLimiter: false, logger: logger)
        } catch {
            logger.critical("cannot create the provider monitor's HTTP client", metadata: ["error": "\(error)"])
            return
        }
        var backoff = Self.initialBackoff
        var attempt = 0
        var lastKeyRefresh: ContinuousClock.Instant?
        while !isStopping {
            if !provider.isDiscovered {
                attempt += 1
                do {
                    let metadata = try client.discover()
                    provider.record(metadata)
                    logger.info(
                        "discovery succeeded",
                        metadata: [
                            "idp.issuer": "\(metadata.issuer)",
                            "auth.algorithms": "\(metadata.allowedAlgorithms.map(\.rawValue).sorted().joined(separator: ","))",
                        ])
                    backoff = Self.initialBackoff
                } catch {
                    logger.warning(
                        "discovery failed; retrying",
                        metadata: [
                            "error": "\(error)", "idp.attempt": "\(attempt)", "idp.retry_in": "\(backoff)",
                        ])
                    sleep(backoff)
                    backoff = min(backoff * 2, Self.maximumBackoff)
                    continue
                }
            }
            let now = ContinuousClock.now
            if let refreshed = lastKeyRefresh, refreshed.duration(to: now) < refreshInterval {
                // Keys are fresh: just check that the provider still answers.
                _ = try? client.discover()
                sleep(min(probeInterval, refreshInterval - refreshed.duration(to: now)))
                continue
            }
            do {
                try provider.keys.refresh { () throws(AuthError) in try client.fetchKeys() }
                lastKeyRefresh = now
                logger.info("signing keys loaded", metadata: ["auth.kids": "\(provider.keys.keyIDs.joined(separator: ","))"])
                backoff = Self.initialBackoff
                sleep(min(probeInterval, refreshInterval))
            } catch {
                logger.warning("JWKS fetch failed; retrying", metadata: ["error": "\(error)", "idp.retry_in": "\(backoff)"])
                sleep(backoff)
                backoff = min(backoff * 2, Self.maximumBackoff)
            }
        }
    }

    private var isStopping: Bool { condition.withLock { stopping } }

    /// Sleeps for `duration` or until `stop` is called.
    private func sleep(_ duration: Duration) {
        let deadline = Deadline.after(duration)
        condition.withLock {
            while !stopping {
                if !condition.wait(until: deadline) { return }
            }
        }
    }
}
