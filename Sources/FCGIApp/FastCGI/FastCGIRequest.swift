import CFastCGI
import Glibc

/// Owns one `FCGX_Request`: allocated and initialized in `init`, freed in `deinit`. Each
/// worker thread creates its own and reuses it for every request it accepts.
///
/// Connections are accepted by the server, not by libfcgi: each is checked by
/// `FastCGIRecordGuard` and then adopted, and libfcgi reads the request from it. libfcgi gets
/// no listening socket (-1), so it never accepts on its own after a protocol error.
final class FastCGIRequest {
    private let request: UnsafeMutablePointer<FCGX_Request>

    init() throws(FastCGIListener.OpenError) {
        request = .allocate(capacity: 1)
        guard FCGX_InitRequest(request, -1, 0) == 0 else {
            request.deallocate()
            throw FastCGIListener.OpenError(description: "FCGX_InitRequest failed")
        }
    }

    deinit {
        FCGX_Free(request, 1)
        request.deallocate()
    }

    /// Makes `descriptor` (an accepted connection) the connection the next `accept` reads.
    /// Marked kept, so that libfcgi's finish step inside `FCGX_Accept_r` does not close it.
    func adopt(_ descriptor: Int32) {
        request.pointee.ipcFd = descriptor
        request.pointee.keepConnection = 1
    }

    /// The current connection, or -1.
    var connectionDescriptor: Int32 { request.pointee.ipcFd }

    /// Closes the current connection, if any, at once. (libfcgi's own close half-closes and
    /// then reads until the peer closes, up to 2 s per read: right after an answer, wrong for a
    /// peer that sent garbage or an idle connection at shutdown.)
    func closeConnection() {
        let descriptor = request.pointee.ipcFd
        request.pointee.ipcFd = -1
        FCGX_Free(request, 0)
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
    }

    /// Reads the next request from the current connection; false when libfcgi rejected the
    /// stream (it has then closed the connection).
    func accept() -> Bool {
        FCGX_Accept_r(request) >= 0
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
                let read =
                    buffer.baseAddress.map { base in
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
