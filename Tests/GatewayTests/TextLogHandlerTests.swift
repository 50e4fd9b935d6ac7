import Foundation
import Logging
import Testing

@testable import Gateway

/// `TextLogHandler` also writes to descriptor 2, so its tests join the serialized
/// `JSONLogHandler` suite (one stderr redirection at a time).
extension JSONLogHandlerTests {
    static func textLogger(level: Logger.Level = .info) -> Logger {
        var logger = Logger(label: "keycloak-fcgi.test") { label in TextLogHandler(label: label) }
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
        #expect(line.wholeMatch(of: #/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info keycloak-fcgi\.test: request marker-[0-9A-F-]+ auth\.sub=abc http\.status=200 request\.id=r-9/#) != nil, "\(line)")
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
