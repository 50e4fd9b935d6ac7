import Glibc

/// File reads without Foundation.
public enum Files {
    /// A file's text (at most `limit` bytes), or nil when it cannot be read or is larger. Works
    /// for pipes and /dev/null too, which `String(contentsOfFile:)` refuses.
    public static func readText(_ path: String, limit: Int = 1 << 20) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= limit else { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
