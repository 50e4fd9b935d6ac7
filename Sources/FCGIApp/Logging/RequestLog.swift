import Logging
import Platform

/// The one log line every request gets: method, path, status, duration, whether the answer
/// reached nginx, and what the handler added (`auth.sub`, `auth.error`). Secrets never get
/// here: handlers add only non-secret context, and the request's headers are not logged.
struct RequestLog {
    var method = "?"
    var path = "?"
    var response = HTTPResponse(status: .ok)
    var duration: Duration = .zero
    var delivered = true

    /// Writes the line at the level its status deserves.
    func write(to logger: Logger) {
        var metadata = response.logMetadata
        metadata.reserveCapacity(metadata.count + 5)
        metadata["http.method"] = "\(method)"
        metadata["http.path"] = "\(path.prefix(256))"
        metadata["http.status"] = "\(response.status.code)"
        metadata["http.duration_ms"] = "\(duration.millisecondsText)"
        if !delivered { metadata["http.delivered"] = "false" }
        logger.log(level: Self.level(for: response.status.code), "request", metadata: metadata)
    }

    /// 502 means the provider or our client set-up is broken: error. 503: warning.
    static func level(for status: Int) -> Logger.Level {
        switch status {
        case 502: .error
        case 503: .warning
        default: .info
        }
    }

    /// A request id when nginx sent none: 128 random bits in hex.
    static func makeRequestID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt32, radix: 16) }.map {
            String(repeating: "0", count: 8 - $0.count) + $0
        }.joined()
    }
}
