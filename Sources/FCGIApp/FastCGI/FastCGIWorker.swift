import Auth
import FoundationEssentials
import Logging

/// One worker's FastCGI side: its libfcgi request, its application worker (provider client,
/// metrics) and the record guard's buffer. The one path that serves a request, used by the
/// server's worker threads and by the `fastcgi` fuzz target alike:
/// record guard → libfcgi accept → read → route → write → finish → count → log.
package final class FastCGIWorker {
    private let application: Application
    private let request: FastCGIRequest
    private let worker: Application.Worker
    /// The record guard's peek buffer, reused for every request (a 4 KiB buffer per request
    /// showed up in profiles).
    private var scratch = [UInt8](repeating: 0, count: 4096)

    package init(application: Application) throws {
        self.application = application
        self.request = try FastCGIRequest()
        self.worker = try application.makeWorker()
    }

    /// Whether a connection is held (nginx may keep it for further requests).
    package var hasConnection: Bool { request.connectionDescriptor >= 0 }

    /// Takes over an accepted connection.
    package func adopt(_ connection: Int32) {
        request.adopt(connection)
    }

    /// Closes the held connection, if any.
    package func closeConnection() {
        request.closeConnection()
    }

    /// What becomes of a connection after its request.
    package enum Continuation: Equatable {
        /// nginx keeps it and the streams ended cleanly: it may carry another request.
        case keep
        /// Done with it: the caller closes it.
        case close
        /// libfcgi refused the stream and has already closed it.
        case gone
    }

    /// Serves the one request waiting, complete, on `connection` (the dispatcher peeked at it
    /// with the record guard) and gives the connection back, open, with what to do with it.
    package func serve(connection: Int32) -> Continuation {
        request.adopt(connection)
        guard request.accept() else {
            _ = request.release()
            return .gone
        }
        let continuation = respond()
        _ = request.release()
        return continuation
    }

    /// Waits for the next request on the held connection and serves it (the fuzz target's
    /// path: one thread on one connection). False when there was none to serve: the peer
    /// closed the connection, its records were malformed (logged), the server is stopping, or
    /// libfcgi refused the stream; the connection is closed then, and after a request nginx
    /// did not ask to keep it for.
    @discardableResult
    package func serveNextRequest(isStopping: () -> Bool) -> Bool {
        switch FastCGIRecordGuard.inspect(request.connectionDescriptor, scratch: &scratch, isStopping: isStopping) {
        case .valid:
            break
        case .closed, .stopping:
            request.closeConnection()
            return false
        case .invalid(let reason):
            application.logger.warning("closing a FastCGI connection with a malformed request", metadata: ["fcgi.reason": "\(reason)"])
            request.closeConnection()
            return false
        }
        let descriptor = request.connectionDescriptor
        guard request.accept() else {
            return false  // libfcgi rejected the stream and closed the connection
        }
        if respond() == .keep {
            request.adopt(descriptor)
        } else {
            request.closeConnection()
        }
        return true
    }

    /// The accepted request: read → route → write → finish → count → log.
    private func respond() -> Continuation {
        let started = ContinuousClock.now
        let requestID = request.requestID ?? RequestLog.makeRequestID()
        var logger = application.logger
        logger[metadataKey: "request.id"] = "\(requestID)"
        let trace = TraceContext.start(traceparent: request.parameter("HTTP_TRACEPARENT"), tracestate: request.parameter("HTTP_TRACESTATE"))
        logger[metadataKey: "trace_id"] = "\(trace.traceID)"
        logger[metadataKey: "span_id"] = "\(trace.spanID)"
        if let parent = trace.parentSpanID { logger[metadataKey: "parent_span_id"] = "\(parent)" }

        let maximumBody = application.configuration.maximumBodyBytes
        var log = RequestLog()
        let response: HTTPResponse
        switch request.readHTTPRequest(maximumBodyBytes: maximumBody) {
        case .request(let incoming):
            log.method = incoming.method
            log.path = incoming.path
            response = worker.respond(to: incoming, logger: logger, trace: trace)
        case .bodyTooLarge:
            log.method = request.parameter("REQUEST_METHOD") ?? "?"
            log.path = request.parameter("DOCUMENT_URI") ?? "?"
            response = HTTPResponse(error: .bodyTooLarge(limit: maximumBody))
        }
        log.delivered = request.write(response, extraHeaders: [("X-Request-ID", requestID)])
        let keep = request.peerKeepsConnection
        let clean = request.finish()
        log.duration = ContinuousClock.now - started
        log.response = response
        worker.metrics.record(route: application.router.routeLabel(for: log.path), status: response.status.code, duration: log.duration)
        log.write(to: logger)
        return keep && clean ? .keep : .close
    }
}
