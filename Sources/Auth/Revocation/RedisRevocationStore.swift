import Logging
import Platform

/// The revocation list shared by every replica through Redis (docs/revocation.md).
///
/// **Writing.** `revoke` puts the entry in this replica's list first, so this replica refuses
/// at once whatever Redis does, then, on the publisher connection (one per store, behind a
/// lock, 250 ms per command), runs one script that stores the record under
/// `keycloak-fcgi:revoked:<kind>:<sha256(iss)>:<value>` with `EX expiresAt − now` (keeping a
/// later record already there) and publishes it on `keycloak-fcgi:revocations`. While Redis is
/// unreachable the entry is queued instead (at most `queueCapacity`; the oldest is dropped, with
/// one warning per outage) and written when the store reconnects.
///
/// **Following.** A background thread (`start`) keeps a subscriber connection: it connects
/// (1 s timeout), logs in and selects the database as the URL says, SUBSCRIBEs first and only
/// then SCANs the keys (`MATCH keycloak-fcgi:revoked:* COUNT 1000`, values by MGET) into the
/// list, so a revocation published during the scan is not missed (it arrives on the channel
/// after, and inserting is idempotent). Then it reads messages, waking every half second to
/// notice `stop`, drop expired entries and, after 5 s of silence, PING (no answer within 3 s
/// counts as a dead connection). On any failure the status becomes `.disconnected`, one error
/// line is logged (host and port, never the password), and it reconnects with backoff
/// (100 ms doubling to 2 s); once back it logs "revocation store reconnected", reloads by SCAN
/// (catching up on what others published meanwhile) and flushes this replica's queue.
///
/// **Replay guard.** `claimOnce` is `SET keycloak-fcgi:once:<sha256(key)> 1 NX EX ttl` on the
/// publisher connection, shared by all replicas. While Redis is unreachable it falls back to a
/// bounded set in this replica's memory (logged once per outage); those claims are written to
/// Redis (NX) on reconnect.
public final class RedisRevocationStore: RevocationStore, @unchecked Sendable {
    // @unchecked: the mutable state is split between two locks, each field documented with
    // the lock that guards it. `publisherLock` may be held while taking `state`, never the
    // reverse, and the background thread never holds `state` during I/O.

    public let list = RevocationList()
    private let endpoint: RedisEndpoint
    private let queueCapacity: Int
    private let claims: OnceClaims<String>

    static let connectTimeout: Duration = .seconds(1)
    static let commandTimeout: Duration = .milliseconds(250)
    static let loadTimeout: Duration = .seconds(2)
    static let readWait: Duration = .milliseconds(500)
    static let initialBackoff: Duration = .milliseconds(100)
    static let maximumBackoff: Duration = .seconds(2)
    static let keepAliveInterval: Duration = .seconds(5)
    static let keepAliveTimeout: Duration = .seconds(3)
    static let stopTimeout: Duration = .seconds(3)
    /// Commands per pipelined write when flushing the queue or loading.
    static let batchSize = 500

    // Guarded by `publisherLock` (a `Condition` used as a mutex).
    private let publisherLock = Condition()
    private var publisher: RedisConnection?
    private var queue: [Revocation] = []
    private var droppedThisOutage = 0
    private var claimFallbackLogged = false

    // Guarded by `state`.
    private let state = Condition()
    private var currentStatus: RevocationStoreStatus
    private var outageLogged = false
    private var publisherFailure: String?
    private var stopping = false
    private var running = false
    private var logger = Logger(label: "keycloak-fcgi.revocations", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A store for `url` (see `RedisEndpoint` for the forms); nothing connects before `start`.
    /// Throws for a URL it cannot use, saying why without repeating the URL.
    public convenience init(url: String) throws(AuthError) {
        try self.init(url: url, queueCapacity: 10_000, claimCapacity: 100_000)
    }

    /// Why `url` cannot be used (never repeating it), or nil when it can: `--check-config`
    /// and start-up name a bad URL before anything connects.
    public static func problem(with url: String) -> String? {
        do {
            _ = try RedisEndpoint(url: url)
            return nil
        } catch {
            return error.context
        }
    }

    /// Same, with the bounds of the outage queue and of the local replay guard.
    public init(url: String, queueCapacity: Int, claimCapacity: Int) throws(AuthError) {
        endpoint = try RedisEndpoint(url: url)
        self.queueCapacity = max(1, queueCapacity)
        claims = OnceClaims(capacity: max(1, claimCapacity))
        currentStatus = .disconnected(since: unixNow(), reason: "not started")
    }

    /// `host:port` or the socket path, as logs show it.
    public var endpointDescription: String { endpoint.displayName }

    public var status: RevocationStoreStatus {
        state.withLock { currentStatus }
    }

    // MARK: - Life cycle

    public func start(logger: Logger) {
        var logger = logger
        logger[metadataKey: "redis.endpoint"] = "\(endpoint.displayName)"
        let started = state.withLock { () -> Bool in
            guard !running else { return false }
            running = true
            stopping = false
            self.logger = logger
            currentStatus = .disconnected(since: unixNow(), reason: "connecting")
            return true
        }
        guard started else { return }
        RevocationMetrics.storeConnected(false)
        startThread(name: "revocations") { [self] in
            run()
            state.withLock {
                running = false
                state.broadcast()
            }
        }
    }

    public func stop() {
        let deadline = Deadline.after(Self.stopTimeout)
        state.withLock {
            stopping = true
            state.broadcast()
            while running {
                if !state.wait(until: deadline) { break }
            }
        }
    }

    // MARK: - Request threads

    public func revoke(_ revocation: Revocation, logger: Logger) {
        list.insert(revocation)
        RevocationMetrics.received(from: .local)
        let now = unixNow()
        publisherLock.withLock {
            if let connection = publisher {
                do throws(RedisFailure) {
                    try Self.share([revocation], on: connection, now: now)
                    return
                } catch {
                    publisherFailed(error)
                }
            }
            enqueue([revocation], atFront: false)
            logger.debug("revocation queued until the revocation store reconnects", metadata: ["revocation.queued": "\(queue.count)"])
        }
    }

    public func claimOnce(_ key: String, ttlSeconds: Int64, now: Int64) -> Bool {
        let redisKey = RevocationRecord.claimKey(key)
        let ttl = max(1, ttlSeconds)
        return publisherLock.withLock { () -> Bool in
            if let connection = publisher {
                do throws(RedisFailure) {
                    switch try connection.command(["SET", redisKey, "1", "NX", "EX", String(ttl)]) {
                    case .status: return true
                    case .null: return false
                    case .error(let message): throw RedisFailure(reason: "SET NX refused: \(message)")
                    default: throw RedisFailure(reason: "SET NX: unexpected reply")
                    }
                } catch {
                    publisherFailed(error)
                }
            }
            // Under `publisherLock`, so the reconnect's flush cannot miss this claim.
            if !claimFallbackLogged {
                claimFallbackLogged = true
                currentLogger.warning("revocation store unreachable: replay checks use this replica's memory until it reconnects")
            }
            return claims.claim(redisKey, ttlSeconds: ttl, now: now)
        }
    }

    /// Call with `publisherLock` held: drops the publisher and has the background thread
    /// reconnect everything.
    private func publisherFailed(_ failure: RedisFailure) {
        publisher = nil
        state.withLock { publisherFailure = failure.reason }
        markDisconnected(failure.reason)
    }

    /// Call with `publisherLock` held.
    private func enqueue(_ revocations: [Revocation], atFront: Bool) {
        queue = atFront ? revocations + queue : queue + revocations
        let excess = queue.count - queueCapacity
        guard excess > 0 else { return }
        queue.removeFirst(excess)
        if droppedThisOutage == 0 {
            currentLogger.warning(
                "revocation queue full: dropping the oldest revocations not yet shared (this replica still refuses them)",
                metadata: ["revocation.queue_capacity": "\(queueCapacity)"])
        }
        droppedThisOutage += excess
    }

    // MARK: - Status

    private var currentLogger: Logger { state.withLock { logger } }

    private var isStopping: Bool { state.withLock { stopping } }

    /// Records an outage (its start is kept; the reason is the latest) and logs it once.
    private func markDisconnected(_ reason: String) {
        state.withLock {
            if case .disconnected(let since, _) = currentStatus {
                currentStatus = .disconnected(since: since, reason: reason)
            } else {
                currentStatus = .disconnected(since: unixNow(), reason: reason)
            }
            if !outageLogged {
                outageLogged = true
                logger.error(
                    "revocation store disconnected: refusing what this replica knows, queueing its own revocations",
                    metadata: ["error": "\(reason)"])
            }
        }
        RevocationMetrics.storeConnected(false)
    }

    // MARK: - Background thread

    private func run() {
        var backoff = Self.initialBackoff
        var everConnected = false
        while !isStopping {
            do throws(RedisFailure) {
                let subscriber = try subscribe()
                let connection = try RedisConnection(endpoint: endpoint, connectTimeout: Self.connectTimeout)
                try connection.setTimeout(Self.loadTimeout)
                let learned = try load(using: connection)
                try connection.setTimeout(Self.commandTimeout)
                let (flushed, dropped) = try flushAndInstall(connection)
                RevocationMetrics.storeConnected(true)
                currentLogger.info(
                    everConnected ? "revocation store reconnected" : "revocation store connected",
                    metadata: [
                        "revocation.learned": "\(learned)", "revocation.entries": "\(list.count)",
                        "revocation.flushed": "\(flushed)", "revocation.dropped": "\(dropped)",
                    ])
                everConnected = true
                backoff = Self.initialBackoff
                try follow(subscriber)
            } catch {
                publisherLock.withLock { publisher = nil }
                if !isStopping {
                    markDisconnected(error.reason)
                    currentLogger.debug("revocation store: retrying", metadata: ["error": "\(error.reason)", "retry_in": "\(backoff)"])
                    sleep(backoff)
                    backoff = min(backoff * 2, Self.maximumBackoff)
                }
            }
        }
        publisherLock.withLock {
            publisher = nil
            state.withLock { currentStatus = .disconnected(since: unixNow(), reason: "stopped") }
        }
        RevocationMetrics.storeConnected(false)
        currentLogger.debug("revocation store stopped")
    }

    /// A connection subscribed to the channel (confirmed), before anything is loaded.
    private func subscribe() throws(RedisFailure) -> RedisConnection {
        let subscriber = try RedisConnection(endpoint: endpoint, connectTimeout: Self.connectTimeout)
        try subscriber.send(["SUBSCRIBE", RevocationRecord.channel])
        let deadline = ContinuousClock.now + Self.connectTimeout
        while ContinuousClock.now < deadline {
            switch try subscriber.nextReply(timeout: .milliseconds(100)) {
            case nil:
                continue
            case .array(let parts) where parts.first?.text == "subscribe":
                return subscriber
            case .error(let message):
                throw RedisFailure(reason: "SUBSCRIBE refused: \(message)")
            default:
                throw RedisFailure(reason: "SUBSCRIBE: unexpected reply")
            }
        }
        throw RedisFailure(reason: "SUBSCRIBE: no confirmation within \(Self.connectTimeout)")
    }

    /// Reads every stored record into the list; how many it did not know.
    private func load(using connection: RedisConnection) throws(RedisFailure) -> Int {
        var cursor = "0"
        var learned = 0
        var rejected: [RevocationRecord.Rejection] = []
        var mismatched = 0
        let now = unixNow()
        repeat {
            let reply = try connection.command(["SCAN", cursor, "MATCH", RevocationRecord.keyPrefix + "*", "COUNT", "1000"])
            guard case .array(let parts) = reply, parts.count == 2, let next = parts[0].text, case .array(let keyReplies) = parts[1]
            else {
                throw RedisFailure(reason: Self.describe(reply, command: "SCAN"))
            }
            let keys = keyReplies.compactMap(\.text)
            var batch: [Revocation] = []
            var start = 0
            while start < keys.count {
                let chunk = Array(keys[start..<min(keys.count, start + Self.batchSize)])
                start += chunk.count
                let values = try connection.command(["MGET"] + chunk)
                guard case .array(let records) = values, records.count == chunk.count else {
                    throw RedisFailure(reason: Self.describe(values, command: "MGET"))
                }
                for (key, record) in zip(chunk, records) {
                    // nil: expired between SCAN and MGET.
                    guard case .string(let bytes) = record else { continue }
                    switch RevocationRecord.decode(bytes) {
                    case .success(let revocation) where RevocationRecord.key(for: revocation) == key:
                        if revocation.expiresAt >= now { batch.append(revocation) }
                    case .success:
                        mismatched += 1
                    case .failure(let rejection):
                        rejected.append(rejection)
                    }
                }
            }
            let changed = list.insert(contentsOf: batch)
            RevocationMetrics.received(from: .redis, count: changed)
            learned += changed
            cursor = next
        } while cursor != "0" && !isStopping
        if !rejected.isEmpty || mismatched > 0 {
            currentLogger.warning(
                "ignored malformed revocation records in Redis",
                metadata: [
                    "revocation.rejected": "\(rejected.count + mismatched)",
                    "revocation.reason": "\(rejected.first?.rawValue ?? "the record does not match its key")",
                ])
        }
        return learned
    }

    /// Writes the queue and the claims made during the outage, then installs `connection` as
    /// the publisher, at a moment when nothing is left unwritten (checked under the lock, so a
    /// revocation queued meanwhile goes out in the next round). Returns what it wrote and how
    /// many were dropped during the outage.
    private func flushAndInstall(_ connection: RedisConnection) throws(RedisFailure) -> (flushed: Int, dropped: Int) {
        var flushed = 0
        while true {
            let now = unixNow()
            let work = publisherLock.withLock {
                () -> (revocations: [Revocation], claims: [(key: String, ttlSeconds: Int64)], dropped: Int)? in
                let pendingClaims = claims.drain(now: now)
                guard !queue.isEmpty || !pendingClaims.isEmpty else {
                    // Installed and reported together, under `publisherLock`: a request thread
                    // that fails the new publisher right away reports after this, not before.
                    publisher = connection
                    claimFallbackLogged = false
                    state.withLock {
                        currentStatus = .connected
                        outageLogged = false
                        publisherFailure = nil
                    }
                    return nil
                }
                defer { queue = [] }
                return (queue, pendingClaims, droppedThisOutage)
            }
            guard let work else {
                let dropped = publisherLock.withLock { () -> Int in
                    defer { droppedThisOutage = 0 }
                    return droppedThisOutage
                }
                return (flushed, dropped)
            }
            do throws(RedisFailure) {
                try Self.share(work.revocations, on: connection, now: now)
                try Self.pushClaims(work.claims, on: connection)
            } catch {
                publisherLock.withLock {
                    enqueue(work.revocations, atFront: true)
                    for claim in work.claims { _ = claims.claim(claim.key, ttlSeconds: claim.ttlSeconds, now: now) }
                }
                throw error
            }
            flushed += work.revocations.count
        }
    }

    /// Reads the channel until `stop` (returns) or a failure (throws).
    private func follow(_ subscriber: RedisConnection) throws(RedisFailure) {
        var lastInput = ContinuousClock.now
        var pingSent: ContinuousClock.Instant?
        var ignored = 0
        var lastWarning: ContinuousClock.Instant?
        while true {
            let (stop, failure) = state.withLock { (stopping, publisherFailure) }
            if stop { return }
            if let failure { throw RedisFailure(reason: failure) }
            list.removeExpired(now: unixNow())
            let reply = try subscriber.nextReply(timeout: Self.readWait)
            let now = ContinuousClock.now
            guard let reply else {
                if let pingSent {
                    if pingSent.duration(to: now) > Self.keepAliveTimeout {
                        throw RedisFailure(reason: "no answer to PING within \(Self.keepAliveTimeout)")
                    }
                } else if lastInput.duration(to: now) >= Self.keepAliveInterval {
                    try subscriber.send(["PING"])
                    pingSent = now
                }
                continue
            }
            lastInput = now
            pingSent = nil
            if let problem = receive(reply) {
                // At most one warning per 10 s, with the count since the last; never the
                // message itself.
                ignored += 1
                if lastWarning.map({ $0.duration(to: now) >= .seconds(10) }) ?? true {
                    currentLogger.warning(
                        "ignored a malformed message on the revocation channel",
                        metadata: ["revocation.reason": "\(problem)", "revocation.ignored": "\(ignored)"])
                    lastWarning = now
                    ignored = 0
                }
            }
        }
    }

    /// Applies one reply of the subscribed connection; what was wrong with it, if anything.
    private func receive(_ reply: RedisReply) -> String? {
        guard case .array(let parts) = reply, let kind = parts.first?.text else {
            return "not a pub/sub reply"
        }
        switch kind {
        case "message":
            guard parts.count == 3, parts[1].text == RevocationRecord.channel, case .string(let payload) = parts[2] else {
                return "not a message of the revocation channel"
            }
            switch RevocationRecord.decode(payload) {
            case .success(let revocation):
                if list.insert(revocation) { RevocationMetrics.received(from: .redis) }
                return nil
            case .failure(let rejection):
                return "\(rejection.rawValue) (\(payload.count) bytes)"
            }
        case "pong", "subscribe":
            return nil
        default:
            return "unexpected pub/sub reply"
        }
    }

    /// Sleeps for `duration` or until `stop`.
    private func sleep(_ duration: Duration) {
        let deadline = Deadline.after(duration)
        state.withLock {
            while !stopping {
                if !state.wait(until: deadline) { return }
            }
        }
    }

    // MARK: - Commands

    /// Writes and publishes `revocations` (pipelined in batches); any refusal is a failure.
    private static func share(_ revocations: [Revocation], on connection: RedisConnection, now: Int64) throws(RedisFailure) {
        var start = 0
        while start < revocations.count {
            let batch = revocations[start..<min(revocations.count, start + batchSize)]
            start += batch.count
            let replies = try connection.pipeline(batch.map { RevocationRecord.writeCommand($0, now: now) })
            for reply in replies {
                guard case .integer = reply else { throw RedisFailure(reason: describe(reply, command: "EVAL")) }
            }
        }
    }

    /// Writes the claims made while Redis was unreachable (NX: a claim already there stays).
    private static func pushClaims(_ claims: [(key: String, ttlSeconds: Int64)], on connection: RedisConnection) throws(RedisFailure) {
        var start = 0
        while start < claims.count {
            let batch = claims[start..<min(claims.count, start + batchSize)]
            start += batch.count
            let replies = try connection.pipeline(batch.map { ["SET", $0.key, "1", "NX", "EX", String(max(1, $0.ttlSeconds))] })
            for reply in replies {
                switch reply {
                case .status, .null: continue
                default: throw RedisFailure(reason: describe(reply, command: "SET NX"))
                }
            }
        }
    }

    private static func describe(_ reply: RedisReply, command: String) -> String {
        if case .error(let message) = reply { return "\(command) refused: \(message)" }
        return "\(command): unexpected reply"
    }
}
