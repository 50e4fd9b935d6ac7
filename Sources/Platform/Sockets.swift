import Glibc

/// What a blocking socket client (hiredis) needs from the system and cannot do itself.
public enum Sockets {
    /// Waits until `descriptor` has input, was hung up or failed, for at most `timeout`; false
    /// when the time ran out. A client in blocking mode polls first so that its reader thread
    /// wakes regularly (to notice a stop request, send a keep-alive) without a read timeout,
    /// which would leave the connection in an error state.
    public static func waitForInput(on descriptor: Int32, timeout: Duration) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: max(0, timeout.milliseconds))
        while true {
            let result = poll(&entry, 1, milliseconds)
            if result < 0 && errno == EINTR { continue }
            // Readable, hung up or in error, or poll itself failed: the read that follows
            // reports which.
            return result != 0
        }
    }

    /// Runs `body` with SIGPIPE blocked in the calling thread, then discards a SIGPIPE that
    /// `body` raised. A `write(2)` to a socket whose peer is gone raises SIGPIPE, whose default
    /// action ends the process; hiredis 0.14 writes with plain `write` (no `MSG_NOSIGNAL`), so a
    /// Redis that went away between two commands could otherwise kill the responder. The write
    /// then fails with EPIPE, which the client reports as an error. (libcurl does the same
    /// where it cannot use `MSG_NOSIGNAL`.)
    public static func withoutBrokenPipeSignal<Result>(_ body: () throws -> Result) rethrows -> Result {
        var brokenPipe = sigset_t()
        sigemptyset(&brokenPipe)
        sigaddset(&brokenPipe, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &brokenPipe, &previous)
        var pending = sigset_t()
        sigpending(&pending)
        let wasPending = sigismember(&pending, SIGPIPE) == 1
        defer {
            // Only a SIGPIPE raised by `body`: one that was pending before is someone else's.
            if !wasPending {
                sigpending(&pending)
                if sigismember(&pending, SIGPIPE) == 1 {
                    var noWait = timespec(tv_sec: 0, tv_nsec: 0)
                    _ = sigtimedwait(&brokenPipe, nil, &noWait)
                }
            }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        return try body()
    }
}
