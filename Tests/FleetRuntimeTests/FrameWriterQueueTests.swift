import Testing
import FleetRuntime

@Suite struct FrameWriterQueueTests {
    func bytes(_ tag: UInt8, _ n: Int = 10) -> [UInt8] { [UInt8](repeating: tag, count: n) }

    /// A fake socket: what was handed to it, and its unsent bytes.
    struct Socket {
        var written: [[UInt8]] = []
        var unsent = 0
        mutating func drain(_ q: inout FrameWriterQueue) {
            while let f = q.next(unsentBytes: unsent) { written.append(f); unsent += f.count }
        }
    }

    @Test func controlGoesFirstAndBulkWaitsForTheWatermark() {
        var q = FrameWriterQueue(lowWatermark: 100)
        var s = Socket()
        #expect(q.enqueue(bytes(1, 60), bulk: true) == .queued)
        #expect(q.enqueue(bytes(2, 60), bulk: true) == .queued)
        #expect(q.enqueue(bytes(3, 60), bulk: true) == .queued)
        #expect(q.enqueue(bytes(9), bulk: false) == .queued)
        s.drain(&q)
        // control first; then bulk while unsent < 100: 60 -> 120 stops after the second
        #expect(s.written.map { $0[0] } == [9, 1, 2])
        // a control frame queued now still goes out past the watermark
        #expect(q.enqueue(bytes(8), bulk: false) == .queued)
        s.drain(&q)
        #expect(s.written.map { $0[0] } == [9, 1, 2, 8])
        // the socket drains: the last bulk goes
        s.unsent = 0
        s.drain(&q)
        #expect(s.written.map { $0[0] } == [9, 1, 2, 8, 3])
    }

    @Test func controlIsCheckedBeforeEveryBulkFrame() {
        var q = FrameWriterQueue(lowWatermark: 1_000)
        _ = q.enqueue(bytes(1), bulk: true)
        _ = q.enqueue(bytes(2), bulk: true)
        #expect(q.next(unsentBytes: 0)?.first == 1)
        _ = q.enqueue(bytes(9), bulk: false)
        #expect(q.next(unsentBytes: 0)?.first == 9)
        #expect(q.next(unsentBytes: 0)?.first == 2)
        #expect(q.next(unsentBytes: 0) == nil)
    }

    @Test func bulkQueueIsBoundedAndDropsAreCounted() {
        var q = FrameWriterQueue(maxBulkFrames: 2, maxBulkBytes: 1_000)
        #expect(q.enqueue(bytes(1), bulk: true) == .queued)
        #expect(q.enqueue(bytes(2), bulk: true) == .queued)
        #expect(q.enqueue(bytes(3), bulk: true) == .bulkFull)
        #expect(q.bulkDropped == 1)
        var r = FrameWriterQueue(maxBulkFrames: 100, maxBulkBytes: 25)
        #expect(r.enqueue(bytes(1, 20), bulk: true) == .queued)
        #expect(r.enqueue(bytes(2, 20), bulk: true) == .bulkFull)
        // control is never dropped for bulk reasons
        #expect(r.enqueue(bytes(9, 20), bulk: false) == .queued)
    }

    @Test func controlPastItsBoundMeansOverloaded() {
        var q = FrameWriterQueue(maxUnsentControlBytes: 100)
        #expect(q.enqueue(bytes(1, 50), bulk: false, unsentBytes: 40) == .queued)
        #expect(q.enqueue(bytes(2, 50), bulk: false, unsentBytes: 40) == .overloaded)
    }

    @Test func discardBulkKeepsControl() {
        var q = FrameWriterQueue()
        _ = q.enqueue(bytes(1), bulk: true)
        _ = q.enqueue(bytes(9), bulk: false)
        q.discardBulk()
        #expect(q.next(unsentBytes: 0)?.first == 9)
        #expect(q.next(unsentBytes: 0) == nil)
    }

    @Test func fifoWithinEachClassOverManyFrames() {
        var q = FrameWriterQueue(lowWatermark: .max, maxBulkFrames: 10_000)
        for i in 0..<1_000 { _ = q.enqueue([UInt8(i % 256), UInt8(i / 256)], bulk: i % 3 != 0) }
        var control: [Int] = [], bulk: [Int] = []
        while let f = q.next(unsentBytes: 0) {
            let i = Int(f[0]) + Int(f[1]) * 256
            if i % 3 == 0 { control.append(i) } else { bulk.append(i) }
            // every control frame comes out before any bulk one (all were queued up front)
            if i % 3 == 0 { #expect(bulk.isEmpty) }
        }
        #expect(control == control.sorted() && bulk == bulk.sorted() && control.count + bulk.count == 1_000)
    }
}
