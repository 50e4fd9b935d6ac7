import Glibc

/// The process's standard output and error, written with `write(2)`: the `stdout`/`stderr`
/// globals do not compile under strict concurrency, and `FileHandle` is Foundation. One call
/// per line, so lines from several threads do not interleave.
public enum StandardStream: Sendable {
    case output, error

    /// Writes `bytes` as they are.
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { writeAll($0) }
    }

    /// Writes `text` as UTF-8.
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { writeAll(UnsafeRawBufferPointer($0)) }
    }

    /// Writes `text` and a line break.
    public func writeLine(_ text: String) {
        write(text + "\n")
    }

    /// Writes all of `buffer`, retrying after interruptions and short writes; gives up silently
    /// when the stream is closed (there is nowhere left to report that).
    private func writeAll(_ buffer: UnsafeRawBufferPointer) {
        let descriptor = self == .output ? STDOUT_FILENO : STDERR_FILENO
        guard let base = buffer.baseAddress else { return }  // nothing to write
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(descriptor, base + offset, buffer.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}
