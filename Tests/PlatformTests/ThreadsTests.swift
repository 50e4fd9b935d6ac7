import Platform
import Synchronization
import Testing

@Suite("Threads")
struct ThreadsTests {
    @Test("a timed wait without a signal ends at its deadline, not before")
    func timedWait() {
        let condition = Condition()
        let started = ContinuousClock.now
        let signalled = condition.withLock { condition.wait(until: .after(.milliseconds(50))) }
        let waited = ContinuousClock.now - started
        #expect(!signalled)
        #expect(waited >= .milliseconds(45) && waited < .seconds(2))
    }

    @Test("a thread started with startThread runs, and its signal ends the wait early")
    func signalFromThread() {
        let condition = Condition()
        let done = Mutex(false)
        startThread(name: "test-thread") {
            condition.withLock {
                done.withLock { $0 = true }
                condition.broadcast()
            }
        }
        let finished = condition.withLock { () -> Bool in
            let deadline = Deadline.after(.seconds(10))
            while !done.withLock({ $0 }) {
                if !condition.wait(until: deadline) { return false }
            }
            return true
        }
        #expect(finished)
    }

    @Test("sleepThread sleeps at least the duration")
    func sleeps() {
        let started = ContinuousClock.now
        sleepThread(.milliseconds(20))
        #expect(ContinuousClock.now - started >= .milliseconds(19))
    }
}
