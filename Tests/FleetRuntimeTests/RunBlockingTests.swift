import FleetRuntime
import Glibc
import Testing

@Suite("EventLoop.runBlocking")
struct RunBlockingTests {
    @Test("work runs on a pool thread, the completion on the loop thread")
    func completionOnLoopThread() throws {
        let loop = try EventLoop()
        let loopThread = pthread_self()
        final class Result { var value: Int?; var onLoopThread = false; var workOnOtherThread = false }
        let result = Result()
        loop.runBlocking({ () -> (Int, Bool) in
            var sum = 0
            for i in 0..<100_000 { sum &+= i }
            return (sum, pthread_equal(pthread_self(), loopThread) == 0)
        }, completion: { value in
            result.value = value.0
            result.workOnOtherThread = value.1
            result.onLoopThread = pthread_equal(pthread_self(), loopThread) != 0
        })
        #expect(result.value == nil)                  // never synchronously
        #expect(spin(loop) { result.value != nil })
        #expect(result.value == (0..<100_000).reduce(0, &+))
        #expect(result.onLoopThread)
        #expect(result.workOnOtherThread)
        #expect(loop.shutdown() == 0)
    }

    @Test("shutdown lets a queued item finish, runs its completion, then closes cleanly")
    func shutdownWaitsForWork() throws {
        let loop = try EventLoop()
        final class Done { var count = 0 }
        let done = Done()
        for i in 0..<8 {
            loop.runBlocking({ i * 2 }, completion: { _ in done.count += 1 })
        }
        #expect(loop.shutdown() == 0)
        #expect(done.count == 8)
    }
}
