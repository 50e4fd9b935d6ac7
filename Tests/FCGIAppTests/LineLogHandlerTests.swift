import Foundation
import Glibc
import Logging
import Testing

@testable import FCGIApp

/// `LineLogHandler` writes straight to file descriptor 2. Each test points descriptor 2 at a
/// temporary file for the duration of one log call, then puts it back; the suite is serialized
/// so the windows never overlap. Swift Testing reports on stdout, and whatever else reached
/// stderr inside the window is written back to it afterwards, so nothing is lost.
@Suite("LineLogHandler", .serialized)
struct LineLogHandlerTests {
    /// The lines written to stderr while `body` ran that contain `marker`.
    static func capturedLines(containing marker: String, _ body: () -> Void) throws -> [String] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kfc-stderr-\(UUID().uuidString)").path
        let file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(file >= 0)
        defer {
            close(file)
            unlink(path)
        }
        fflush(nil)
        let saved = dup(STDERR_FILENO)
        try #require(saved >= 0)
        try #require(dup2(file, STDERR_FILENO) >= 0)
        body()
        fflush(nil)
        dup2(saved, STDERR_FILENO)
        close(saved)

        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        let others = lines.filter { !$0.contains(marker) }
        if !others.isEmpty {
            let echoed = Array((others.joined(separator: "\n") + "\n").utf8)
            echoed.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
        return lines.filter { $0.contains(marker) }
    }

    static func logger(level: Logger.Level = .info, metadata: Logger.Metadata = [:]) -> Logger {
        var logger = Logger(label: "keycloak-fcgi.test") { label in
            var handler = LineLogHandler(label: label, format: .json)
            handler.metadata = metadata
            return handler
        }
        logger.logLevel = level
        return logger
    }

    static var timestamp: Regex<Substring> { #/"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/# }

    @Test("one line: time, level, label, message, then metadata in sorted key order")
    func line() throws {
        let marker = "marker-\(UUID().uuidString)"
        let logger = Self.logger(metadata: ["request.id": "r-1", "z.last": "handler"])
        let lines = try Self.capturedLines(containing: marker) {
            logger.info(
                "request \(marker)",
                metadata: [
                    "http.status": "200", "auth.roles": .array(["a", "b"]), "a.nested": .dictionary(["y": "2", "x": "1"]),
                    "z.last": "event wins",
                ])
        }
        let line = try #require(lines.only)
        let match = try #require(line.firstMatch(of: Self.timestamp))
        #expect(line.hasPrefix("{" + String(match.output)))
        let rest = line[match.range.upperBound...]
        #expect(
            rest
                == #","level":"info","label":"keycloak-fcgi.test","message":"request \#(marker)","a.nested":{"x":"1","y":"2"},"auth.roles":["a","b"],"http.status":"200","request.id":"r-1","z.last":"event wins"}"#
        )
        #expect(canonicalJSON(Array(line.utf8)) != nil, "the line is JSON")
    }

    @Test("quotes, backslashes, line breaks and control characters stay inside one JSON line")
    func escaping() throws {
        let marker = "marker-\(UUID().uuidString)"
        let message = "say \"hi\"\\ \r\nforged line \u{1}\t é \(marker)"
        let lines = try Self.capturedLines(containing: marker) {
            Self.logger().warning("\(message)", metadata: ["user.agent": "a\nb"])
        }
        let line = try #require(lines.only)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == message)
        #expect(object["user.agent"] as? String == "a\nb")
        #expect(object["level"] as? String == "warning")
    }

    @Test("events below the handler's level are not written")
    func level() throws {
        let marker = "marker-\(UUID().uuidString)"
        let lines = try Self.capturedLines(containing: marker) {
            let logger = Self.logger(level: .notice)
            logger.info("hidden \(marker)")
            logger.debug("hidden \(marker)")
            logger.error("shown \(marker)")
        }
        #expect(lines.count == 1)
        #expect(lines.first?.contains(#""level":"error""#) == true)
    }

    @Test("metadata set on the logger is carried into every line")
    func loggerMetadata() throws {
        let marker = "marker-\(UUID().uuidString)"
        var logger = Self.logger()
        logger[metadataKey: "request.id"] = "abc"
        let lines = try Self.capturedLines(containing: marker) {
            logger.info("one \(marker)")
            logger.info("two \(marker)")
        }
        #expect(lines.count == 2)
        for line in lines {
            #expect(line.hasSuffix(#","request.id":"abc"}"#))
        }
    }
}

extension Array {
    /// The single element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}

/// The text format.
extension LineLogHandlerTests {
    static func textLogger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "keycloak-fcgi.test") { label in LineLogHandler(label: label, format: .text) }
        logger.logLevel = level
        return logger
    }

    @Test("text: UTC timestamp, level, label, message, then sorted key=value metadata on one line")
    func textLine() throws {
        let marker = "marker-\(UUID().uuidString)"
        let logger = Self.textLogger()
        let lines = try Self.capturedLines(containing: marker) {
            logger.info("request \(marker)", metadata: ["http.status": "200", "auth.sub": "abc", "request.id": "r-9"])
        }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(
            line.wholeMatch(
                of:
                    #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info keycloak-fcgi\.test: request marker-[0-9A-F-]+ auth\.sub=abc http\.status=200 request\.id=r-9/#
            ) != nil, "\(line)")
    }

    @Test("text: below the handler's level nothing is written")
    func textLevel() throws {
        let marker = "marker-\(UUID().uuidString)"
        let logger = Self.textLogger(level: .warning)
        let lines = try Self.capturedLines(containing: marker) {
            logger.info("quiet \(marker)")
            logger.warning("loud \(marker)")
        }
        #expect(lines.count == 1)
        #expect(lines.first?.contains(" warning ") == true)
    }
}
