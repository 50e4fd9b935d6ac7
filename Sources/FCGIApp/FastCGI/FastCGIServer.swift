import Dispatch
import FoundationEssentials
import Auth
import Glibc
import Logging
import Platform
import Synchronization

/// The accept loop: `workers` threads, each with its own `FCGX_Request` and provider client,
/// each looping accept → read → route → write → finish. A connection nginx keeps open
/// (`fastcgi_keep_conn on`) is served until nginx closes it; nginx's short upstream
/// `keepalive_timeout` and `keepalive_requests` bound how long a thread stays on one
/// (docs/design.md).
///
/// Stopping: `stop` marks the server stopping and shuts the listening socket, which wakes
/// threads blocked in accept(); a thread busy with a request finishes it first. `stop` then
/// waits for every thread, up to a deadline.
package final class FastCGIServer: Sendable {
    private let application: Application
    private let listener: FastCGIListenerHandle
    private let workers: Int
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchGroup()

    package init(application: Application, listener: FastCGIListener, workers: Int) {
        self.application = application
        self.listener = FastCGIListenerHandle(listener)
        self.workers = workers
    }

    /// Starts the worker threads.
    package func start() {
        for index in 0..<workers {
            finished.enter()
            startThread(name: "fcgi-worker-\(index)") { [self] in
                defer { finished.leave() }
                workerLoop(index)
            }
        }
    }

    /// Stops accepting and waits up to `timeout` for requests in flight; true when every
    /// thread ended in time.
    package func stop(timeout: Duration) -> Bool {
        stopping.store(true, ordering: .sequentiallyConsistent)
        listener.value.shutdownAccepting()
        let deadline = DispatchTime.now() + .nanoseconds(Int(timeout.nanoseconds))
        return finished.wait(timeout: deadline) == .success
    }

    private func workerLoop(_ index: Int) {
        let logger = application.logger
        let worker: FastCGIWorker
        do {
            worker = try FastCGIWorker(application: application)
        } catch {
            logger.critical("worker cannot start", metadata: ["worker": "\(index)", "error": "\(error)"])
            return
        }
        let isStopping = { [self] in stopping.load(ordering: .relaxed) }
        while true {
            if !worker.hasConnection {
                if isStopping() { break }
                guard let connection = listener.value.acceptConnection() else {
                    if isStopping() { break }
                    logger.error("accept failed; retrying", metadata: ["worker": "\(index)", "errno": "\(errno)"])
                    sleepThread(.milliseconds(100))
                    continue
                }
                worker.adopt(connection)
            }
            // Waits for the next request on the connection (kept ones too) and serves it.
            worker.serveNextRequest(isStopping: isStopping)
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
