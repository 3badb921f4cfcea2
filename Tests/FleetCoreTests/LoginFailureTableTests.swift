import Testing
@testable import FleetCore

/// The per-address login failure delay, driven by a mock clock (plain `now` values).
struct LoginFailureTableTests {
    static func policy(capacity: Int = 100) -> LoginFailureTable.Policy {
        var p = LoginFailureTable.Policy()
        p.freeFailures = 2
        p.baseDelayMs = 100
        p.maxDelayMs = 3_000
        p.decayMs = 60_000
        p.capacity = capacity
        return p
    }

    @Test func delayGrowsExponentiallyAfterTheFreeFailuresAndIsCapped() {
        var t = LoginFailureTable(policy: Self.policy())
        var delays: [UInt64] = []
        for i in 0..<10 {
            delays.append(t.delay(for: "10.0.0.1", now: 1_000))
            t.recordFailure("10.0.0.1", now: 1_000 + UInt64(i))
        }
        #expect(delays == [0, 0, 100, 200, 400, 800, 1_600, 3_000, 3_000, 3_000])
    }

    @Test func anotherAddressIsNeverDelayed() {
        var t = LoginFailureTable(policy: Self.policy())
        for _ in 0..<50 { t.recordFailure("10.0.0.1", now: 5) }
        #expect(t.delay(for: "10.0.0.1", now: 5) == 3_000)
        #expect(t.delay(for: "10.0.0.2", now: 5) == 0)
        #expect(t.delay(for: "::1", now: 5) == 0)
    }

    @Test func neverALockoutEvenAfterThousandsOfFailures() {
        var t = LoginFailureTable(policy: Self.policy())
        for i in 0..<5_000 { t.recordFailure("a", now: UInt64(i)) }
        #expect(t.delay(for: "a", now: 5_000) == 3_000)
    }

    @Test func quietPeriodsHalveTheCountUntilForgotten() {
        var t = LoginFailureTable(policy: Self.policy())
        for _ in 0..<8 { t.recordFailure("a", now: 0) }
        #expect(t.failures(of: "a", now: 59_999) == 8)
        #expect(t.failures(of: "a", now: 60_000) == 4)
        #expect(t.failures(of: "a", now: 120_000) == 2)
        #expect(t.delay(for: "a", now: 120_000) == 100)
        #expect(t.delay(for: "a", now: 180_000) == 0)
        #expect(t.failures(of: "a", now: 240_000) == 0)
        // a new failure after decay counts from the decayed value
        t.recordFailure("a", now: 120_000)
        #expect(t.failures(of: "a", now: 120_000) == 3)
    }

    @Test func successDoesNotClearARecentCountButClearsADecayedOne() {
        var t = LoginFailureTable(policy: Self.policy())
        for _ in 0..<5 { t.recordFailure("a", now: 0) }
        t.recordSuccess("a", now: 10)
        #expect(t.failures(of: "a", now: 10) == 5)
        t.recordSuccess("a", now: 600_000)
        #expect(t.count == 0)
    }

    @Test func tableIsBoundedAndEvictsTheStalest() {
        var t = LoginFailureTable(policy: Self.policy(capacity: 3))
        t.recordFailure("a", now: 1)
        t.recordFailure("b", now: 2)
        t.recordFailure("c", now: 3)
        t.recordFailure("d", now: 4)
        #expect(t.count == 3)
        #expect(t.failures(of: "a", now: 4) == 0)
        #expect(t.failures(of: "d", now: 4) == 1)
        // forgotten entries are dropped first, all of them
        t.recordFailure("e", now: 1_000_000)
        #expect(t.count == 1)
    }

    @Test(arguments: [("127.0.0.1:5555", "127.0.0.1"), ("[::1]:80", "::1"), ("[fe80::1%eth0]:1", "fe80::1%eth0"),
                      ("?", "?"), ("10.1.2.3", "10.1.2.3")])
    func hostOfAPeerNameDropsThePort(peer: String, host: String) {
        #expect(LoginFailureTable.host(of: peer) == host)
    }
}

/// The bounded queue of password verifications in front of the worker threads.
struct VerificationQueueTests {
    @Test func runsAtMostBoundsRunningAndRefusesPastTheQueue() {
        var q = VerificationQueue<Int>(bounds: .init(running: 2, queued: 3, perAddress: 100))
        for i in 0..<5 {
            let r1 = q.admit(address: "h\(i)")
            #expect(r1)
            q.enqueue(i, address: "h\(i)")
        }
        let r2 = q.admit(address: "late")
        #expect(!r2, "2 running + 3 queued is the bound")
        let r3 = q.next()?.job
        #expect(r3 == 0)
        let r4 = q.next()?.job
        #expect(r4 == 1)
        let none = q.next()
        #expect(none == nil, "both workers busy")
        let r5 = q.admit(address: "late")
        #expect(!r5)
        q.finish(address: "h0", wasRunning: true)
        let r6 = q.next()?.job
        #expect(r6 == 2)
        #expect(q.running == 2 && q.queued == 2)
        q.finish(address: "h1", wasRunning: true)
        let r7 = q.admit(address: "late")
        #expect(r7, "a finished job makes room")
    }

    @Test func oneAddressGetsOnlyItsShare() {
        var q = VerificationQueue<Int>(bounds: .init(running: 2, queued: 64, perAddress: 3))
        for _ in 0..<3 { let r8 = q.admit(address: "attacker"); #expect(r8) }
        let r9 = q.admit(address: "attacker")
        #expect(!r9)
        let r10 = q.admit(address: "device")
        #expect(r10)
        q.finish(address: "attacker", wasRunning: false)
        let r11 = q.admit(address: "attacker")
        #expect(r11)
    }

    @Test func delayedJobsHoldAPlaceButNoWorker() {
        var q = VerificationQueue<String>(bounds: .init(running: 1, queued: 2, perAddress: 10))
        let delayed = q.admit(address: "a")  // delayed: admitted, not enqueued yet
        #expect(delayed)
        let r12 = q.admit(address: "b")
        #expect(r12)
        q.enqueue("b", address: "b")
        let r13 = q.next()?.job
        #expect(r13 == "b", "a delayed job does not block a ready one")
        let r14 = q.admit(address: "c")
        #expect(r14)
        let r15 = q.admit(address: "d")
        #expect(!r15)
        q.finish(address: "a", wasRunning: false)  // its connection closed during the delay
        let r16 = q.admit(address: "d")
        #expect(r16)
        #expect(q.addressCount == 3)
    }

    @Test func fifoOrderAcrossManyCycles() {
        var q = VerificationQueue<Int>(bounds: .init(running: 1, queued: 8, perAddress: 8))
        var started: [Int] = []
        var n = 0
        for _ in 0..<50 {
            while q.admit(address: "x") { q.enqueue(n, address: "x"); n += 1 }
            if let (a, job) = q.next() { started.append(job); q.finish(address: a, wasRunning: true) }
        }
        #expect(started == Array(0..<started.count))
        #expect(q.running == 0)
    }

    @Test func addressesTakeTurnsSoADeviceDoesNotWaitBehindAnAttacker() {
        var q = VerificationQueue<String>(bounds: .init(running: 1, queued: 16, perAddress: 8))
        for i in 0..<6 {
            let ok = q.admit(address: "attacker")
            #expect(ok)
            q.enqueue("a\(i)", address: "attacker")
        }
        let ok = q.admit(address: "device")
        #expect(ok)
        q.enqueue("d", address: "device")
        var order: [String] = []
        while let (address, job) = q.next() {
            order.append(job)
            q.finish(address: address, wasRunning: true)
        }
        #expect(order == ["a0", "d", "a1", "a2", "a3", "a4", "a5"])
        #expect(q.queued == 0 && q.running == 0 && q.addressCount == 0)
    }
}
