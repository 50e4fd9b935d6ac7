import Dispatch
import Foundation
import Platform
import Testing

@Suite("ReadWriteLock and Sockets")
struct ReadWriteLockTests {
    @Test("readers never see a half-done write")
    func consistentUnderContention() {
        // The writer keeps both halves equal; a reader seeing them differ saw a torn update.
        let lock = ReadWriteLock((0, 0))
        let torn = ReadWriteLock(0)
        DispatchQueue.concurrentPerform(iterations: 6) { worker in
            for _ in 0..<5_000 {
                if worker == 0 {
                    lock.withWriteLock { pair in
                        pair.0 += 1
                        pair.1 += 1
                    }
                } else if lock.withReadLock({ $0.0 != $0.1 }) {
                    torn.withWriteLock { $0 += 1 }
                }
            }
        }
        #expect(torn.withReadLock { $0 } == 0)
        #expect(lock.withReadLock { $0.0 } == 5_000)
    }

    @Test("waitForInput times out on a silent descriptor and wakes when input arrives")
    func waitForInput() {
        let pipe = Pipe()
        let reader = pipe.fileHandleForReading.fileDescriptor
        let started = ContinuousClock.now
        #expect(!Sockets.waitForInput(on: reader, timeout: .milliseconds(50)))
        #expect(ContinuousClock.now - started >= .milliseconds(45))
        pipe.fileHandleForWriting.write(Data("x".utf8))
        #expect(Sockets.waitForInput(on: reader, timeout: .seconds(5)))
    }

    @Test("a write to a closed pipe fails with EPIPE instead of ending the process")
    func brokenPipe() throws {
        let pipe = Pipe()
        try pipe.fileHandleForReading.close()
        let writer = pipe.fileHandleForWriting.fileDescriptor
        let (result, error) = Sockets.withoutBrokenPipeSignal { () -> (Int, Int32) in
            let result = [UInt8(1)].withUnsafeBytes { write(writer, $0.baseAddress, 1) }
            return (result, errno)
        }
        #expect(result == -1 && error == EPIPE)
        // Still alive, and SIGPIPE is not left pending for this thread.
        var pending = sigset_t()
        sigpending(&pending)
        #expect(sigismember(&pending, SIGPIPE) == 0)
    }
}
