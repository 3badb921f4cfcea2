/// A FIFO with O(1) append and removal at the front, and O(1) access by position from the front:
/// a circular buffer whose capacity doubles when full. The one queue type of the project (session
/// queues and in-flight windows, the link's forward queues, the coordinator's frame queues), where
/// each used to be an array with a moving head that had to be compacted now and then.
///
/// Removed slots are cleared at once, so a queue never keeps a message alive after handing it out.
/// Positions (`subscript`, `remove(at:)`, `firstIndex(where:)`) count from the current front.
/// A value type (copy on write through the array inside); not thread-safe, like any value.
public struct RingBuffer<Element> {
    private var slots: ContiguousArray<Element?> = []
    /// Physical index of the front element.
    private var head = 0
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }
    public var capacity: Int { slots.count }
    public var first: Element? { count > 0 ? slots[head] : nil }
    public var last: Element? { count > 0 ? slots[physical(count - 1)] : nil }
    public var indices: Range<Int> { 0..<count }
    /// The elements front to back (a copy).
    public var elements: [Element] { (0..<count).map { self[$0] } }

    @inline(__always)
    private func physical(_ position: Int) -> Int {
        let i = head + position
        return i < slots.count ? i : i - slots.count
    }

    public subscript(position: Int) -> Element {
        get {
            precondition(position >= 0 && position < count, "RingBuffer position \(position) out of 0..<\(count)")
            return slots[physical(position)]!
        }
        set {
            precondition(position >= 0 && position < count, "RingBuffer position \(position) out of 0..<\(count)")
            slots[physical(position)] = newValue
        }
        // In place, like Array's: `queue[i].phase = ...` or `entries[i].set.remove(x)` must not
        // copy what the element holds while the slot still refers to it.
        _modify {
            precondition(position >= 0 && position < count, "RingBuffer position \(position) out of 0..<\(count)")
            let p = physical(position)
            var element = slots[p]!
            slots[p] = nil
            defer { slots[p] = element }
            yield &element
        }
    }

    public mutating func append(_ element: Element) {
        if count == slots.count { grow() }
        slots[physical(count)] = element
        count += 1
    }

    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = slots[head]
        slots[head] = nil
        head += 1
        if head == slots.count { head = 0 }
        count -= 1
        if count == 0 { head = 0 }
        return element
    }

    /// Removes the first `n` elements (at most `count`).
    public mutating func removeFirst(_ n: Int) {
        for _ in 0..<min(n, count) { _ = popFirst() }
    }

    /// O(1) at the front, else O(n): the elements after `position` move up one.
    @discardableResult
    public mutating func remove(at position: Int) -> Element {
        if position == 0 { return popFirst()! }
        let element = self[position]
        var i = position
        while i < count - 1 {
            slots[physical(i)] = slots[physical(i + 1)]
            i += 1
        }
        slots[physical(count - 1)] = nil
        count -= 1
        return element
    }

    public func firstIndex(where match: (Element) throws -> Bool) rethrows -> Int? {
        var position = 0
        while position < count {
            if try match(slots[physical(position)]!) { return position }
            position += 1
        }
        return nil
    }

    /// Empties the buffer; keeps its capacity when it is small (a queue that refills), frees a large one.
    public mutating func removeAll() {
        if slots.count <= 64 {
            for i in slots.indices { slots[i] = nil }
        } else {
            slots = []
        }
        head = 0
        count = 0
    }

    private mutating func grow() {
        let newCapacity = max(8, slots.count * 2)
        var grown = ContiguousArray<Element?>(repeating: nil, count: newCapacity)
        for position in 0..<count { grown[position] = slots[physical(position)] }
        slots = grown
        head = 0
    }
}

extension RingBuffer: Sendable where Element: Sendable {}
