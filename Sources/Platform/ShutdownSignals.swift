import Glibc

/// SIGTERM/SIGINT handling for a libfcgi process.
///
/// `FCGX_Init` installs a SIGTERM handler that only sets a flag, so a plain `kill` would not
/// stop the process. Instead the signals are blocked in every thread (block before any thread
/// starts; threads inherit the mask) and the main thread takes them with `sigwait`.
public enum ShutdownSignals {
    private static var set: sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }

    /// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later.
    public static func block() {
        var mask = set
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }

    /// Waits for SIGTERM or SIGINT and returns its name.
    public static func wait() -> String {
        var mask = set
        var signal: Int32 = 0
        while sigwait(&mask, &signal) != 0 {}
        return signal == SIGTERM ? "SIGTERM" : "SIGINT"
    }
}
