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

    /// Writes `text` as UTF-8 (into the thread's batch, for standard error on a thread that
    /// batches).
    public func write(_ text: String) {
        var text = text
        if self == .error, let batch = Self.batches.value.active {
            batch.append(contentsOf: text.utf8)
            if batch.count >= Self.batchLimit { Self.flushBatch() }
            return
        }
        text.withUTF8 { writeAll(UnsafeRawBufferPointer($0)) }
    }

    // MARK: - Batches

    /// A thread's held-back lines; `active` nil: the thread writes each line at once.
    public final class LineBatch {
        var active: LineBuffer?
    }

    /// The bytes of a batch (a class, so appending does not copy through the optional).
    final class LineBuffer {
        var bytes: [UInt8] = []
        var count: Int { bytes.count }
        func append(contentsOf text: String.UTF8View) { bytes.append(contentsOf: text) }
    }

    /// A batch is written once it holds this many bytes (about 20 request lines).
    static let batchLimit = 4096
    private static let batches = ThreadLocal { LineBatch() }

    /// From now on this thread's lines to standard error are held back and written several at
    /// once, by `flushBatch` or when they pass 4 KiB: the FastCGI workers, whose one `write(2)`
    /// per request line was 5 % of the responder's CPU under load. Each batch is one write of
    /// whole lines, so lines of different threads still never interleave. A worker flushes
    /// before it waits for work, so a line waits only while its thread is busy with the next
    /// request; lines held back when the process crashes are lost.
    public static func beginBatching() {
        let batch = batches.value
        if batch.active == nil {
            let buffer = LineBuffer()
            buffer.bytes.reserveCapacity(batchLimit + 512)
            batch.active = buffer
        }
    }

    /// Writes this thread's held-back lines, if any.
    public static func flushBatch() {
        guard let buffer = batches.value.active, !buffer.bytes.isEmpty else { return }
        buffer.bytes.withUnsafeBytes { StandardStream.error.writeAll($0) }
        buffer.bytes.removeAll(keepingCapacity: true)
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
