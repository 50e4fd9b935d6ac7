import Foundation
import Testing

@testable import FCGIApp

/// The README's configuration table is generated from `AppConfiguration.keys`, the one table
/// of keys: this test fails when they disagree. `KEYCLOAK_FCGI_UPDATE_README=1 swift test
/// --filter ConfigurationTable` (or `make readme`) writes the generated table into the README.
@Suite("ConfigurationTable")
struct ConfigurationTableTests {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../README.md").standardized
    static let start = "<!-- configuration-table: generated from AppConfiguration.keys -->"
    static let end = "<!-- configuration-table: end -->"

    @Test("the README's configuration table is the one the code generates")
    func readmeTable() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        let startRange = try #require(text.range(of: Self.start), "README has no \(Self.start) marker")
        let endRange = try #require(text.range(of: Self.end), "README has no \(Self.end) marker")
        let current = text[startRange.upperBound..<endRange.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
        let generated = AppConfiguration.markdownTable
        if current != generated, ProcessInfo.processInfo.environment["KEYCLOAK_FCGI_UPDATE_README"] == "1" {
            let updated = text[..<startRange.upperBound] + "\n" + generated + "\n" + text[endRange.lowerBound...]
            try String(updated).write(to: Self.readme, atomically: true, encoding: .utf8)
            return
        }
        #expect(current == generated, "README.md's configuration table differs from AppConfiguration.keys; run `make readme`")
    }

    @Test("every key has a meaning and a default, and is shown by --check-config unless another key's line shows it")
    func everyKeyDocumented() throws {
        let configuration = try AppConfiguration.load(environment: [
            "KEYCLOAK_SERVER_URL": "http://localhost:8080", "KEYCLOAK_REALM": "testing", "KEYCLOAK_CLIENT_ID": "c",
            "KEYCLOAK_CLIENT_SECRET": "s3cret-value",
        ])
        let shownElsewhere: Set = ["KEYCLOAK_SERVER_URL", "KEYCLOAK_REALM", "KEYCLOAK_CLIENT_SECRET_FILE"]
        for key in AppConfiguration.keys {
            #expect(!key.meaning.isEmpty && !key.defaultText.isEmpty, "\(key.name)")
            #expect((key.show(configuration) == nil) == shownElsewhere.contains(key.name), "\(key.name)")
        }
        #expect(!configuration.summary.joined().contains("s3cret-value"))
    }
}
