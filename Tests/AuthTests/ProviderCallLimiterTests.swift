import Auth
import Foundation
import Synchronization
import Testing

@Suite("ProviderCallLimiter")
struct ProviderCallLimiterTests {
    @Test("holds at most capacity slots; the next caller is refused with identityProviderBusy", arguments: [1, 3])
    func capacityUnderConcurrency(capacity: Int) throws {
        let limiter = ProviderCallLimiter(capacity: capacity)
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        let outcomes = Mutex<[String]>([])
        for _ in 0..<capacity {
            group.enter()
            Thread {
                let outcome: String
                do throws(AuthError) {
                    outcome = try limiter.withSlot("token") { () throws(AuthError) -> String in
                        entered.signal()
                        release.wait()
                        return "ran"
                    }
                } catch {
                    outcome = "\(error.code)"
                }
                outcomes.withLock { $0.append(outcome) }
                group.leave()
            }.start()
        }
        for _ in 0..<capacity {
            #expect(entered.wait(timeout: .now() + 5) == .success)
        }
        #expect(limiter.current == capacity)

        var ranExtra = false
        let error = #expect(throws: AuthError.self) {
            try limiter.withSlot("token") { () throws(AuthError) in ranExtra = true }
        }
        #expect(error?.code == .identityProviderBusy)
        #expect(error?.context.contains("token") == true)
        #expect(!ranExtra)
        #expect(limiter.current == capacity)

        for _ in 0..<capacity { release.signal() }
        #expect(group.wait(timeout: .now() + 5) == .success)
        #expect(outcomes.withLock { $0 } == Array(repeating: "ran", count: capacity))
        #expect(limiter.current == 0)
        // Free again.
        #expect(try limiter.withSlot("token") { () throws(AuthError) in 42 } == 42)
    }

    @Test("many threads racing never exceed the capacity")
    func neverExceeds() {
        let limiter = ProviderCallLimiter(capacity: 3)
        let inside = Mutex(0)
        let highest = Mutex(0)
        let busy = Mutex(0)
        let group = DispatchGroup()
        for _ in 0..<16 {
            group.enter()
            Thread {
                for _ in 0..<50 {
                    do {
                        try limiter.withSlot("x") { () throws(AuthError) in
                            let now = inside.withLock {
                                $0 += 1; return $0
                            }
                            highest.withLock { $0 = max($0, now) }
                            Thread.sleep(forTimeInterval: 0.0002)
                            inside.withLock { $0 -= 1 }
                        }
                    } catch {
                        busy.withLock { $0 += 1 }
                    }
                }
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(highest.withLock { $0 } <= 3)
        #expect(highest.withLock { $0 } >= 1)
        #expect(limiter.current == 0)
    }

    @Test("a slot is released when the body throws")
    func releasedAfterThrow() {
        let limiter = ProviderCallLimiter(capacity: 2)
        for _ in 0..<5 {
            #expect(throws: AuthError(.identityProviderUnavailable, "token: timed out")) {
                try limiter.withSlot("token") { () throws(AuthError) in
                    throw AuthError(.identityProviderUnavailable, "token: timed out")
                }
            }
            #expect(limiter.current == 0)
        }
        var ran = false
        try? limiter.withSlot("token") { () throws(AuthError) in ran = true }
        #expect(ran)
    }

    @Test("nested calls take two slots")
    func nested() throws {
        let limiter = ProviderCallLimiter(capacity: 2)
        let inner = try limiter.withSlot("outer") { () throws(AuthError) in
            try limiter.withSlot("inner") { () throws(AuthError) in limiter.current }
        }
        #expect(inner == 2)
        #expect(limiter.current == 0)
    }
}
