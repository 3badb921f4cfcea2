/// One MQTT client connection of the generator. Plain class owned by the single loop thread.
final class Connection {
    enum Role { case publisher, subscriber, idle }
    /// `handshaking`: TCP connected, TLS handshake in progress (TLS runs only).
    enum State { case idle, connecting, handshaking, awaitingConnack, ready, closed }

    let token: Int
    let role: Role
    /// Index among the connections of the same role (publisher id, subscriber number).
    let roleIndex: Int
    let clientID: String
    let source: Endpoint?
    /// Where this connection goes when not the plan's broker (`--subscriber-broker`).
    var endpoint: Endpoint?
    var fd: Int32 = -1
    var state = State.idle
    let out: ByteBuffer
    /// Bytes of an incomplete inbound packet, kept only while one is pending.
    var partial: ByteBuffer?
    var watchingWrite = false
    /// TLS state while the connection is open over TLS; `out` then holds plaintext.
    var tls: TLSSession?
    var pendingSubacks = 0
    var sessionPresent = false
    /// Packets to send right after CONNECT (SUBSCRIBEs), pipelined.
    var subscriptions: [[SubscriptionRequest]] = []

    init(token: Int, role: Role, roleIndex: Int, clientID: String, source: Endpoint?, outCapacity: Int) {
        self.token = token
        self.role = role
        self.roleIndex = roleIndex
        self.clientID = clientID
        self.source = source
        out = ByteBuffer(capacity: outCapacity)
    }

    /// Connected, CONNACK accepted and every SUBACK received.
    var established: Bool { state == .ready && pendingSubacks == 0 }
}

/// Per-publisher sending state.
final class PublisherState {
    var sent = 0
    var matched = 0                 // unicast routing: messages that should be delivered
    var inflight = 0
    var acked = 0
    /// QoS 1 packet identifiers awaiting PUBACK (65,536 bits).
    var inflightIDs = [UInt64](repeating: 0, count: 1024)
    var nextDue: UInt64 = 0
}
