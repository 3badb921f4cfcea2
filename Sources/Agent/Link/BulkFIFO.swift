import FleetCore

/// QoS 0 forwards waiting for the socket, in sequence order (a FIFO with a moving head, so
/// popping is O(1) without a deque type). Loop-thread only.
struct BulkFIFO {
    private var items: [(seq: UInt64, message: Message)] = []
    private var head = 0

    var count: Int { items.count - head }
    var first: (seq: UInt64, message: Message)? { head < items.count ? items[head] : nil }

    mutating func append(_ seq: UInt64, _ message: Message) { items.append((seq, message)) }

    mutating func removeFirst() {
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head > items.count / 2 {
            items.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        items.removeAll()
        head = 0
    }
}
