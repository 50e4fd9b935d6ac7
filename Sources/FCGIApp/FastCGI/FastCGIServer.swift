import CLinux
import Dispatch
import FoundationEssentials
import Glibc
import Logging
import Platform
import Synchronization

/// The FastCGI server: connections belong to one epoll set, and a few worker threads serve
/// whichever connection has a request waiting (docs/design.md, "Connections").
///
/// - Every worker waits in `epoll_wait` on the same set, which holds the listening socket and
///   every open connection, each armed `EPOLLONESHOT`: an event goes to exactly one worker,
///   and nobody else touches that descriptor until it is armed again.
/// - A worker woken by the listener accepts one connection, re-arms the listener (so another
///   worker can take the next) and looks at the new connection at once: nginx usually has the
///   request there already, and it is served without another wake-up.
/// - A worker woken by a connection peeks at its bytes with the record guard: a complete,
///   well-formed request start is served through libfcgi (`FastCGIWorker.serve`), and the
///   connection is armed again if nginx keeps it, or closed. Nothing waiting: armed again. A
///   request start that has not fully arrived goes to the timer (checked every 5 ms, closed
///   after 5 s), so a slow or stalled stream never holds a worker; a malformed one is closed.
///   A body or an answer that stops moving ends the request after 5 s (socket timeouts).
/// - No thread ever sleeps on an idle connection, so the number of workers is what the CPUs
///   and the provider calls need, not the number of connections nginx keeps.
/// - At most `maximumConnections` are open: at the bound the listener is not armed again (new
///   connections wait in the kernel's backlog), with one warning, until one closes.
///
/// Stopping: `stop` takes the listener out of the set and signals an eventfd that every
/// worker sees. A worker finishes the request it is serving, closes that connection rather
/// than keeping it, and ends; `stop` waits for them, up to a deadline, then closes the
/// connections still open (idle kept ones, and partial request starts).
///
/// Pipelining is not supported (nginx never sends a request before the previous answer):
/// bytes of a next request that arrive with the current one are left to libfcgi, which drops
/// them with the request's buffers.
package final class FastCGIServer: Sendable {
    /// How often partial request starts are looked at again.
    static let partialCheckMilliseconds = 5

    private let application: Application
    private let listener: FastCGIListenerHandle
    private let workers: Int
    private let maximumConnections: Int
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchGroup()
    /// The epoll set every worker waits on.
    private let events: Int32
    /// Readable once `stop` was called (never read, so it stays readable).
    private let wake: Int32
    /// Fires every `partialCheckMilliseconds` while a request start is incomplete.
    private let timer: Int32
    private let connections = Mutex(ConnectionTable())

    /// The open connections, shared by the workers; touched when a connection opens or
    /// closes, or a request start is incomplete, never for a request on a kept connection.
    struct ConnectionTable {
        /// Open descriptors (a count per number: a number closed and reused by a new
        /// connection before the old one is forgotten stays right).
        var open: [Int32: Int] = [:]
        var count = 0
        /// At the bound: the listener is not armed until a connection closes.
        var acceptingPaused = false
        /// Incomplete request starts and when they stop being waited for.
        var partial: [Int32: ContinuousClock.Instant] = [:]
        var timerRunning = false
    }

    package init(application: Application, listener: FastCGIListener, workers: Int, maximumConnections: Int) throws(FastCGIListener
        .OpenError)
    {
        self.application = application
        self.listener = FastCGIListenerHandle(listener)
        self.workers = workers
        self.maximumConnections = max(1, maximumConnections)
        let events = kf_epoll_create()
        let wake = kf_eventfd()
        let timer = kf_timerfd()
        guard events >= 0, wake >= 0, timer >= 0 else {
            let reason = String(cString: strerror(errno))
            for descriptor in [events, wake, timer] where descriptor >= 0 { Glibc.close(descriptor) }
            throw FastCGIListener.OpenError(description: "cannot create the connection event set: \(reason)")
        }
        self.events = events
        self.wake = wake
        self.timer = timer
    }

    deinit {
        Glibc.close(events)
        Glibc.close(wake)
        Glibc.close(timer)
    }

    private var listening: Int32 { listener.value.descriptor }

    /// Arms the listener and starts the worker threads.
    package func start() {
        let flags = fcntl(listening, F_GETFL)
        _ = fcntl(listening, F_SETFL, flags | O_NONBLOCK)
        _ = kf_epoll_arm(events, wake, kf_epoll_in, 1)
        _ = kf_epoll_arm(events, timer, kf_epoll_in | kf_epoll_oneshot, 1)
        _ = kf_epoll_arm(events, listening, kf_epoll_in | kf_epoll_oneshot, 1)
        for index in 0..<workers {
            finished.enter()
            startThread(name: "fcgi-worker-\(index)") { [self] in
                defer { finished.leave() }
                workerLoop(index)
            }
        }
    }

    /// Stops accepting, lets the requests in flight finish (up to `timeout`), then closes the
    /// connections still open; true when every worker ended in time.
    package func stop(timeout: Duration) -> Bool {
        stopping.store(true, ordering: .sequentiallyConsistent)
        _ = kf_epoll_remove(events, listening)
        listener.value.shutdownAccepting()
        _ = kf_eventfd_signal(wake)
        let deadline = DispatchTime.now() + .nanoseconds(Int(timeout.nanoseconds))
        guard finished.wait(timeout: deadline) == .success else { return false }
        let open = connections.withLock { table in
            defer { table = ConnectionTable() }
            return Array(table.open.keys)
        }
        for descriptor in open { Glibc.close(descriptor) }
        return true
    }

    /// Open connections now (tests, and the limit's log line).
    package var openConnections: Int { connections.withLock { $0.count } }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    private func workerLoop(_ index: Int) {
        let logger = application.logger
        let worker: FastCGIWorker
        do {
            worker = try FastCGIWorker(application: application)
        } catch {
            logger.critical("worker cannot start", metadata: ["worker": "\(index)", "error": "\(error)"])
            return
        }
        var scratch = [UInt8](repeating: 0, count: 4096)
        var mask: UInt32 = 0
        // Request lines are written in batches: when this worker is about to wait for work,
        // or every 4 KiB under load (StandardStream.beginBatching).
        StandardStream.beginBatching()
        defer { StandardStream.flushBatch() }
        while true {
            var descriptor = kf_epoll_wait_one(events, &mask, 0)
            if descriptor < 0 && errno == EAGAIN {
                StandardStream.flushBatch()
                descriptor = kf_epoll_wait_one(events, &mask, -1)
            }
            if descriptor < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                logger.error("epoll_wait failed; retrying", metadata: ["worker": "\(index)", "errno": "\(errno)"])
                sleepThread(.milliseconds(100))
                continue
            }
            if descriptor == wake {
                // Level-triggered and never read: passing the signal on wakes the next worker.
                _ = kf_eventfd_signal(wake)
                return
            }
            if descriptor == listening {
                acceptConnection(worker: worker, scratch: &scratch)
            } else if descriptor == timer {
                checkPartialStarts(scratch: &scratch)
            } else {
                handle(descriptor, worker: worker, scratch: &scratch)
            }
        }
    }

    // MARK: - Accepting

    private func acceptConnection(worker: FastCGIWorker, scratch: inout [UInt8]) {
        let connection = kf_accept_cloexec(listening)
        guard connection >= 0 else {
            switch errno {
            case EAGAIN, EWOULDBLOCK, EINTR, ECONNABORTED, EPROTO:
                armListener()
            case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                application.logger.error(
                    "cannot accept a FastCGI connection: out of descriptors or memory; retrying in 100 ms",
                    metadata: ["errno": "\(errno)", "fcgi.connections": "\(openConnections)"])
                sleepThread(.milliseconds(100))
                armListener()
            default:
                if !isStopping {
                    application.logger.error("accept failed; no longer accepting", metadata: ["errno": "\(errno)"])
                }
            }
            return
        }
        limitBlockingWaits(on: connection)
        let reachedBound = connections.withLock { table in
            table.open[connection, default: 0] += 1
            table.count += 1
            guard table.count >= maximumConnections else { return false }
            table.acceptingPaused = true
            return true
        }
        if reachedBound {
            application.logger.warning(
                "FastCGI connection limit reached: new connections wait in the listen backlog until one closes",
                metadata: ["fcgi.max_connections": "\(maximumConnections)"])
        } else {
            armListener()
        }
        handle(connection, worker: worker, scratch: &scratch)
    }

    /// libfcgi reads a request's body and writes its answer with blocking calls on the
    /// worker: a body that stops arriving, or a peer that stops reading, would hold the worker
    /// forever. So each of those calls waits at most 5 s for progress; then libfcgi sees an
    /// error, the request ends and the connection is closed. (nginx sends a buffered body at
    /// once and reads answers as they come.)
    private func limitBlockingWaits(on connection: Int32) {
        var limit = timeval(tv_sec: Int(FastCGIRecordGuard.completionTimeoutMilliseconds / 1000), tv_usec: 0)
        let size = socklen_t(MemoryLayout<timeval>.size)
        _ = setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &limit, size)
        _ = setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &limit, size)
    }

    private func armListener() {
        guard !isStopping else { return }
        _ = kf_epoll_arm(events, listening, kf_epoll_in | kf_epoll_oneshot, 0)
    }

    // MARK: - Connections

    /// Serves the request waiting on `connection`, or puts the connection back to wait.
    private func handle(_ connection: Int32, worker: FastCGIWorker, scratch: inout [UInt8]) {
        switch FastCGIRecordGuard.peek(connection, scratch: &scratch) {
        case .complete:
            serve(connection, worker: worker, scratch: &scratch)
        case .empty:
            arm(connection)
        case .partial:
            waitForRest(of: connection)
        case .closed:
            close(connection)
        case .invalid(let reason):
            application.logger.warning("closing a FastCGI connection with a malformed request", metadata: ["fcgi.reason": "\(reason)"])
            close(connection)
        }
    }

    private func serve(_ connection: Int32, worker: FastCGIWorker, scratch: inout [UInt8]) {
        switch worker.serve(connection: connection) {
        case .keep:
            if isStopping { close(connection) } else { arm(connection) }
        case .close:
            drainAndClose(connection, scratch: &scratch)
        case .gone:
            forget(connection)
        }
    }

    /// Waits for the connection's next bytes in the set (added the first time).
    private func arm(_ connection: Int32) {
        let mask = kf_epoll_in | kf_epoll_rdhup | kf_epoll_oneshot
        if kf_epoll_arm(events, connection, mask, 0) != 0 && errno == ENOENT {
            _ = kf_epoll_arm(events, connection, mask, 1)
        }
    }

    /// Closes a connection nginx did not keep. What it sent and libfcgi did not read (the
    /// empty STDIN record of a request without a body) is read first: closing a TCP socket
    /// with unread input sends a reset, which can destroy the answer before nginx reads it.
    /// (libfcgi's own close waits for the peer instead, holding the thread.)
    private func drainAndClose(_ connection: Int32, scratch: inout [UInt8]) {
        while scratch.withUnsafeMutableBytes({ recv(connection, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) > 0 {}
        close(connection)
    }

    private func close(_ connection: Int32) {
        forget(connection)
        Glibc.close(connection)
    }

    /// Removes a connection from the table (closed by the caller, or already by libfcgi).
    private func forget(_ connection: Int32) {
        let resume = connections.withLock { table in
            if let count = table.open[connection] {
                table.open[connection] = count > 1 ? count - 1 : nil
                table.count -= 1
            }
            table.partial[connection] = nil
            guard table.acceptingPaused, table.count < maximumConnections else { return false }
            table.acceptingPaused = false
            return true
        }
        if resume {
            application.logger.info(
                "FastCGI connections below the limit again: accepting", metadata: ["fcgi.max_connections": "\(maximumConnections)"])
            armListener()
        }
    }

    // MARK: - Partial request starts

    private func waitForRest(of connection: Int32) {
        connections.withLock { table in
            if table.partial[connection] == nil {
                table.partial[connection] = .now + .milliseconds(FastCGIRecordGuard.completionTimeoutMilliseconds)
            }
            if !table.timerRunning {
                table.timerRunning = true
                _ = kf_timerfd_every(timer, Self.partialCheckMilliseconds)
            }
        }
    }

    /// Looks again at every partial request start: complete ones go back to the set (ready, so
    /// a worker serves them at once), broken or timed-out ones are closed.
    private func checkPartialStarts(scratch: inout [UInt8]) {
        _ = kf_timerfd_consume(timer)
        defer { _ = kf_epoll_arm(events, timer, kf_epoll_in | kf_epoll_oneshot, 0) }
        let waiting = connections.withLock { Array($0.partial) }
        let now = ContinuousClock.now
        for (connection, deadline) in waiting {
            switch FastCGIRecordGuard.peek(connection, scratch: &scratch) {
            case .complete:
                connections.withLock { _ = $0.partial.removeValue(forKey: connection) }
                arm(connection)
            case .empty, .partial:
                guard now >= deadline else { continue }
                application.logger.warning(
                    "closing a FastCGI connection with a malformed request", metadata: ["fcgi.reason": "incomplete request start"])
                close(connection)
            case .closed:
                close(connection)
            case .invalid(let reason):
                application.logger.warning("closing a FastCGI connection with a malformed request", metadata: ["fcgi.reason": "\(reason)"])
                close(connection)
            }
        }
        connections.withLock { table in
            guard table.partial.isEmpty, table.timerRunning else { return }
            table.timerRunning = false
            _ = kf_timerfd_every(timer, 0)
        }
    }
}

/// Lets the server hold the listener across threads.
/// @unchecked: the listener's descriptor and address are immutable after `init`, and
/// `shutdownAccepting` only calls thread-safe system calls.
final class FastCGIListenerHandle: @unchecked Sendable {
    let value: FastCGIListener

    init(_ value: FastCGIListener) {
        self.value = value
    }
}
