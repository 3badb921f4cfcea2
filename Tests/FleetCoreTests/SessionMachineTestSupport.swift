import FleetProtocol
@testable import FleetCore

/// A `SessionOutput` that records what the session machine decided, in order, and plays a client
/// whose socket may be backed up and whose Maximum Packet Size is given as a payload length.
final class RecordingOutput: SessionOutput {
    enum Event: Equatable, CustomStringConvertible {
        case publish(packetId: UInt16, seq: Int64, dup: Bool)
        case ack(MQTTPacketType, packetId: UInt16, reason: ReasonCode)
        case effect(SessionEffect)

        var description: String {
            switch self {
            case .publish(let id, let seq, let dup): "PUBLISH id \(id) seq \(seq)\(dup ? " DUP" : "")"
            case .ack(let type, let id, let reason): "\(type) id \(id) \(reason)"
            case .effect(let e): "\(e)"
            }
        }
    }

    var events: [Event] = []
    var canWritePublish = true
    /// A PUBLISH whose payload is longer than this "exceeds the client's Maximum Packet Size".
    var maxPayload = Int.max

    func writePublish(_ delivery: OutboundMessage, dup: Bool, now: UInt64) -> Bool {
        guard delivery.message.payload.count <= maxPayload else { return false }
        events.append(.publish(packetId: delivery.packetId, seq: delivery.seq, dup: dup))
        return true
    }

    func writeAck(_ type: MQTTPacketType, packetId: UInt16, reason: ReasonCode) {
        events.append(.ack(type, packetId: packetId, reason: reason))
    }

    func perform(_ effect: SessionEffect) { events.append(.effect(effect)) }

    /// The events since the last call.
    func take() -> [Event] { defer { events = [] }; return events }
    /// Only the packets written since the last call (effects dropped).
    func packets() -> [Event] {
        take().filter { if case .effect = $0 { false } else { true } }
    }
}

enum SessionFixtures {
    static func message(_ n: Int, qos: QoS = .atLeastOnce, payloadBytes: Int = 4, expiresAt: UInt64? = nil) -> Message {
        Message(topic: "t/\(n)", payload: Array(repeating: UInt8(n & 0xFF), count: payloadBytes), qos: qos, retain: false,
                expiresAt: expiresAt, origin: "publisher")
    }

    /// A session a client holds with `window` as its Receive Maximum.
    static func connected(expiry: UInt32 = 3600, version: MQTTVersion = .v5, window: Int = 10,
                          will: Will? = nil) -> SessionMachine {
        var s = SessionMachine(clientId: "device", expiryInterval: expiry, protocolVersion: version)
        s.attach(ConnectionTerms(sendWindow: window), will: will, expiryInterval: expiry, version: version, policy: nil)
        return s
    }

    static func will(delaySeconds: UInt32? = nil) -> Will {
        var properties = MQTTProperties()
        properties.willDelayInterval = delaySeconds
        return Will(topic: "status/device", payload: Array("gone".utf8), qos: .atLeastOnce, retain: false, properties: properties)
    }
}
