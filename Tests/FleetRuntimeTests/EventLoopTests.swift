import FleetRuntime
import Glibc
import Synchronization
import Testing

@Suite("Event loop: timers, hooks, mailbox, signals, shutdown")
struct EventLoopTests {
    @Test("one-shot fires once, repeating fires until stopped, a stopped timer never fires")
    func timers() throws {
        let loop = try EventLoop()
        final class Counts { var once = 0; var repeating = 0; var stopped = 0 }
        let counts = Counts()
        let once = LoopTimer(loop: loop)
        let repeating = LoopTimer(loop: loop)
        let stopped = LoopTimer(loop: loop)
        once.start(afterMilliseconds: 1) { counts.once += 1 }
        repeating.start(afterMilliseconds: 1, repeatEveryMilliseconds: 1) {
            counts.repeating += 1
            if counts.repeating == 5 { repeating.stop() }
        }
        stopped.start(afterMilliseconds: 1) { counts.stopped += 1 }
        stopped.stop()
        // run() returns once no timer is active any more.
        loop.run()
        #expect(counts.once == 1)
        #expect(counts.repeating == 5)
        #expect(counts.stopped == 0)
        #expect(loop.now > 0)
        once.close()
        repeating.close()
        stopped.close()
        #expect(loop.aliveHandleCount == 0)
        #expect(loop.shutdown() == 0)
    }

    @Test("before-sleep hooks run in order every iteration; a stream written in a hook is flushed in that iteration")
    func beforeSleepHooks() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (client, _) = try connectClient(loop, to: server, accepted: accepted)
        final class Log { var entries: [String] = []; var wrote = false }
        let log = Log()
        loop.addBeforeSleepHook { log.entries.append("first") }
        loop.addBeforeSleepHook {
            log.entries.append("second")
            if !log.wrote {
                log.wrote = true
                client.write(Array("hello".utf8))
            }
        }
        let tryWrites = loop.statistics.tryWrites
        turn(loop)
        #expect(log.entries == ["first", "second"])
        #expect(client.pendingWriteBytes == 0)                       // flushed in the same iteration
        #expect(loop.statistics.tryWrites == tryWrites + 1)
        turn(loop)
        #expect(log.entries == ["first", "second", "first", "second"])
        #expect(spin(loop) { accepted.recorders[0].received == Array("hello".utf8) })
        client.close()
        server.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 })
        #expect(loop.shutdown() == 0)
    }

    @Test("a write made before run() keeps the loop alive until it is flushed")
    func writeBeforeRun() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (client, _) = try connectClient(loop, to: server, accepted: accepted, read: false)
        server.close()
        accepted.streams[0].stopReading()
        client.write(pattern(100))
        // Nothing else is active (no reads, no listener): run() must still flush, then return.
        loop.run()
        #expect(client.pendingWriteBytes == 0)
        client.close()
        accepted.streams[0].close()
        turn(loop, 2)
        #expect(loop.aliveHandleCount == 0)
        #expect(loop.shutdown() == 0)
    }

    @Test("mailbox: closures posted from another thread run on the loop thread, in order")
    func mailbox() throws {
        let loop = try EventLoop()
        let mailbox = try LoopMailbox(loop: loop)
        let loopThread = pthread_self()
        final class Seen: Sendable {
            let order = Mutex<[Int]>([])
            let offThread = Mutex(0)
        }
        let seen = Seen()
        let count = 100
        final class Done: Sendable { let flag = Atomic<Bool>(false) }
        let done = Done()
        let thread = spawnThread {
            for i in 0..<count {
                mailbox.post {
                    if pthread_equal(pthread_self(), loopThread) == 0 { seen.offThread.withLock { $0 += 1 } }
                    seen.order.withLock { $0.append(i) }
                }
            }
            done.flag.store(true, ordering: .releasing)
        }
        #expect(spin(loop) { seen.order.withLock { $0.count } == count })
        pthread_join(thread, nil)
        let finished = done.flag.load(ordering: .acquiring)
        #expect(finished)
        #expect(seen.order.withLock { $0 } == Array(0..<count))
        #expect(seen.offThread.withLock { $0 } == 0)
        mailbox.close()
        mailbox.post { seen.order.withLock { $0.append(-1) } }     // dropped after close
        turn(loop, 2)
        #expect(seen.order.withLock { $0.count } == count)
        #expect(loop.shutdown() == 0)
    }

    @Test("signal watcher sees raise(SIGUSR1)")
    func signalWatcher() throws {
        let loop = try EventLoop()
        final class Count { var value = 0 }
        let count = Count()
        let watcher = try SignalWatcher(loop: loop, signal: SIGUSR1) { count.value += 1 }
        // Swift Testing's worker threads block signals, and raise() targets this thread: unblock
        // SIGUSR1 here for the raise (libuv's handler runs at once), then restore the mask.
        var unblock = sigset_t()
        var saved = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGUSR1)
        pthread_sigmask(SIG_UNBLOCK, &unblock, &saved)
        raise(SIGUSR1)
        pthread_sigmask(SIG_SETMASK, &saved, nil)
        #expect(spin(loop) { count.value == 1 })
        watcher.close()
        #expect(loop.aliveHandleCount == 0)
        #expect(loop.shutdown() == 0)
    }

    @Test("shutdown closes what is still open, reports how many, and delivers streamClosed")
    func shutdownCountsLeaks() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (_, clientRecorder) = try connectClient(loop, to: server, accepted: accepted)
        let timer = LoopTimer(loop: loop)
        timer.start(afterMilliseconds: 60_000) {}
        let unusedTimer = LoopTimer(loop: loop)            // never started: no handle
        _ = unusedTimer
        #expect(loop.aliveHandleCount == 4)                // server, two streams, timer
        #expect(loop.shutdown() == 4)
        #expect(clientRecorder.closedCount == 1)
        #expect(accepted.recorders[0].closedCount == 1)
        #expect(loop.shutdown() == 0)                      // idempotent
        #expect(loop.aliveHandleCount == 0)
    }
}

/// Starts a pthread running `body` (no Foundation). Join it with pthread_join.
func spawnThread(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&thread, nil, { arg in
        let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return thread
}
