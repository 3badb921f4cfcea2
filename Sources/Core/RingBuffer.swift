/// A FIFO with O(1) append and removal at the front, and O(1) access by position from the front:
/// a circular buffer whose capacity doubles when full. The one queue type of the project (session
/// queues and in-flight windows, the link's forward queues, the coordinator's frame queues), where
/// each used to be an array with a moving head that had to be compacted now and then.
///
/// Removed slots are cleared at once, so a queue never keeps a message alive after handing it out.
/// Positions (`subscript`, `remove(at:)`, `firstIndex(where:)`) count from the current front.
/// A value type (copy on write through the array inside); not thread-safe, like any value.
///
/// Everything is `@inlinable` so users in other modules get it specialized for their element
/// type: unspecialized, every call looked up generic metadata (11 % of the agent's CPU in QoS 1
/// fan-in).
@frozen
public struct RingBuffer<Element> {
    @usableFromInline var slots: ContiguousArray<Element?> = []
    /// Physical index of the front element. 32-bit with the count: a ring holds far fewer than
    /// 2^31 elements, and every session has two rings (16 bytes per idle connection).
    @usableFromInline var head: Int32 = 0
    @usableFromInline var _count: Int32 = 0
    @inlinable public var count: Int { Int(_count) }

    @inlinable public init() {}

    @inlinable public var isEmpty: Bool { count == 0 }
    @inlinable public var first: Element? { count > 0 ? slots[Int(head)] : nil }
    @inlinable public var last: Element? { count > 0 ? slots[physical(count - 1)] : nil }
    @inlinable public var indices: Range<Int> { 0..<count }
    /// The elements front to back (a copy).
    @inlinable public var elements: [Element] { (0..<count).map { self[$0] } }

    @inlinable @inline(__always)
    func physical(_ position: Int) -> Int {
        let i = Int(head) + position
        return i < slots.count ? i : i - slots.count
    }

    // _read/_modify borrow the element in its slot: a plain getter copied it (retaining what it
    // holds) for every look at one field, which showed as swift_retain in QoS 1 profiles.
    // `yield slots[i]!` still copied (the unwrap makes a new value: two retains and two releases
    // per look at an in-flight message's packet id, callgrind fan-in QoS 1), so the read yields
    // the payload in place: an Optional's payload sits at its offset 0 (single-payload enum
    // layout), and the slot is `.some` for every position below `count`. The pointer does not
    // outlive the read, during which `self` cannot change.
    @inlinable public subscript(position: Int) -> Element {
        _read {
            precondition(position >= 0 && position < count, "RingBuffer position \(position) out of 0..<\(count)")
            let slot = slots.withUnsafeBufferPointer { $0.baseAddress! + physical(position) }
            yield UnsafeRawPointer(slot).assumingMemoryBound(to: Element.self).pointee
        }
        _modify {
            precondition(position >= 0 && position < count, "RingBuffer position \(position) out of 0..<\(count)")
            yield &slots[physical(position)]!
        }
    }

    /// Consuming: the element moves into its slot (a copy retained what it holds, and the
    /// caller's copy was then released).
    @inlinable public mutating func append(_ element: consuming Element) {
        if count == slots.count { grow() }
        slots[physical(count)] = Optional(consume element)
        _count += 1
    }

    @inlinable public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        var element: Element? = nil
        swap(&element, &slots[Int(head)])  // a move: no copy of what the element holds
        head += 1
        if Int(head) == slots.count { head = 0 }
        _count -= 1
        if _count == 0 { head = 0 }
        return element
    }

    /// O(1) at the front, else O(n): the elements after `position` move up one.
    @inlinable @discardableResult
    public mutating func remove(at position: Int) -> Element {
        if position == 0 { return popFirst()! }
        let element = self[position]
        var i = position
        while i < count - 1 {
            slots[physical(i)] = slots[physical(i + 1)]
            i += 1
        }
        slots[physical(count - 1)] = nil
        _count -= 1
        return element
    }

    @inlinable public func firstIndex(where match: (Element) throws -> Bool) rethrows -> Int? {
        var position = 0
        while position < count {
            if try match(self[position]) { return position }
            position += 1
        }
        return nil
    }

    /// Empties the buffer; keeps its capacity when it is small (a queue that refills), frees a large one.
    @inlinable public mutating func removeAll() {
        if slots.count <= 64 {
            for i in slots.indices { slots[i] = nil }
        } else {
            slots = []
        }
        head = 0
        _count = 0
    }

    @usableFromInline mutating func grow() {
        let newCapacity = max(8, slots.count * 2)
        var grown = ContiguousArray<Element?>(repeating: nil, count: newCapacity)
        for position in 0..<count { swap(&grown[position], &slots[physical(position)]) }  // moves
        slots = grown
        head = 0
    }
}

extension RingBuffer: Sendable where Element: Sendable {}
