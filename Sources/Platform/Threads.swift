import Glibc

/// The processors this process may run on now (at least 1).
public var onlineProcessorCount: Int {
    max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

/// A mutex with a condition variable (POSIX threads), used where Foundation's `NSCondition`
/// would be: the package imports only FoundationEssentials, so the statically linked binary
/// carries neither Foundation's Objective-C layer nor ICU (docs/design.md, "Memory").
///
/// Timed waits use the monotonic clock, so a change of the wall clock neither shortens nor
/// stretches them.
public final class Condition: @unchecked Sendable {
    // @unchecked: the pthread objects are used only through pthread calls, which are
    // thread-safe; the pointers themselves never change after `init`.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    private let condition: UnsafeMutablePointer<pthread_cond_t> = .allocate(capacity: 1)

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() {
        pthread_mutex_lock(mutex)
    }

    public func unlock() {
        pthread_mutex_unlock(mutex)
    }

    /// Waits for a signal; call with the lock held.
    public func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Waits for a signal until `deadline`; false when the deadline passed. Call with the lock held.
    public func wait(until deadline: Deadline) -> Bool {
        var time = deadline.time
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    public func signal() {
        pthread_cond_signal(condition)
    }

    public func broadcast() {
        pthread_cond_broadcast(condition)
    }

    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// A point on the monotonic clock (`CLOCK_MONOTONIC`), for `Condition.wait(until:)`.
public struct Deadline: Sendable {
    fileprivate let time: timespec

    /// `duration` from now.
    public static func after(_ duration: Duration) -> Deadline {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanoseconds = Int64(now.tv_nsec) + max(0, duration.nanoseconds) % 1_000_000_000
        let seconds = Int64(now.tv_sec) + max(0, duration.nanoseconds) / 1_000_000_000 + nanoseconds / 1_000_000_000
        return Deadline(time: timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds % 1_000_000_000)))
    }
}

/// Starts a detached POSIX thread named `name` (at most 15 bytes are kept) running `body`.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        let name: String
        init(body: @escaping @Sendable () -> Void, name: String) {
            self.body = body
            self.name = name
        }
    }
    let box = Unmanaged.passRetained(Box(body: body, name: name)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    var thread = pthread_t()
    let created = pthread_create(
        &thread, &attributes,
        { argument in
            // pthread_create passes back the pointer it was given: `box`, never nil.
            guard let argument else { return nil }
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
            nameCurrentThread(box.name)
            box.body()
            return nil
        }, box)
    precondition(created == 0, "pthread_create failed: \(created)")
}

/// Names the calling thread for top, perf and gdb (pthread_setname_np needs _GNU_SOURCE, which
/// Glibc's module does not define; /proc/thread-self/comm is what it writes).
private func nameCurrentThread(_ name: String) {
    let descriptor = open("/proc/thread-self/comm", O_WRONLY)
    guard descriptor >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    close(descriptor)
}

/// Sleeps the calling thread.
public func sleepThread(_ duration: Duration) {
    let nanoseconds = max(0, duration.nanoseconds)
    var remaining = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
    while true {
        var requested = remaining
        guard nanosleep(&requested, &remaining) == -1, errno == EINTR else { return }
    }
}

/// One `Value` per thread, made on the thread's first read (pthread thread-specific data): for
/// small caches in front of shared state, so that the hot path's repeated reads take no lock
/// and write no cache line another thread reads.
///
/// A thread's value is released when the thread ends. The owner must outlive the threads that
/// read it, or at least their last read (the values of threads still running when it is
/// deinitialized are released with those threads).
public final class ThreadLocal<Value: AnyObject>: @unchecked Sendable {
    // @unchecked: `key` is written once in `init`; values are reached only by their own thread.
    private var key = pthread_key_t()
    private let make: @Sendable () -> Value

    public init(_ make: @escaping @Sendable () -> Value) {
        self.make = make
        let created = pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<AnyObject>.fromOpaque(pointer).release() }
        }
        precondition(created == 0, "pthread_key_create failed (too many thread-local values)")
    }

    deinit {
        pthread_key_delete(key)
    }

    /// This thread's value.
    @inline(__always)
    public var value: Value {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<Value>.fromOpaque(pointer).takeUnretainedValue()
        }
        let fresh = make()
        pthread_setspecific(key, Unmanaged.passRetained(fresh as AnyObject).toOpaque())
        return fresh
    }
}
