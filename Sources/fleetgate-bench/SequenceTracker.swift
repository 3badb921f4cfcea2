/// Counts loss, duplicates and order violations per (publisher, subscriber).
///
/// `broadcast`: every subscriber should get every message of every publisher (fan-in, fan-out,
/// latency, durability); one seen-bitset per (publisher, subscriber).
/// `unicast`: each message goes to at most one subscriber (wildcard routing); one seen-bitset per
/// publisher, and the expected subscriber is checked.
final class SequenceTracker {
    enum Mode { case broadcast, unicast }

    let mode: Mode
    let publishers: Int
    let subscribers: Int
    let capacity: Int                       // max sequence numbers per publisher
    private var seen: UnsafeMutablePointer<UInt64>
    private let wordsPerSet: Int
    private var highest: [Int64]            // per (publisher, subscriber): highest seq seen, -1 none

    private(set) var unique: Int = 0
    private(set) var duplicates: Int = 0
    private(set) var reorders: Int = 0
    private(set) var foreign: Int = 0       // not our payload, unknown publisher or out of range

    init(mode: Mode, publishers: Int, subscribers: Int, capacity: Int) {
        self.mode = mode
        self.publishers = publishers
        self.subscribers = subscribers
        self.capacity = capacity
        wordsPerSet = (capacity + 63) / 64
        let sets = mode == .broadcast ? publishers * subscribers : publishers
        seen = .allocate(capacity: max(1, sets * wordsPerSet))
        seen.initialize(repeating: 0, count: max(1, sets * wordsPerSet))
        highest = [Int64](repeating: -1, count: publishers * subscribers)
    }

    deinit { seen.deallocate() }

    /// Records one delivery; returns true if it was new.
    @inline(__always)
    func record(publisher: Int, subscriber: Int, seq: UInt64) -> Bool {
        guard publisher < publishers, seq < UInt64(capacity) else { foreign += 1; return false }
        let s = Int(seq)
        let set = mode == .broadcast ? publisher * subscribers + subscriber : publisher
        let word = seen + set * wordsPerSet + (s >> 6)
        let bit = UInt64(1) << UInt64(s & 63)
        if word.pointee & bit != 0 { duplicates += 1; return false }
        word.pointee |= bit
        unique += 1
        let pair = publisher * subscribers + subscriber
        if Int64(s) < highest[pair] { reorders += 1 } else { highest[pair] = Int64(s) }
        return true
    }

    func recordForeign() { foreign += 1 }
}
