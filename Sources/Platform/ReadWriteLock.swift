import Glibc

/// A readers–writer lock (`pthread_rwlock_t`) guarding a value: many threads read at once, a
/// writer has it alone. For state read on every request and written rarely (the revocation
/// list), where a mutex would serialize the readers.
///
/// Writers are preferred (`PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP`): with glibc's default
/// (readers first) a steady stream of overlapping readers on 64 worker threads could hold a
/// writer back indefinitely. As a consequence a thread must not take the read lock twice.
///
/// `withReadLock`/`withWriteLock` are `@inlinable` so a caller's closure is specialized in the
/// caller's module: an unspecialized generic call across modules costs more than the lookup it
/// guards (docs/design.md's engineering notes).
public final class ReadWriteLock<Value>: @unchecked Sendable {
    // @unchecked: `value` is read only under the read lock and written only under the write
    // lock; the lock pointer never changes after `init`.
    @usableFromInline let lock: UnsafeMutablePointer<pthread_rwlock_t> = .allocate(capacity: 1)
    @usableFromInline var value: Value

    public init(_ value: Value) {
        self.value = value
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` with shared access to the value.
    @inlinable
    public func withReadLock<Result>(_ body: (borrowing Value) throws -> Result) rethrows -> Result {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    /// Runs `body` with exclusive access to the value.
    @inlinable
    public func withWriteLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
