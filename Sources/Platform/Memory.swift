import Glibc

/// The C library's allocator.
public enum Memory {
    /// `mallopt(M_ARENA_MAX, count)`: at most `count` malloc arenas. glibc gives each of up to
    /// 8 × cores threads its own arena, and each arena keeps its own free memory
    /// (docs/design.md, "Memory"). <malloc.h> is not in Glibc's module map, so the function is
    /// looked up by name (M_ARENA_MAX is -8 in glibc's malloc.h).
    public static func limitArenas(to count: Int) {
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(-8, Int32(clamping: count))
    }
}
