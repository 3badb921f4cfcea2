import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// Common connection handling for every scenario: non-blocking connect with a source address,
/// CONNECT/SUBSCRIBE pipelining, buffered writes with EPOLLOUT only while blocked, and frame
/// parsing from one shared read buffer (per-connection memory only for a pending partial packet).
/// With `tls`, each connection runs a TLS client on two memory BIOs between the socket and the
/// MQTT code: the handshake is driven by the same epoll events, `out` holds plaintext that
/// `flush` encrypts, and reads decrypt into the same shared buffer.
class Engine {
    let broker: Endpoint
    let version: MQTTVersion
    let keepAlive: UInt16
    let loop: EventLoop
    var connections: [Connection] = []
    let readBuffer: UnsafeMutablePointer<UInt8>
    let readCapacity = 256 * 1024
    let tls: TLSClientContext?
    /// Ciphertext read from a socket on its way into a connection's read BIO (TLS runs only).
    let cipherIn: UnsafeMutablePointer<UInt8>?
    let cipherInCapacity = 256 * 1024

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
    var tlsHandshakes = 0
    var tlsFailures = 0
    var tlsVersion: String?
    var tlsCipher: String?
    /// TCP_QUICKACK while connecting (`--quickack`): a broker with Nagle on that writes its
    /// handshake replies in pieces (TLS 1.3 session tickets, then CONNACK) otherwise waits for
    /// the generator's delayed ACK (40 ms on Linux) before the last piece.
    var quickAck = false
    /// Clean session / clean start per role.
    var persistentSubscribers = false
    var sessionExpiry: UInt32 = 3600

    init(broker: Endpoint, version: MQTTVersion, keepAlive: UInt16, tls options: TLSOptions?) throws(SystemError) {
        self.broker = broker
        self.version = version
        self.keepAlive = keepAlive
        loop = try EventLoop()
        readBuffer = .allocate(capacity: readCapacity)
        if let options {
            tls = try TLSClientContext(options)
            cipherIn = .allocate(capacity: cipherInCapacity)
        } else {
            tls = nil
            cipherIn = nil
        }
        signal(SIGPIPE, SIG_IGN)
    }

    deinit {
        readBuffer.deallocate()
        cipherIn?.deallocate()
    }

    /// TLS fields for the JSON output (empty for plain TCP runs).
    func tlsFields() -> [(String, JSON)] {
        guard tls != nil else { return [("tls", .bool(false))] }
        return [("tls", .bool(true)),
                ("tls_version", tlsVersion.map { .string($0) } ?? .null),
                ("tls_cipher", tlsCipher.map { .string($0) } ?? .null),
                ("tls_handshakes", .int(tlsHandshakes)),
                // Full chain + name verifications (nil: every handshake did one, --tls-verify-each).
                ("tls_full_verifications", tls!.verifyEach ? .null : .int(tls!.verified.fullVerifications)),
                ("tls_failures", .int(tlsFailures))]
    }

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
            c.fd = try Socket.startConnect(to: c.endpoint ?? broker, from: c.source)
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

    /// TCP connected on a TLS run: start the handshake (ClientHello goes out through `flush`).
    private func startTLS(_ c: Connection) {
        guard let session = tls?.makeSession() else {
            tlsFailures += 1
            fail(c, "SSL_new failed: \(tlsErrorQueue())")
            return
        }
        c.tls = session
        c.state = .handshaking
        c.watchingWrite = true  // registered with EPOLLOUT; flush() clears it when drained
        driveHandshake(c, session)
    }

    /// Feeds received ciphertext to the SSL and steps the handshake; on completion sends CONNECT.
    private func driveHandshake(_ c: Connection, _ t: TLSSession) {
        while true {
            let rc = SSL_do_handshake(t.ssl)
            if rc == 1 {
                t.handshakeDone = true
                tlsHandshakes += 1
                if tlsVersion == nil {
                    tlsVersion = t.protocolVersion
                    tlsCipher = t.cipherName
                }
                connected(c)
                if quickAck && c.state != .closed { Socket.quickAck(c.fd) }
                // Bytes after the server's Finished (session tickets, early replies) are already
                // in the read BIO, where epoll cannot see them.
                if c.state != .closed && t.buffered { readAvailable(c) }
                return
            }
            let e = SSL_get_error(t.ssl, rc)
            guard e == SSL_ERROR_WANT_READ else {
                tlsFailures += 1
                let reason = t.failureReason(e)
                t.drainWriteBIO()  // the alert, best effort
                _ = Glibc.send(c.fd, t.cipherOut.readPointer, t.cipherOut.readableBytes, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                fail(c, "TLS handshake: \(reason)")
                return
            }
            if !flush(c) { return }
            // Pull more ciphertext from the socket; stop when it has none yet.
            let n = recv(c.fd, cipherIn!, cipherInCapacity, 0)
            if n > 0 {
                BIO_write(t.rbio, cipherIn!, Int32(n))
                if quickAck { Socket.quickAck(c.fd) }
                continue
            }
            let err = errno
            if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) { return }
            if n < 0 && err == EINTR { continue }
            closedByBroker += 1
            tlsFailures += 1
            fail(c, n == 0 ? "connection closed by broker during the TLS handshake"
                           : SystemError(call: "recv (TLS handshake)", code: err).description)
            return
        }
    }

    private func connected(_ c: Connection) {
        c.state = .awaitingConnack
        // Plain TCP: still registered with EPOLLOUT from connect. TLS: watchingWrite already
        // matches the registration left by the handshake.
        if c.tls == nil { c.watchingWrite = true }
        let clean = !(c.role == .subscriber && persistentSubscribers)
        MQTTPacketBuilder.connect(into: c.out, version: version, clientID: c.clientID, cleanSession: clean,
                                  keepAlive: keepAlive, sessionExpiry: clean ? 0 : sessionExpiry)
        var packetID: UInt16 = 1
        for batch in c.subscriptions {
            MQTTPacketBuilder.subscribe(into: c.out, version: version, packetID: packetID, batch)
            packetID &+= 1
            c.pendingSubacks += 1
        }
        flush(c)
    }

    func fail(_ c: Connection, _ reason: String) {
        guard c.state != .closed else { return }
        if c.state == .connecting || c.state == .handshaking || c.state == .awaitingConnack { pendingConnects -= 1 }
        if c.state == .ready && c.pendingSubacks > 0 { pendingConnects -= 1 }
        noteError(reason)
        loop.remove(c.fd)
        close(c.fd)
        c.state = .closed
        c.partial = nil
        c.tls = nil
    }

    func closeAll(sendDisconnect: Bool) {
        for c in connections where c.state != .closed && c.fd >= 0 {
            if sendDisconnect && c.state == .ready {
                MQTTPacketBuilder.disconnect(into: c.out)
                _ = flush(c)
            }
            if let t = c.tls, t.handshakeDone, c.state != .closed {
                _ = SSL_shutdown(t.ssl)  // close_notify, so the broker sees a clean TLS close
                _ = flush(c)
            }
            guard c.state != .closed else { continue }
            loop.remove(c.fd)
            close(c.fd)
            c.state = .closed
            c.tls = nil
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
                fail(c, SystemError(call: "connect \(c.endpoint ?? broker) from \(c.source?.host ?? "any")", code: err).description)
                return
            }
            if events & (EventLoop.outEvent | EventLoop.inEvent) != 0 {
                if tls != nil { startTLS(c) } else { connected(c) }
            }
            return
        }
        if c.state == .handshaking, let t = c.tls {
            if events & EventLoop.outEvent != 0 && !flush(c) { return }
            if events & (EventLoop.inEvent | EventLoop.rdHupEvent | EventLoop.hupEvent | EventLoop.errEvent) != 0 {
                driveHandshake(c, t)
            }
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
        if let t = c.tls {
            // Encrypt up to 64 KiB ahead of the socket, then send it in one go (handshake bytes
            // and the first MQTT packets share a segment). A blocked socket leaves the rest as
            // plaintext in `out`, where the publishers see it.
            while true {
                t.drainWriteBIO()
                if t.handshakeDone && !c.out.isEmpty && t.cipherOut.readableBytes < 64 * 1024 {
                    let n = SSL_write(t.ssl, c.out.readPointer, Int32(min(c.out.readableBytes, 64 * 1024)))
                    if n <= 0 {
                        fail(c, "SSL_write: \(t.failureReason(SSL_get_error(t.ssl, n)))")
                        return false
                    }
                    c.out.consume(Int(n))
                    continue
                }
                if !send(c, t.cipherOut) { return false }
                if !t.handshakeDone || c.out.isEmpty { break }
            }
        } else if !send(c, c.out) {
            return false
        }
        if c.watchingWrite && c.state != .connecting {
            c.watchingWrite = false
            loop.modify(c.fd, token: c.token, events: EventLoop.readable)
        }
        return true
    }

    /// Sends `buffer` until empty (true) or the socket blocks or fails (false; EPOLLOUT is
    /// watched while blocked, the connection closed on failure).
    @inline(__always)
    private func send(_ c: Connection, _ buffer: ByteBuffer) -> Bool {
        while !buffer.isEmpty {
            let n = Glibc.send(c.fd, buffer.readPointer, buffer.readableBytes, Int32(MSG_NOSIGNAL))
            if n > 0 { buffer.consume(n); continue }
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
        return true
    }

    /// Reads up to `room` plaintext bytes into `dst`: > 0 bytes, 0 end of stream, < 0 with
    /// `error` set (EAGAIN: nothing more now). Over TLS it decrypts until `room` is full or the
    /// socket has nothing more, so a short read means the socket is drained (as with recv).
    @inline(__always)
    private func receive(_ c: Connection, _ dst: UnsafeMutablePointer<UInt8>, _ room: Int, error: inout String?) -> Int {
        guard let t = c.tls else {
            let n = recv(c.fd, dst, room, 0)
            if n < 0 {
                let e = errno
                error = e == EAGAIN || e == EWOULDBLOCK ? nil : SystemError(call: "recv", code: e).description
                if e == EINTR { return receive(c, dst, room, error: &error) }
            }
            return n
        }
        var got = 0
        while got < room {
            let n = SSL_read(t.ssl, dst + got, Int32(min(room - got, Int(Int32.max))))
            if n > 0 { got += Int(n); continue }
            let e = SSL_get_error(t.ssl, n)
            if e == SSL_ERROR_ZERO_RETURN { return got }  // close_notify: end of stream
            guard e == SSL_ERROR_WANT_READ else {
                if got > 0 { return got }
                error = "TLS read: \(t.failureReason(e))"
                return -1
            }
            let r = recv(c.fd, cipherIn!, cipherInCapacity, 0)
            if r > 0 {
                BIO_write(t.rbio, cipherIn!, Int32(r))
                continue
            }
            if r == 0 { return got }
            let err = errno
            if err == EINTR { continue }
            if got > 0 { return got }
            error = err == EAGAIN || err == EWOULDBLOCK ? nil : SystemError(call: "recv", code: err).description
            return -1
        }
        return got
    }

    private func readAvailable(_ c: Connection) {
        var rounds = 0
        // Over TLS, decrypted-but-unread data is invisible to epoll: keep going while some is left.
        while (rounds < 8 || (c.tls?.buffered ?? false)) && c.state != .closed {
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
            var readError: String?
            let n = receive(c, base + start, room, error: &readError)
            if quickAck && c.state == .awaitingConnack && n > 0 { Socket.quickAck(c.fd) }
            if n == 0 {
                closedByBroker += 1
                fail(c, "connection closed by broker (\(c.role) \(c.clientID))")
                return
            }
            if n < 0 {
                guard let readError else { break }  // nothing more for now
                closedByBroker += 1
                fail(c, readError)
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
        if c.state != .closed && (!c.out.isEmpty || (c.tls.map { BIO_ctrl_pending($0.wbio) > 0 } ?? false)) { flush(c) }
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
