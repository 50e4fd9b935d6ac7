import Foundation
import Platform
import Testing

@Suite("Files")
struct FilesTests {
    @Test("readText reads files and /dev/null; refuses missing files, directories and files over the limit")
    func readText() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kfc-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = directory.appendingPathComponent("secret").path
        try Data("s3cret\n".utf8).write(to: URL(fileURLWithPath: secret))
        #expect(Files.readText(secret) == "s3cret\n")
        #expect(Files.readText("/dev/null") == "")
        #expect(Files.readText(directory.appendingPathComponent("missing").path) == nil)
        #expect(Files.readText(directory.path) == nil)  // a directory

        let large = directory.appendingPathComponent("large").path
        try Data(repeating: UInt8(ascii: "x"), count: (1 << 20) + 1).write(to: URL(fileURLWithPath: large))
        #expect(Files.readText(large) == nil)
        let limit = directory.appendingPathComponent("limit").path
        try Data(repeating: UInt8(ascii: "x"), count: 1 << 20).write(to: URL(fileURLWithPath: limit))
        #expect(Files.readText(limit)?.utf8.count == 1 << 20)
        #expect(Files.readText(limit, limit: 10) == nil)
    }
}
