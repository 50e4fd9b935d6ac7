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

    /// With `fastcgi_keep_conn on`, libfcgi keeps the connection after a request and its next
    /// `FCGX_Accept_r` would block reading it until nginx sends another request or closes it,
    /// pinning this thread to one connection (the stall in the engineering notes). This decides
    /// before each accept:
    /// - a request already waiting on the kept connection is served (never dropped);
    /// - otherwise, when connections wait in the listen backlog, the kept connection is closed
    ///   and the thread accepts the waiting one (fairness: no connection starves);
    /// - otherwise it waits up to `idleMilliseconds` for either, and closes an idle connection.
    /// nginx only keeps connections for GET/HEAD (docs/design.md), and retries an idempotent
    /// request that meets such a close on a fresh connection.
    func releaseIdleConnection(afterMilliseconds idleMilliseconds: Int32, listenDescriptor: Int32) {
        let descriptor = request.pointee.ipcFd
        guard descriptor >= 0 else { return }
        var descriptors = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: listenDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        for timeout in [0, idleMilliseconds] {
            descriptors[0].revents = 0
            descriptors[1].revents = 0
            let ready = poll(&descriptors, 2, timeout)
            if ready > 0 && descriptors[0].revents != 0 { return }  // a request (or EOF) is waiting
            if ready > 0 && descriptors[1].revents & Int16(POLLIN) != 0 { break }  // the backlog is waiting
        }
        FCGX_Free(request, 1)
    }

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
