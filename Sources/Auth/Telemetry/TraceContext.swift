/// W3C Trace Context (Trace Context Level 1, §3): the trace a request belongs to, this
/// service's span in it, and the `traceparent` its calls to the provider carry.
public struct TraceContext: Sendable, Equatable {
    /// 32 lower-case hex digits.
    public let traceID: String
    /// This service's span for the request: 16 lower-case hex digits, new per request.
    public let spanID: String
    /// The caller's span (`parent-id` of the incoming `traceparent`), when there was one.
    public let parentSpanID: String?
    /// `trace-flags`, two hex digits (`01`: sampled).
    public let flags: String
    /// The incoming `tracestate`, passed on unchanged.
    public let traceState: String?

    /// The context for a request with these headers: the caller's trace with a new span, or a
    /// new trace (sampled) when the header is absent or invalid (§3.2.2.1: restart the trace).
    public static func start(traceparent: String?, tracestate: String?) -> TraceContext {
        if let traceparent, let parsed = parse(traceparent) {
            let state = tracestate.flatMap { $0.utf8.count <= 512 && $0.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? $0 : nil }
            return TraceContext(
                traceID: parsed.traceID, spanID: randomHex(8), parentSpanID: parsed.parentID, flags: parsed.flags, traceState: state)
        }
        return root()
    }

    /// A new trace of its own (background calls, or a request without a valid `traceparent`).
    public static func root() -> TraceContext {
        TraceContext(traceID: randomHex(16), spanID: randomHex(8), parentSpanID: nil, flags: "01", traceState: nil)
    }

    /// The `traceparent` of a call made within this span: its parent is this service's span.
    public var traceparent: String { "00-\(traceID)-\(spanID)-\(flags)" }

    /// §3.2: `version-traceid-parentid-flags`; version `ff` and all-zero ids are invalid; a
    /// later version may append fields after a `-`.
    static func parse(_ header: String) -> (traceID: String, parentID: String, flags: String)? {
        let bytes = Array(header.utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
        guard bytes.count >= 55, bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
            bytes[..<2].allSatisfy(isLowerHex), bytes[3..<35].allSatisfy(isLowerHex), bytes[36..<52].allSatisfy(isLowerHex),
            bytes[53..<55].allSatisfy(isLowerHex)
        else { return nil }
        let version = String(decoding: bytes[..<2], as: UTF8.self)
        guard version != "ff" else { return nil }
        let trailing = bytes[55...].drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        if version == "00" {
            guard trailing.isEmpty else { return nil }
        } else if !trailing.isEmpty && bytes[55] != UInt8(ascii: "-") {
            return nil
        }
        let traceID = String(decoding: bytes[3..<35], as: UTF8.self)
        let parentID = String(decoding: bytes[36..<52], as: UTF8.self)
        guard traceID != String(repeating: "0", count: 32), parentID != String(repeating: "0", count: 16) else { return nil }
        return (traceID, parentID, String(decoding: bytes[53..<55], as: UTF8.self))
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// `count` random bytes as lower-case hex, never all zero.
    static func randomHex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        while true {
            var text: [UInt8] = []
            text.reserveCapacity(count * 2)
            var word: UInt64 = 0
            var nonZero = false
            for index in 0..<count {
                if index % 8 == 0 { word = generator.next() }
                let byte = UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
                nonZero = nonZero || byte != 0
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 0x0F)])
            }
            if nonZero { return String(decoding: text, as: UTF8.self) }
        }
    }
}
