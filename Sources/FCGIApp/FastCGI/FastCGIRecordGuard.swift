import Glibc

/// Checks the FastCGI records waiting on a connection before libfcgi parses them.
///
/// libfcgi 2.4.2 trusts its peer: a PARAMS record announcing a name or value of gigabytes makes
/// it allocate that much, and a failed allocation aborts the whole process (found by the
/// `fastcgi` fuzz target, Fuzz/regressions/). nginx never sends such records, but anything that
/// can reach the socket could. So each request's records are peeked at (MSG_PEEK: nothing is
/// consumed, libfcgi then reads them as usual) and a connection whose stream does not start with
/// BEGIN_REQUEST followed by PARAMS records whose name/value lengths fit inside the stream is
/// closed unread.
enum FastCGIRecordGuard {
    enum Verdict: Equatable {
        /// A well-formed request start: hand the connection to libfcgi.
        case valid
        /// The peer closed the connection (nginx ends idle kept connections this way).
        case closed
        /// The responder is stopping and no request is waiting.
        case stopping
        /// Not a request libfcgi may safely read; the reason is for the log.
        case invalid(String)
    }

    /// Largest request start (BEGIN_REQUEST and every PARAMS record) accepted.
    static let maximumBytes = 1 << 20
    /// How long a started request may take to arrive completely.
    static let completionTimeoutMilliseconds = 5_000

    private static let version: UInt8 = 1
    private static let beginRequest: UInt8 = 1
    private static let params: UInt8 = 4

    /// What one look at a connection's waiting bytes found.
    enum Peek: Equatable {
        /// A complete, well-formed request start.
        case complete
        /// Nothing waiting (an idle kept connection, or a spurious wake-up).
        case empty
        /// The start of a request whose rest has not arrived yet.
        case partial
        /// The peer closed the connection, or it failed.
        case closed
        /// Not a request libfcgi may safely read; the reason is for the log.
        case invalid(String)
    }

    /// Looks at the bytes waiting on `descriptor` without consuming or waiting for them (the
    /// dispatcher's check: no thread waits on a connection). `scratch` is the caller's buffer,
    /// reused across requests (a fresh 4 KiB buffer per request showed up in profiles as
    /// malloc and memset); it grows when a request start needs more.
    static func peek(_ descriptor: Int32, scratch: inout [UInt8]) -> Peek {
        if scratch.count < 4096 { scratch = [UInt8](repeating: 0, count: 4096) }
        var size = scratch.count
        // Set when the peer had stopped sending before the latest peek, which then saw
        // everything it will ever send. Asked only when a request start is incomplete: one
        // syscall less per request.
        var halfClosed = false
        while true {
            if scratch.count < size { scratch += [UInt8](repeating: 0, count: size - scratch.count) }
            let peeked = scratch.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, size, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) }
            if peeked == 0 { return .closed }
            if peeked < 0 {
                if errno == EAGAIN || errno == EINTR { return .empty }
                return .closed
            }
            switch check(scratch[..<peeked]) {
            case .complete:
                return .complete
            case .broken(let reason):
                return .invalid(reason)
            case .needMore:
                if peeked >= maximumBytes { return .invalid("request start over \(maximumBytes) bytes") }
                if peeked == size {
                    size = min(size * 4, maximumBytes + 8)
                    continue
                }
                if halfClosed { return .invalid("connection half-closed inside a request start") }
                // Peek once more after asking: what arrived before the shutdown is then all here.
                halfClosed = peerStoppedSending(descriptor)
                if halfClosed { continue }
                return .partial
            }
        }
    }

    /// Waits for the next request on `descriptor` (returning `.stopping` when `isStopping`
    /// becomes true while nothing is waiting) and checks its records: `peek`, waiting on the
    /// connection. The fuzz target's path; the server's dispatcher peeks without waiting.
    static func inspect(_ descriptor: Int32, scratch: inout [UInt8], isStopping: () -> Bool) -> Verdict {
        // The first byte: nginx may keep an idle connection open for a while.
        while true {
            var events = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&events, 1, 100)
            if ready > 0 { break }
            if ready < 0 && errno != EINTR { return .closed }
            if isStopping() { return .stopping }
        }
        var waited = 0
        while true {
            switch peek(descriptor, scratch: &scratch) {
            case .complete: return .valid
            case .closed: return .closed
            case .invalid(let reason): return .invalid(reason)
            case .empty, .partial:
                if waited >= completionTimeoutMilliseconds { return .invalid("incomplete request start") }
                usleep(1_000)
                waited += 1
            }
        }
    }

    /// Whether the peer shut down its sending side (POLLRDHUP): the bytes waiting are all
    /// that will come.
    private static func peerStoppedSending(_ descriptor: Int32) -> Bool {
        var events = pollfd(fd: descriptor, events: Int16(pollRDHUP), revents: 0)
        return poll(&events, 1, 0) > 0 && events.revents & Int16(pollRDHUP) != 0
    }

    /// POLLRDHUP from <poll.h> (Linux; Glibc's module map exports it only with _GNU_SOURCE).
    private static let pollRDHUP: Int32 = 0x2000

    enum Progress: Equatable {
        case complete
        case needMore
        case broken(String)
    }

    /// Checks a prefix of the stream: BEGIN_REQUEST, then PARAMS records up to the empty one,
    /// whose concatenated content is a sequence of name/value pairs that fits exactly. nginx
    /// sends all parameters in one record, which is checked where it lies; only a request
    /// whose parameters span records pays for joining them.
    static func check(_ bytes: ArraySlice<UInt8>) -> Progress {
        var offset = bytes.startIndex
        var firstParams: ArraySlice<UInt8> = []
        var joinedParams: [UInt8]?  // from the second non-empty PARAMS record on
        var sawBegin = false
        while true {
            guard bytes.endIndex - offset >= 8 else { return .needMore }
            let header = bytes[offset..<(offset + 8)]
            let type = header[offset + 1]
            let contentLength = Int(header[offset + 4]) << 8 | Int(header[offset + 5])
            let paddingLength = Int(header[offset + 6])
            guard header[offset] == version else { return .broken("FastCGI version \(header[offset])") }
            guard bytes.endIndex - offset >= 8 + contentLength + paddingLength else { return .needMore }
            let content = bytes[(offset + 8)..<(offset + 8 + contentLength)]
            offset += 8 + contentLength + paddingLength
            if !sawBegin {
                guard type == beginRequest, contentLength == 8 else { return .broken("stream does not start with BEGIN_REQUEST") }
                sawBegin = true
                continue
            }
            guard type == params else { return .broken("record type \(type) before the end of PARAMS") }
            if contentLength == 0 {
                let fits = joinedParams.map { pairsFit($0[...]) } ?? pairsFit(firstParams)
                return fits ? .complete : .broken("a PARAMS name/value length exceeds the stream")
            }
            if joinedParams == nil && firstParams.isEmpty {
                firstParams = content
            } else {
                joinedParams = (joinedParams ?? Array(firstParams)) + content
            }
            if (joinedParams?.count ?? firstParams.count) > maximumBytes { return .broken("PARAMS over \(maximumBytes) bytes") }
        }
    }

    /// Whether the stream is a sequence of (name length, value length, name, value) entries
    /// (FastCGI §3.4) that ends exactly at its end.
    static func pairsFit(_ stream: [UInt8]) -> Bool {
        pairsFit(stream[...])
    }

    static func pairsFit(_ stream: ArraySlice<UInt8>) -> Bool {
        var offset = stream.startIndex
        let end = stream.endIndex
        func length() -> Int? {
            guard offset < end else { return nil }
            if stream[offset] & 0x80 == 0 {
                defer { offset += 1 }
                return Int(stream[offset])
            }
            guard end - offset >= 4 else { return nil }
            defer { offset += 4 }
            return Int(stream[offset] & 0x7F) << 24 | Int(stream[offset + 1]) << 16 | Int(stream[offset + 2]) << 8
                | Int(stream[offset + 3])
        }
        while offset < end {
            guard let nameLength = length(), let valueLength = length(),
                nameLength + valueLength <= end - offset
            else { return false }
            offset += nameLength + valueLength
        }
        return true
    }
}
