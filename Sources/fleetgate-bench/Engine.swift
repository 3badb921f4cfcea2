#if canImport(Glibc)
import Glibc
#endif

/// Common connection handling for every scenario: non-blocking connect with a source address,
/// CONNECT/SUBSCRIBE pipelining, buffered writes with EPOLLOUT only while blocked, and frame
/// parsing from one shared read buffer (per-connection memory only for a pending partial packet).
class Engine {
    let broker: Endpoint
    let version: MQTTVersion
    let keepAlive: UInt16
    let loop: EventLoop
    var connections: [Connection] = []
    let readBuffer: UnsafeMutablePointer<UInt8>
    let readCapacity = 256 * 1024

    // Counters shared by the scenarios.
    var connectFailures = 0
    var closedByBroker = 0
    var connackRefusals = 0
    var subackFailures = 0
    var unexpectedPackets = 0
    var errorSamples: [String] = []
    var establishedCount = 0
    var pendingConnects = 0
    var lastEstablishedAt: UInt64 = 0
    /// Clean session / clean start per role.
    var persistentSubscribers = false
    var sessionExpiry: UInt32 = 3600

    init(broker: Endpoint, version: MQTTVersion, keepAlive: UInt16) throws(SystemError) {
        self.broker = broker
        self.version = version
        self.keepAlive = keepAlive
        loop = try EventLoop()
        readBuffer = .allocate(capacity: readCapacity)
        signal(SIGPIPE, SIG_IGN)
    }

    deinit { readBuffer.deallocate() }

    @discardableResult
    func addConnection(role: Connection.Role, roleIndex: Int, clientID: String, source: Endpoint?, outCapacity: Int) -> Connection {
        let c = Connection(token: connections.count, role: role, roleIndex: roleIndex, clientID: clientID,
                           source: source, outCapacity: outCapacity)
        connections.append(c)
        return c
    }

    func noteError(_ text: String) {
        if errorSamples.count < 8 && !errorSamples.contains(text) { errorSamples.append(text) }
    }

    // MARK: connecting

    func startConnect(_ c: Connection) {
        do {
            c.fd = try Socket.startConnect(to: broker, from: c.source)
        } catch {
            connectFailures += 1
            noteError(error.description)
            c.state = .closed
            return
        }
        c.state = .connecting
        pendingConnects += 1
        loop.add(c.fd, token: c.token, events: EventLoop.writable | EventLoop.readable)
    }

    private func connected(_ c: Connection) {
        c.state = .awaitingConnack
        let clean = !(c.role == .subscriber && persistentSubscribers)
        MQTTPacketBuilder.connect(into: c.out, version: version, clientID: c.clientID, cleanSession: clean,
                                  keepAlive: keepAlive, sessionExpiry: clean ? 0 : sessionExpiry)
        var packetID: UInt16 = 1
        for batch in c.subscriptions {
            MQTTPacketBuilder.subscribe(into: c.out, version: version, packetID: packetID, batch)
            packetID &+= 1
            c.pendingSubacks += 1
        }
        c.watchingWrite = true  // registered with EPOLLOUT; flush() clears it when drained
        flush(c)
    }

    func fail(_ c: Connection, _ reason: String) {
        guard c.state != .closed else { return }
        if c.state == .connecting || c.state == .awaitingConnack { pendingConnects -= 1 }
        if c.state == .ready && c.pendingSubacks > 0 { pendingConnects -= 1 }
        noteError(reason)
        loop.remove(c.fd)
        close(c.fd)
        c.state = .closed
        c.partial = nil
    }

    func closeAll(sendDisconnect: Bool) {
        for c in connections where c.state != .closed && c.fd >= 0 {
            if sendDisconnect && c.state == .ready {
                MQTTPacketBuilder.disconnect(into: c.out)
                _ = flush(c)
            }
            loop.remove(c.fd)
            close(c.fd)
            c.state = .closed
        }
    }

    // MARK: events

    @inline(__always)
    func handleEvent(token: Int, events: UInt32) {
        let c = connections[token]
        if c.state == .closed { return }
        if c.state == .connecting {
            let err = Socket.pendingError(c.fd)
            if err != 0 {
                connectFailures += 1
                fail(c, SystemError(call: "connect \(broker) from \(c.source?.host ?? "any")", code: err).description)
                return
            }
            if events & (EventLoop.outEvent | EventLoop.inEvent) != 0 { connected(c) }
            return
        }
        if events & EventLoop.outEvent != 0 { flush(c) }
        if events & (EventLoop.inEvent | EventLoop.rdHupEvent | EventLoop.hupEvent | EventLoop.errEvent) != 0 {
            readAvailable(c)
        }
    }

    /// Writes as much of `c.out` as the socket takes; watches EPOLLOUT only while blocked.
    @discardableResult
    @inline(__always)
    func flush(_ c: Connection) -> Bool {
        let out = c.out
        while !out.isEmpty {
            let n = send(c.fd, out.readPointer, out.readableBytes, Int32(MSG_NOSIGNAL))
            if n > 0 { out.consume(n); continue }
            let e = errno
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) {
                if !c.watchingWrite {
                    c.watchingWrite = true
                    loop.modify(c.fd, token: c.token, events: EventLoop.readable | EventLoop.writable)
                }
                return false
            }
            if n < 0 && e == EINTR { continue }
            fail(c, SystemError(call: "send", code: e).description)
            return false
        }
        if c.watchingWrite && c.state != .connecting {
            c.watchingWrite = false
            loop.modify(c.fd, token: c.token, events: EventLoop.readable)
        }
        return true
    }

    private func readAvailable(_ c: Connection) {
        var rounds = 0
        while rounds < 8 && c.state != .closed {
            rounds += 1
            let base: UnsafeMutablePointer<UInt8>
            let start: Int
            let room: Int
            if let p = c.partial, !p.isEmpty {
                // Continue the pending packet in its own buffer.
                p.reserve(64 * 1024)
                base = p.base + p.readIndex
                start = p.readableBytes
                room = 64 * 1024
            } else {
                base = readBuffer
                start = 0
                room = readCapacity
            }
            let n = recv(c.fd, base + start, room, 0)
            if n == 0 {
                closedByBroker += 1
                fail(c, "connection closed by broker (\(c.role) \(c.clientID))")
                return
            }
            if n < 0 {
                let e = errno
                if e == EAGAIN || e == EWOULDBLOCK { break }
                if e == EINTR { continue }
                closedByBroker += 1
                fail(c, SystemError(call: "recv", code: e).description)
                return
            }
            let available = start + n
            let now = monotonicNanos()
            var offset = 0
            do {
                while let frame = try MQTTFrameParser.frame(at: base + offset, count: available - offset) {
                    dispatch(c, frame, now: now)
                    offset += frame.totalLength
                    if c.state == .closed { return }
                }
            } catch {
                fail(c, "malformed packet from broker: \(error)")
                return
            }
            let rest = available - offset
            if base == readBuffer {
                if rest > 0 {
                    let p = c.partial ?? ByteBuffer(capacity: max(256, rest * 2))
                    p.clear()
                    p.writeBytes(base + offset, rest)
                    c.partial = p
                }
            } else if let p = c.partial {
                p.writeIndex = p.readIndex + available
                p.consume(offset)
                if p.isEmpty { c.partial = nil }
            }
            if n < room { break }
        }
        if !c.out.isEmpty { flush(c) }
    }

    @inline(__always)
    func dispatch(_ c: Connection, _ frame: Frame, now: UInt64) {
        switch frame.type {
        case PacketType.publish.rawValue:
            guard let publish = frame.publish(version: version) else {
                fail(c, "malformed PUBLISH")
                return
            }
            if publish.qos == 1 { MQTTPacketBuilder.puback(into: c.out, packetID: publish.packetID) }
            if publish.qos == 2 { unexpectedPackets += 1 }
            onPublish(c, publish, now: now)
        case PacketType.puback.rawValue:
            guard let id = frame.packetID() else { fail(c, "malformed PUBACK"); return }
            onPuback(c, id, reason: frame.pubackReason(version: version), now: now)
        case PacketType.connack.rawValue:
            guard c.state == .awaitingConnack, let code = frame.connackCode() else {
                fail(c, "unexpected CONNACK")
                return
            }
            if code != 0 {
                connackRefusals += 1
                fail(c, "CONNACK refused, code 0x\(String(code, radix: 16))")
                return
            }
            c.sessionPresent = frame.body[0] & 1 != 0
            c.state = .ready
            checkEstablished(c, now: now)
        case PacketType.suback.rawValue:
            c.pendingSubacks -= 1
            let failures = frame.subackFailures(version: version)
            if failures > 0 {
                subackFailures += failures
                noteError("SUBACK with \(failures) failure code(s)")
            }
            checkEstablished(c, now: now)
        case PacketType.pingresp.rawValue:
            break
        case PacketType.disconnect.rawValue:
            let reason = frame.bodyLength > 0 ? frame.body[0] : 0
            fail(c, "DISCONNECT from broker, reason 0x\(String(reason, radix: 16))")
        default:
            unexpectedPackets += 1
        }
    }

    private func checkEstablished(_ c: Connection, now: UInt64) {
        if c.established {
            establishedCount += 1
            pendingConnects -= 1
            lastEstablishedAt = now
            onEstablished(c)
        }
    }

    /// Connects `list` with at most `concurrency` handshakes (TCP + CONNECT/CONNACK + SUBACKs) in
    /// progress, so the broker's listen backlog never overflows into SYN retransmits.
    /// Returns false if `timeoutNanos` elapse first.
    func connectAll(_ list: [Connection], concurrency: Int, timeoutNanos: UInt64) -> Bool {
        let deadline = monotonicNanos() + timeoutNanos
        var next = 0
        while true {
            while next < list.count && pendingConnects < concurrency {
                startConnect(list[next])
                next += 1
            }
            if next == list.count && pendingConnects == 0 { return true }
            let now = monotonicNanos()
            if now >= deadline { return false }
            loop.poll(timeoutNanos: min(deadline - now, 10_000_000)) { handleEvent(token: $0, events: $1) }
        }
    }

    /// Runs the loop until `done()` or `timeoutNanos` elapse; returns false on timeout.
    func runUntil(timeoutNanos: UInt64, _ done: () -> Bool) -> Bool {
        let deadline = monotonicNanos() + timeoutNanos
        while !done() {
            let now = monotonicNanos()
            if now >= deadline { return false }
            loop.poll(timeoutNanos: min(deadline - now, 10_000_000)) { handleEvent(token: $0, events: $1) }
        }
        return true
    }

    // MARK: hooks for scenarios

    func onPublish(_ c: Connection, _ publish: InboundPublish, now: UInt64) {}
    func onPuback(_ c: Connection, _ id: UInt16, reason: UInt8, now: UInt64) {}
    func onEstablished(_ c: Connection) {}
}
