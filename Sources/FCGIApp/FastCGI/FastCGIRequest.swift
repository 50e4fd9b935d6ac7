import CFastCGI
import Glibc

/// Owns one `FCGX_Request`: allocated and initialized in `init`, freed in `deinit`. Each
/// worker thread creates its own and reuses it for every request it accepts.
final class FastCGIRequest {
    private let request: UnsafeMutablePointer<FCGX_Request>

    init(listenDescriptor: Int32) throws(FastCGIListener.OpenError) {
        request = .allocate(capacity: 1)
        guard FCGX_InitRequest(request, listenDescriptor, 0) == 0 else {
            request.deallocate()
            throw FastCGIListener.OpenError(description: "FCGX_InitRequest failed")
        }
    }

    deinit {
        FCGX_Free(request, 1)
        request.deallocate()
    }

    /// Waits for the next request; false once the listener is shut down (or on an accept error).
    func accept() -> Bool {
        FCGX_Accept_r(request) >= 0
    }

    /// With `fastcgi_keep_conn on`, libfcgi keeps the connection after a request, and the next
    /// `FCGX_Accept_r` reads the next request from it. Only nginx closes kept connections in
    /// normal operation (its upstream `keepalive_timeout` and `keepalive_requests`), because a
    /// close from this side can race with nginx reusing the connection. When the responder is
    /// stopping, an idle kept connection is closed at once so the thread can exit; nginx
    /// retries the (idempotent, GET/HEAD only) request that may meet that close elsewhere.
    func releaseKeptConnectionForShutdown() {
        let descriptor = request.pointee.ipcFd
        guard descriptor >= 0 else { return }
        var events = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        if poll(&events, 1, 0) > 0 { return }  // a request is already waiting: serve it
        FCGX_Free(request, 1)
    }

    /// Whether libfcgi holds a kept connection from the last request.
    var hasKeptConnection: Bool { request.pointee.ipcFd >= 0 }

    /// Ends the current request: flushes output and, without keep-alive, closes the connection.
    func finish() {
        FCGX_Finish_r(request)
    }

    /// A FastCGI parameter of the current request.
    func parameter(_ name: String) -> String? {
        guard let environment = request.pointee.envp, let value = FCGX_GetParam(name, environment) else {
            return nil
        }
        return String(cString: value)
    }

    /// Reads up to `count` bytes of the request body; fewer at end of input. Reads in chunks
    /// into uninitialized storage: a GET without a body costs one call, not a zeroed buffer of
    /// the maximum body size (which showed up in profiles).
    func readBody(upTo count: Int) -> [UInt8] {
        guard count > 0, let input = request.pointee.in else { return [] }
        var body: [UInt8] = []
        while body.count < count {
            let wanted = min(count - body.count, 16 * 1024)
            let chunk = [UInt8](unsafeUninitializedCapacity: wanted) { buffer, initialized in
                let read = buffer.baseAddress.map { base in
                    base.withMemoryRebound(to: CChar.self, capacity: wanted) { FCGX_GetStr($0, Int32(wanted), input) }
                } ?? 0
                initialized = max(0, Int(read))
            }
            if chunk.isEmpty { break }
            body.append(contentsOf: chunk)
        }
        return body
    }

    /// Reads and discards up to `count` bytes of input.
    func discardBody(upTo count: Int) {
        var remaining = count
        while remaining > 0 {
            let chunk = readBody(upTo: min(remaining, 16 * 1024))
            if chunk.isEmpty { return }
            remaining -= chunk.count
        }
    }

    /// Writes bytes to the response stream; false when the connection is gone.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        guard let output = request.pointee.out else { return false }
        let written = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress.map { base in
                base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    FCGX_PutStr($0, Int32(bytes.count), output)
                }
            } ?? 0
        }
        return Int(written) == bytes.count
    }
}
