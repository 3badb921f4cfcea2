import FleetRuntime
import Glibc
import Synchronization
import Testing

/// A thread that takes every descriptor the process can get and keeps grabbing any that is freed,
/// like the coordinator's HTTP threads under an attack, until `stop()` or its own deadline.
final class DescriptorHog: @unchecked Sendable {
    private let stopped = Atomic<Bool>(false)
    private let fullFlag = Atomic<Bool>(false)
    /// Whether an open() failed: the table is full.
    var isFull: Bool { fullFlag.load(ordering: .relaxed) }
    private var held: [Int32] = []          // touched only by the hog thread, then after join
    private let deadlineNs: UInt64
    private var thread = pthread_t()

    init(maxSeconds: UInt64) {
        deadlineNs = DescriptorHog.nowNs() + maxSeconds * 1_000_000_000
    }

    static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, nil, { arg in
            let hog = Unmanaged<DescriptorHog>.fromOpaque(arg!).takeRetainedValue()
            hog.run()
            return nil
        }, box)
    }

    private func run() {
        // Bounded in time: even if the loop under test never returns to stop us, the
        // descriptors come back after `maxSeconds`.
        while !stopped.load(ordering: .relaxed) && DescriptorHog.nowNs() < deadlineNs {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd >= 0 { held.append(fd) } else { fullFlag.store(true, ordering: .relaxed) }
        }
        for fd in held { close(fd) }
        held = []
    }

    /// Stops grabbing, gives every descriptor back and waits for the thread.
    func stop() {
        stopped.store(true, ordering: .relaxed)
        pthread_join(thread, nil)
    }
}

/// Exhausts the test process's descriptor table, so it cannot share the process with other
/// tests: it runs only when asked, alone:
///   FLEETGATE_FD_EXHAUSTION_TESTS=1 swift test --filter DescriptorExhaustionTests
@Suite("TCPServer out of descriptors", .serialized,
       .enabled(if: getenv("FLEETGATE_FD_EXHAUSTION_TESTS") != nil, "exhausts the process's descriptors"))
struct DescriptorExhaustionTests {
    @Test("EMFILE while another thread takes every freed descriptor: the loop keeps running timers, and accepts again afterwards")
    func emfileWithAThreadTakingDescriptors() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false, read: false)
        final class Reports { var count = 0 }
        let reports = Reports()
        server.onAcceptError = { _ in reports.count += 1 }
        // Client sockets are made before the table is full (connect needs no new descriptor).
        let clientCount = 60
        var clients: [Int32] = []
        for _ in 0..<clientCount {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            #expect(fd >= 0)
            clients.append(fd)
        }
        let hog = DescriptorHog(maxSeconds: 4)
        hog.start()
        var waited = 0
        while !hog.isFull && waited < 2_000 { usleep(1_000); waited += 1 }
        let filled = hog.isFull
        #expect(filled, "the hog never filled the descriptor table")

        final class Counts { var ticks = 0; var connected = 0 }
        let counts = Counts()
        let ticker = LoopTimer(loop: loop)
        ticker.start(afterMilliseconds: 10, repeatEveryMilliseconds: 10) { counts.ticks += 1 }
        // One client every 20 ms: each arrival makes the listener readable while accept() fails.
        let arrivals = LoopTimer(loop: loop)
        arrivals.start(afterMilliseconds: 20, repeatEveryMilliseconds: 20) {
            guard counts.connected < clientCount else { return }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = server.localPort.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(clients[counts.connected], $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            counts.connected += 1
        }
        let phaseEnd = LoopTimer(loop: loop)
        phaseEnd.start(afterMilliseconds: 1_500) { loop.stop() }
        let started = DescriptorHog.nowNs()
        loop.run()
        let phaseMs = (DescriptorHog.nowNs() - started) / 1_000_000
        hog.stop()
        // 1.5 s of 10 ms ticks is ~150; a loop stuck in its accept path gets almost none.
        #expect(counts.ticks >= 75, "timers ran \(counts.ticks) times in \(phaseMs) ms while out of descriptors")
        #expect(phaseMs < 2_500, "the loop was stuck for \(phaseMs) ms")
        // It backed off more than once, and said so once (rate-limited), not once per attempt.
        #expect(server.acceptPauses >= 2, "\(server.acceptPauses) pauses")
        #expect(reports.count == 1, "onAcceptError called \(reports.count) times")

        // Descriptors are back: a new client is accepted (after at most one back-off).
        let before = accepted.streams.count
        let (client, _) = try connectClient(loop, to: server, accepted: accepted)
        #expect(accepted.streams.count > before)

        ticker.close()
        arrivals.close()
        phaseEnd.close()
        client.closeNow()
        for s in accepted.streams { s.closeNow() }
        for fd in clients { close(fd) }
        server.close()
        _ = loop.runOnce(nowait: true)
        #expect(loop.aliveHandleCount == 0)
        #expect(loop.shutdown() == 0)
    }
}
