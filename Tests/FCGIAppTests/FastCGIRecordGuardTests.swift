import Glibc
import Testing

@testable import FCGIApp

@Suite("FastCGIRecordGuard")
struct FastCGIRecordGuardTests {
    static func record(_ type: UInt8, _ content: [UInt8], padding: Int = 0, version: UInt8 = 1) -> [UInt8] {
        var bytes: [UInt8] = [version, type, 0, 1]
        bytes.append(UInt8(content.count >> 8))
        bytes.append(UInt8(content.count & 0xFF))
        bytes.append(UInt8(padding))
        bytes.append(0)
        bytes.append(contentsOf: content)
        bytes.append(contentsOf: [UInt8](repeating: 0, count: padding))
        return bytes
    }

    static func length(_ value: Int) -> [UInt8] {
        if value < 128 { return [UInt8(value)] }
        let high = UInt8(0x80 | value >> 24)
        return [high, UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    static func pair(_ name: String, _ value: String) -> [UInt8] {
        var bytes = length(name.utf8.count)
        bytes.append(contentsOf: length(value.utf8.count))
        bytes.append(contentsOf: Array(name.utf8))
        bytes.append(contentsOf: Array(value.utf8))
        return bytes
    }

    static let begin = record(1, [0, 1, 0, 0, 0, 0, 0, 0])
    static let root: [UInt8] = {
        var bytes = pair("REQUEST_METHOD", "GET")
        bytes.append(contentsOf: pair("DOCUMENT_URI", "/"))
        bytes.append(contentsOf: pair("HTTP_X", String(repeating: "v", count: 300)))
        return bytes
    }()

    static func check(_ bytes: [UInt8]) -> FastCGIRecordGuard.Progress {
        FastCGIRecordGuard.check(bytes[...])
    }

    @Test func aWellFormedRequestStartIsComplete() {
        let stream = Self.begin + Self.record(4, Self.root, padding: 3) + Self.record(4, []) + Self.record(5, [])
        #expect(Self.check(stream) == .complete)
    }

    @Test func paramsSplitAcrossRecordsAreJoinedBeforeTheLengthsAreChecked() {
        let params = Self.root
        let stream = Self.begin + Self.record(4, Array(params[..<2])) + Self.record(4, Array(params[2...])) + Self.record(4, [])
        #expect(Self.check(stream) == .complete)
    }

    @Test func everyShorterPrefixNeedsMore() {
        let stream = Self.begin + Self.record(4, Self.root, padding: 5) + Self.record(4, [])
        for end in 0..<stream.count {
            #expect(Self.check(Array(stream[..<end])) == .needMore, "prefix of \(end) bytes")
        }
    }

    @Test func aHugeAnnouncedLengthIsRejected() {
        // The fuzz finding: a value length of 0x6DEDEDED bytes in a 40-byte record.
        let hostile: [UInt8] = [14, 0xED, 0xED, 0xED, 0xED] + Array("CONTENT_LENGTH4".utf8)
        #expect(Self.check(Self.begin + Self.record(4, hostile) + Self.record(4, [])) != .complete)
        #expect(!FastCGIRecordGuard.pairsFit(hostile))
    }

    @Test func pairLengthsMustEndExactlyAtTheStreamsEnd() {
        #expect(FastCGIRecordGuard.pairsFit([]))
        #expect(FastCGIRecordGuard.pairsFit(Self.pair("A", "B")))
        #expect(FastCGIRecordGuard.pairsFit(Self.pair("A", String(repeating: "b", count: 200))))
        #expect(!FastCGIRecordGuard.pairsFit([1, 2, 65, 66]))  // one byte short
        #expect(!FastCGIRecordGuard.pairsFit([1]))  // no value length
        #expect(!FastCGIRecordGuard.pairsFit([0x80, 0]))  // four-byte length cut short
        #expect(!FastCGIRecordGuard.pairsFit([0xFF, 0xFF, 0xFF, 0xFF, 0]))
    }

    static let broken: [(String, [UInt8])] = [
        ("wrong version", record(1, [0, 1, 0, 0, 0, 0, 0, 0], version: 2)),
        ("not BEGIN_REQUEST first", record(5, [1, 2, 3])),
        ("short BEGIN_REQUEST", record(1, [0, 1, 0, 0])),
        ("STDIN inside PARAMS", [begin, record(5, [1]), record(4, [])].flatMap { $0 }),
        ("ABORT inside PARAMS", [begin, record(4, pair("A", "B")), record(2, [])].flatMap { $0 }),
    ]

    @Test(arguments: broken)
    func brokenStreamsAreRejected(name: String, stream: [UInt8]) {
        guard case .broken = Self.check(stream) else {
            Issue.record("\(name) was not rejected")
            return
        }
    }

    @Test func paramsOverTheLimitAreRejectedBeforeTheyEnd() {
        let chunk = Self.record(4, [UInt8](repeating: 1, count: 65_535))
        var stream = Self.begin
        for _ in 0..<(FastCGIRecordGuard.maximumBytes / 65_535 + 1) { stream += chunk }
        guard case .broken = Self.check(stream) else {
            Issue.record("over-limit PARAMS accepted")
            return
        }
    }

    @Test func inspectReadsFromASocketWithoutConsumingTheRequest() throws {
        var descriptors: [Int32] = [0, 0]
        var scratch: [UInt8] = []
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0)
        defer { close(descriptors[0]); close(descriptors[1]) }
        let stream = Self.begin + Self.record(4, Self.root) + Self.record(4, [])
        #expect(stream.withUnsafeBytes { write(descriptors[1], $0.baseAddress, $0.count) } == stream.count)
        #expect(FastCGIRecordGuard.inspect(descriptors[0], scratch: &scratch, isStopping: { false }) == .valid)
        var buffer = [UInt8](repeating: 0, count: stream.count + 10)
        #expect(buffer.withUnsafeMutableBytes { read(descriptors[0], $0.baseAddress, $0.count) } == stream.count)

        let hostile = Self.begin + Self.record(4, [0xFF, 0xFF, 0xFF, 0xFF, 1, 65]) + Self.record(4, [])
        #expect(hostile.withUnsafeBytes { write(descriptors[1], $0.baseAddress, $0.count) } == hostile.count)
        guard case .invalid = FastCGIRecordGuard.inspect(descriptors[0], scratch: &scratch, isStopping: { false }) else {
            Issue.record("hostile stream passed")
            return
        }
    }

    @Test func inspectReportsAClosedPeerAndAStop() {
        var descriptors: [Int32] = [0, 0]
        var scratch: [UInt8] = []
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0)
        defer { close(descriptors[0]) }
        #expect(FastCGIRecordGuard.inspect(descriptors[0], scratch: &scratch, isStopping: { true }) == .stopping)
        close(descriptors[1])
        #expect(FastCGIRecordGuard.inspect(descriptors[0], scratch: &scratch, isStopping: { false }) == .closed)
    }

    @Test func anIncompleteStartFromAPeerThatStoppedSendingIsRefusedAtOnce() {
        var descriptors: [Int32] = [0, 0]
        var scratch: [UInt8] = []
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &descriptors) == 0)
        defer { close(descriptors[0]); close(descriptors[1]) }
        let partial = Self.begin + Self.record(4, Self.root)  // no closing empty PARAMS record
        #expect(partial.withUnsafeBytes { write(descriptors[1], $0.baseAddress, $0.count) } == partial.count)
        shutdown(descriptors[1], Int32(SHUT_WR))
        let started = ContinuousClock.now
        guard case .invalid = FastCGIRecordGuard.inspect(descriptors[0], scratch: &scratch, isStopping: { false }) else {
            Issue.record("a half-closed incomplete start passed")
            return
        }
        #expect(ContinuousClock.now - started < .seconds(1))
    }
}
