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
final class FastCGIServer: Sendable {
    private let application: Application
    private let listener: FastCGIListenerHandle
    private let workers: Int
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchGroup()

    init(application: Application, listener: FastCGIListener, workers: Int) {
        self.application = application
        self.listener = FastCGIListenerHandle(listener)
        self.workers = workers
    }

    /// Starts the worker threads.
    func start() {
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
    func stop(timeout: Duration) -> Bool {
        stopping.store(true, ordering: .sequentiallyConsistent)
        listener.value.shutdownAccepting()
        let deadline = DispatchTime.now() + .nanoseconds(Int(timeout.nanoseconds))
        return finished.wait(timeout: deadline) == .success
    }

    private func workerLoop(_ index: Int) {
        let logger = application.logger
        let request: FastCGIRequest
        let worker: Application.Worker
        do {
            request = try FastCGIRequest()
            worker = try application.makeWorker()
        } catch {
            logger.critical("worker cannot start", metadata: ["worker": "\(index)", "error": "\(error)"])
            return
        }
        let maximumBody = application.configuration.maximumBodyBytes
        let isStopping = { [self] in stopping.load(ordering: .relaxed) }
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            if request.connectionDescriptor < 0 {
                if isStopping() { break }
                guard let connection = listener.value.acceptConnection() else {
                    if isStopping() { break }
                    logger.error("accept failed; retrying", metadata: ["worker": "\(index)", "errno": "\(errno)"])
                    sleepThread(.milliseconds(100))
                    continue
                }
                request.adopt(connection)
            }
            // Waits for the next request on the connection (kept ones too) and checks its
            // records before libfcgi reads them.
            switch FastCGIRecordGuard.inspect(request.connectionDescriptor, scratch: &scratch, isStopping: isStopping) {
            case .valid:
                break
            case .closed, .stopping:
                request.closeConnection()
                continue
            case .invalid(let reason):
                logger.warning("closing a FastCGI connection with a malformed request", metadata: ["fcgi.reason": "\(reason)"])
                request.closeConnection()
                continue
            }
            guard request.accept() else {
                continue  // libfcgi rejected the stream and closed the connection
            }
            let started = ContinuousClock.now
            let requestID = request.requestID ?? Self.makeRequestID()
            var requestLogger = logger
            requestLogger[metadataKey: "request.id"] = "\(requestID)"

            let method: String
            let path: String
            let response: HTTPResponse
            switch request.readHTTPRequest(maximumBodyBytes: maximumBody) {
            case .request(let incoming):
                method = incoming.method
                path = incoming.path
                response = worker.respond(to: incoming, logger: requestLogger)
            case .bodyTooLarge:
                method = request.parameter("REQUEST_METHOD") ?? "?"
                path = request.parameter("DOCUMENT_URI") ?? "?"
                response = HTTPResponse(error: .bodyTooLarge(limit: maximumBody))
            }
            let delivered = request.write(response, extraHeaders: [("X-Request-ID", requestID)])
            request.finish()
            let duration = ContinuousClock.now - started
            worker.metrics.record(route: application.router.routeLabel(for: path), status: response.status.code, duration: duration)

            var metadata = response.logMetadata
            metadata["http.method"] = "\(method)"
            metadata["http.path"] = "\(path.prefix(256))"
            metadata["http.status"] = "\(response.status.code)"
            metadata["http.duration_ms"] = "\(duration.millisecondsText)"
            if !delivered { metadata["http.delivered"] = "false" }
            requestLogger.log(level: Self.logLevel(for: response.status.code), "request", metadata: metadata)
        }
    }

    /// 502 means the provider or our client set-up is broken: error. 503: warning.
    private static func logLevel(for status: Int) -> Logger.Level {
        switch status {
        case 502: .error
        case 503: .warning
        default: .info
        }
    }

    private static func makeRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt32, radix: 16) }.map {
            String(repeating: "0", count: 8 - $0.count) + $0
        }.joined()
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
