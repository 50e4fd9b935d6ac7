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

    /// Whether nginx asked to keep the connection for further requests (`FCGI_KEEP_CONN` in the
    /// current request's BEGIN_REQUEST; `fastcgi_keep_conn on`).
    var peerKeepsConnection: Bool { request.pointee.keepConnection != 0 }

    /// Ends the current request as `FCGX_Finish_r` does (flushes the output, sends
    /// END_REQUEST, frees the streams and parameters) but never closes the connection: the
    /// caller decides, because libfcgi's close lingers on the connection for up to 2 s per
    /// read and `select`s on a descriptor that may be above FD_SETSIZE. True when the streams
    /// ended without an error (the connection can serve another request).
    func finish() -> Bool {
        var failed = false
        if request.pointee.in != nil {
            failed = FCGX_FClose(request.pointee.err) != 0
            failed = FCGX_FClose(request.pointee.out) != 0 || failed
            failed = FCGX_GetError(request.pointee.in) != 0 || failed
        }
        FCGX_Free(request, 0)
        return !failed
    }

    /// Gives up the current connection without closing it; its descriptor, or -1.
    func release() -> Int32 {
        let descriptor = request.pointee.ipcFd
        request.pointee.ipcFd = -1
        return descriptor
    }

    /// A FastCGI parameter of the current request.
    func parameter(_ name: String) -> String? {
        guard let environment = request.pointee.envp, let value = FCGX_GetParam(name, environment) else {
            return nil
        }
        return String(cString: value)
    }

    /// How many entries of the request's environment are named `name`.
    func parameterCount(_ name: String) -> Int {
        guard var entry = request.pointee.envp else { return 0 }
        let prefix = Array((name + "=").utf8)
        var count = 0
        while let pointer = entry.pointee {
            // Stops at the first difference, so never reads past the entry's NUL (not in `prefix`).
            var index = 0
            while index < prefix.count, UInt8(bitPattern: pointer[index]) == prefix[index] { index += 1 }
            if index == prefix.count { count += 1 }
            entry += 1
        }
        return count
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
