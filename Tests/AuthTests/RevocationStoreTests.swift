import Foundation
import Logging
import Synchronization
import Testing

@testable import Auth

// MARK: - Fixtures

/// Every log line of the loggers it makes, as "level message metadata".
final class LogRecorder: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    func count(containing text: String) -> Int { all.filter { $0.contains(text) }.count }

    func logger(_ label: String = "test") -> Logger {
        Logger(label: label) { _ in Handler(recorder: self) }
    }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var logLevel: Logger.Level = .trace
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            recorder.append("\(event.level) \(event.message) \(fields)")
        }
    }
}

/// A real `redis-server` on a free loopback port, without persistence; killed with SIGKILL
/// and started again on the same port by the tests, stopped at deinit.
final class RedisServer: @unchecked Sendable {
    // @unchecked: used from the test's own thread only.
    private(set) var port = 0
    let password: String?
    private var process: Process?

    init(password: String? = nil) throws {
        self.password = password
        var lastError: Error?
        for _ in 0..<8 {
            let port = Int.random(in: 20_000..<60_000)
            do {
                self.port = port
                try start()
                return
            } catch {
                lastError = error
            }
        }
        throw lastError ?? RedisServerError.cannotStart
    }

    enum RedisServerError: Error { case cannotStart }

    deinit {
        kill()
    }

    /// Starts the server on `port` and waits until it answers PING.
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        var arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if let password { arguments += ["--requirepass", password] }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            guard process.isRunning else { break }
            if cli("PING") == "PONG" { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        kill()
        throw RedisServerError.cannotStart
    }

    /// SIGKILL: no goodbye to the clients, the sockets just close.
    func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// `redis-cli` against this server; its output without the line break.
    @discardableResult
    func cli(_ arguments: String...) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        var all = ["-h", "127.0.0.1", "-p", "\(port)"]
        if let password { all += ["-a", password, "--no-auth-warning"] }
        process.arguments = all + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return "" }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var url: String {
        guard let password else { return "redis://127.0.0.1:\(port)" }
        let encoded = password.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? password
        return "redis://:\(encoded)@127.0.0.1:\(port)"
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passed.
func eventually(within timeout: Duration, _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return condition()
}

extension RevocationStoreStatus {
    var isDisconnected: Bool {
        if case .disconnected = self { return true }
        return false
    }

    var reason: String? {
        if case .disconnected(_, let reason) = self { return reason }
        return nil
    }
}

enum Fixture {
    static let issuer = "https://idp.example/realms/testing"
    static var now: Int64 { Int64(Date().timeIntervalSince1970) }

    static func session(_ sid: String) -> Revocation {
        Revocation(kind: .session, issuer: issuer, value: sid, revokedAt: now, expiresAt: now + 600)
    }

    static func refuses(_ store: RevocationStore, _ revocation: Revocation) -> Bool {
        store.list.isRevoked(issuer: revocation.issuer, sessionID: revocation.value, subject: nil, issuedAt: nil, now: now)
    }
}

// MARK: - Tests without Redis

@Suite("MemoryRevocationStore and RedisEndpoint")
struct RevocationStoreTests {
    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("the memory store refuses at once and guards replays in memory")
    func memoryStore() {
        let store = MemoryRevocationStore()
        store.start(logger: Self.quiet)
        defer { store.stop() }
        #expect(store.status == .memory)
        let revocation = Fixture.session("s-memory")
        store.revoke(revocation, logger: Self.quiet)
        #expect(Fixture.refuses(store, revocation))
        #expect(store.list.count == 1)
        #expect(store.claimOnce("jti-1", ttlSeconds: 60, now: 1_000))
        #expect(!store.claimOnce("jti-1", ttlSeconds: 60, now: 1_059))
        #expect(store.claimOnce("jti-1", ttlSeconds: 60, now: 1_060))
        #expect(store.claimOnce("jti-2", ttlSeconds: 60, now: 1_000))
    }

    @Test("the local replay guard stays bounded: it forgets expired keys first, then those expiring soonest")
    func claimsBounded() {
        let claims = OnceClaims<String>(capacity: 10)
        for index in 0..<10 { #expect(claims.claim("k\(index)", ttlSeconds: Int64(10 + index), now: 0)) }
        #expect(claims.claim("new", ttlSeconds: 100, now: 0))
        #expect(claims.count == 10)
        // k0 expired soonest and was forgotten; the others are still claimed.
        #expect(claims.claim("k0", ttlSeconds: 100, now: 0))
        #expect(!claims.claim("k9", ttlSeconds: 100, now: 0))
        #expect(!claims.claim("new", ttlSeconds: 100, now: 0))
        let drained = claims.drain(now: 15)
        #expect(drained.count == 6)  // k6...k9 (expire at 16...19), new, k0 (at 100)
        #expect(claims.count == 0)
    }

    static let secret = "hunter2"

    @Test(
        "a bad URL is refused with a clear message that never repeats the password",
        arguments: [
            ("localhost:6379", "has no scheme"),
            ("http://:hunter2@host", "the scheme 'http' is not supported"),
            ("rediss://:hunter2@host", "TLS"),
            ("redis://:hunter2@", "it has no host"),
            ("redis://:hunter2@host:99999", "port must be a number from 1 to 65535"),
            ("redis://:hunter2@host:abc", "port must be a number"),
            ("redis://:hunter2@host:", "port must be a number"),
            ("redis://hunter2@host", "credentials need a colon"),
            ("redis://user:@host", "the password is empty"),
            ("redis://:hunter2%zz@host", "the password has a % not followed by two hex digits"),
            ("redis://:hunter2@host/x", "the database must be a number"),
            ("redis://:hunter2@host?db=1", "query parameters"),
            ("redis://:hunter2@::1:6379", "IPv6 address must be in brackets"),
            ("redis://:hunter2@[::1", "closing ]"),
            ("redis://:hunter2@ho st", "characters a host name cannot have"),
            ("unix://:hunter2@host/tmp/redis.sock", "has no host"),
            ("unix://:hunter2@", "absolute path"),
            ("unix:///", "needs the socket's path"),
            ("unix:///tmp/redis.sock?password=hunter2", "the only query parameter"),
        ])
    func badURL(url: String, problem: String) {
        #expect {
            _ = try RedisRevocationStore(url: url)
        } throws: { error in
            let text = "\(error)"
            return text.contains("revocation store URL: ") && text.contains(problem) && !text.contains(Self.secret)
        }
    }

    @Test("URLs name a TCP or unix socket endpoint, credentials percent-decoded, database chosen")
    func goodURLs() throws {
        let plain = try RedisEndpoint(url: "redis://127.0.0.1")
        #expect(plain.address == .tcp(host: "127.0.0.1", port: 6379))
        #expect(plain.username == nil && plain.password == nil && plain.database == 0)
        let full = try RedisEndpoint(url: "REDIS://:p%40ss%3Aword@cache.internal:6380/2")
        #expect(full.password == "p@ss:word" && full.username == nil && full.database == 2)
        #expect(full.displayName == "cache.internal:6380")
        let acl = try RedisEndpoint(url: "redis://svc:pw@[::1]:7000/")
        #expect(acl.username == "svc" && acl.password == "pw" && acl.displayName == "[::1]:7000")
        let socket = try RedisEndpoint(url: "redis+unix:///run/redis/redis.sock?db=3")
        #expect(socket.address == .unix(path: "/run/redis/redis.sock") && socket.database == 3)
        let socketWithPassword = try RedisEndpoint(url: "unix://:pw@/run/redis.sock")
        #expect(socketWithPassword.password == "pw" && socketWithPassword.displayName == "/run/redis.sock")
        let unencodedAt = try RedisEndpoint(url: "redis://:a@b@host")
        #expect(unencodedAt.password == "a@b" && unencodedAt.displayName == "host:6379")
    }
}

// MARK: - Tests against a real redis-server

@Suite("RedisRevocationStore", .serialized)
struct RedisRevocationStoreTests {
    /// Two "replicas" on one Redis, both connected.
    static func replicas(_ server: RedisServer, logs: LogRecorder = LogRecorder()) throws -> (RedisRevocationStore, RedisRevocationStore) {
        let a = try RedisRevocationStore(url: server.url)
        let b = try RedisRevocationStore(url: server.url)
        a.start(logger: logs.logger("replica-a"))
        b.start(logger: logs.logger("replica-b"))
        return (a, b)
    }

    @Test("a revocation on one replica reaches the other within a second, and is stored with its TTL")
    func sharedBetweenReplicas() throws {
        let server = try RedisServer()
        let (a, b) = try Self.replicas(server)
        defer {
            a.stop()
            b.stop()
        }
        #expect(eventually(within: .seconds(5)) { a.status == .connected && b.status == .connected })
        let revocation = Fixture.session("s-shared")
        a.revoke(revocation, logger: RevocationStoreTests.quiet)
        #expect(Fixture.refuses(a, revocation))
        #expect(eventually(within: .seconds(1)) { Fixture.refuses(b, revocation) })
        let key = RevocationRecord.key(for: revocation)
        #expect(server.cli("GET", key) == RevocationRecord.encode(revocation))
        let ttl = Int(server.cli("TTL", key)) ?? -1
        #expect((595...600).contains(ttl))
        // Subjects too, and an older record never replaces a later one in Redis.
        let later = Revocation(kind: .subject, issuer: Fixture.issuer, value: "u-1", revokedAt: 2_000_000_000, expiresAt: 2_000_000_600)
        let earlier = Revocation(kind: .subject, issuer: Fixture.issuer, value: "u-1", revokedAt: 1_999_999_000, expiresAt: 1_999_999_600)
        b.revoke(later, logger: RevocationStoreTests.quiet)
        a.revoke(earlier, logger: RevocationStoreTests.quiet)
        #expect(server.cli("GET", RevocationRecord.key(for: later)) == RevocationRecord.encode(later))
        #expect(
            eventually(within: .seconds(1)) {
                a.list.isRevoked(issuer: Fixture.issuer, sessionID: nil, subject: "u-1", issuedAt: 1_999_999_999, now: Fixture.now)
            })
    }

    @Test("a store started after a revocation loads it at start; stop is noticed within a second")
    func loadsAtStart() throws {
        let server = try RedisServer()
        let first = try RedisRevocationStore(url: server.url)
        first.start(logger: RevocationStoreTests.quiet)
        #expect(eventually(within: .seconds(5)) { first.status == .connected })
        let revocations = (0..<1_500).map { Fixture.session("s-load-\($0)") }
        for revocation in revocations { first.revoke(revocation, logger: RevocationStoreTests.quiet) }
        first.stop()

        let late = try RedisRevocationStore(url: server.url)
        #expect(late.list.count == 0)
        late.start(logger: RevocationStoreTests.quiet)
        // The load comes before `.connected`.
        #expect(eventually(within: .seconds(5)) { late.status == .connected })
        #expect(late.list.count == 1_500)
        #expect(revocations.allSatisfy { Fixture.refuses(late, $0) })
        let started = ContinuousClock.now
        late.stop()
        #expect(ContinuousClock.now - started < .seconds(1))
    }

    @Test("claimOnce is true once, then false on every replica")
    func claimOnceShared() throws {
        let server = try RedisServer()
        let (a, b) = try Self.replicas(server)
        defer {
            a.stop()
            b.stop()
        }
        #expect(eventually(within: .seconds(5)) { a.status == .connected && b.status == .connected })
        #expect(a.claimOnce("jti-1", ttlSeconds: 60, now: Fixture.now))
        #expect(!b.claimOnce("jti-1", ttlSeconds: 60, now: Fixture.now))
        #expect(!a.claimOnce("jti-1", ttlSeconds: 60, now: Fixture.now))
        #expect(b.claimOnce("jti-2", ttlSeconds: 60, now: Fixture.now))
        #expect(server.cli("TTL", RevocationRecord.claimKey("jti-1")) == "60")
    }

    @Test(
        "Redis killed and restarted: local refusal at once, disconnected within 2 s, local replay guard, then catch-up; no password in any log"
    )
    func outage() throws {
        let password = "s3cr3t:p@ss/word"
        let server = try RedisServer(password: password)
        let logsA = LogRecorder()
        let logsB = LogRecorder()
        let a = try RedisRevocationStore(url: server.url)
        let b = try RedisRevocationStore(url: server.url)
        a.start(logger: logsA.logger("replica-a"))
        b.start(logger: logsB.logger("replica-b"))
        defer {
            a.stop()
            b.stop()
        }
        #expect(eventually(within: .seconds(5)) { a.status == .connected && b.status == .connected })
        #expect(logsA.count(containing: "revocation store connected") == 1)

        server.kill()
        let revocation = Fixture.session("s-during-outage")
        let started = ContinuousClock.now
        a.revoke(revocation, logger: logsA.logger("request"))
        #expect(ContinuousClock.now - started < .milliseconds(300))
        #expect(Fixture.refuses(a, revocation))
        #expect(eventually(within: .seconds(2)) { a.status.isDisconnected && b.status.isDisconnected })
        #expect(a.claimOnce("jti-outage", ttlSeconds: 60, now: Fixture.now))
        #expect(!a.claimOnce("jti-outage", ttlSeconds: 60, now: Fixture.now))
        #expect(!Fixture.refuses(b, revocation))
        // Several retries happen meanwhile; the outage is logged once.
        Thread.sleep(forTimeInterval: 0.5)
        #expect(logsA.count(containing: "revocation store disconnected") == 1)
        #expect(logsB.count(containing: "revocation store disconnected") == 1)
        #expect(logsA.count(containing: "replay checks use this replica's memory") == 1)

        try server.start()
        #expect(eventually(within: .seconds(5)) { a.status == .connected && b.status == .connected })
        #expect(eventually(within: .seconds(1)) { Fixture.refuses(b, revocation) })
        #expect(server.cli("GET", RevocationRecord.key(for: revocation)) == RevocationRecord.encode(revocation))
        // The claim made in memory during the outage was written to Redis on reconnect.
        #expect(!b.claimOnce("jti-outage", ttlSeconds: 60, now: Fixture.now))
        #expect(logsA.count(containing: "revocation store reconnected") == 1)
        #expect(logsA.all.contains { $0.contains("revocation store reconnected") && $0.contains("revocation.flushed=1") })

        let everything = logsA.all + logsB.all
        #expect(everything.contains { $0.contains("redis.endpoint=127.0.0.1:\(server.port)") })
        for secret in [password, "s3cr3t", "p%40ss", server.url] {
            #expect(!everything.contains { $0.contains(secret) })
        }
    }

    @Test("what another client published while a replica was cut off is loaded when it reconnects")
    func catchUpAfterReconnect() throws {
        let server = try RedisServer()
        server.cli("ACL", "SETUSER", "replica-b", "on", ">b-pass", "~keycloak-fcgi:*", "&keycloak-fcgi:revocations", "+@all")
        let b = try RedisRevocationStore(url: "redis://replica-b:b-pass@127.0.0.1:\(server.port)")
        b.start(logger: RevocationStoreTests.quiet)
        defer { b.stop() }
        #expect(eventually(within: .seconds(5)) { b.status == .connected })

        // Cut B off: its user can no longer log in, its connections are closed.
        server.cli("ACL", "SETUSER", "replica-b", "off")
        server.cli("CLIENT", "KILL", "USER", "replica-b")
        #expect(eventually(within: .seconds(2)) { b.status.reason?.contains("AUTH refused") == true })
        #expect(b.status.reason?.contains("b-pass") == false)

        let revocation = Fixture.session("s-published-meanwhile")
        let record = RevocationRecord.encode(revocation)
        #expect(server.cli("SET", RevocationRecord.key(for: revocation), record, "EX", "600") == "OK")
        #expect(server.cli("PUBLISH", RevocationRecord.channel, record) == "0")
        #expect(!Fixture.refuses(b, revocation))

        server.cli("ACL", "SETUSER", "replica-b", "on")
        #expect(eventually(within: .seconds(4)) { b.status == .connected })
        #expect(Fixture.refuses(b, revocation))
    }

    @Test("a Redis that stops answering costs a revoke at most the command timeout; the queue flushes when it answers again")
    func unresponsiveRedis() throws {
        let server = try RedisServer()
        let logs = LogRecorder()
        let a = try RedisRevocationStore(url: server.url)
        a.start(logger: logs.logger())
        defer { a.stop() }
        #expect(eventually(within: .seconds(5)) { a.status == .connected })
        // Writes (EVAL, SET) wait while paused; reads do not.
        server.cli("CLIENT", "PAUSE", "1500", "WRITE")
        let revocation = Fixture.session("s-paused")
        let started = ContinuousClock.now
        a.revoke(revocation, logger: logs.logger())
        #expect(ContinuousClock.now - started < .milliseconds(600))
        #expect(Fixture.refuses(a, revocation))
        #expect(a.status.isDisconnected)
        #expect(eventually(within: .seconds(5)) { a.status == .connected })
        #expect(server.cli("GET", RevocationRecord.key(for: revocation)) == RevocationRecord.encode(revocation))
    }

    @Test("while Redis is unreachable the queue keeps the newest revocations, dropping the oldest with one warning")
    func boundedQueue() throws {
        let server = try RedisServer()
        server.kill()
        let logs = LogRecorder()
        let store = try RedisRevocationStore(url: server.url, queueCapacity: 3, claimCapacity: 10)
        store.start(logger: logs.logger())
        defer { store.stop() }
        #expect(eventually(within: .seconds(2)) { store.status.reason?.contains("cannot connect") == true })
        let revocations = (0..<5).map { Fixture.session("s-queued-\($0)") }
        for revocation in revocations { store.revoke(revocation, logger: logs.logger()) }
        #expect(revocations.allSatisfy { Fixture.refuses(store, $0) })
        #expect(logs.count(containing: "revocation queue full") == 1)
        #expect(logs.count(containing: "revocation store disconnected") == 1)

        try server.start()
        #expect(eventually(within: .seconds(5)) { store.status == .connected })
        #expect(logs.all.contains { $0.contains("revocation store connected") && $0.contains("revocation.dropped=2") })
        let stored = revocations.map { server.cli("EXISTS", RevocationRecord.key(for: $0)) }
        #expect(stored == ["0", "0", "1", "1", "1"])
    }

    @Test("malformed messages on the channel are ignored with a warning that does not repeat them")
    func malformedMessage() throws {
        let server = try RedisServer()
        let logs = LogRecorder()
        let store = try RedisRevocationStore(url: server.url)
        store.start(logger: logs.logger())
        defer { store.stop() }
        #expect(eventually(within: .seconds(5)) { store.status == .connected })
        server.cli("PUBLISH", RevocationRecord.channel, "v1 sid 1 2 not-base64! secret-looking-payload")
        #expect(eventually(within: .seconds(1)) { logs.count(containing: "ignored a malformed message") == 1 })
        #expect(!logs.all.contains { $0.contains("secret-looking-payload") })
        #expect(store.list.count == 0)
        #expect(store.status == .connected)
    }
}
