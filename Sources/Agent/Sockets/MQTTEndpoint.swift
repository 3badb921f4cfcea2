import FleetConfig
import FleetCore
import FleetProtocol
import Foundation

/// A socket's MQTT endpoint (issue #14; Protocol/managed-sockets.md "MQTT endpoints"): the
/// function is whatever MQTT client anywhere in the fleet subscribes to the socket's topics.
/// Chunks go to `<prefix>/<socket-id>/rx`, open and close events to `<prefix>/<socket-id>/events`
/// (a small JSON object), both QoS 1 so a persistent subscriber misses none, with the socket's
/// identity as MQTT 5 user properties; what is published to `<prefix>/<socket-id>/tx` is written
/// to the socket, and a `close` user property (any value but "0") on it closes the socket after
/// its payload is written, like the webhook's `X-Fleetgate-Close` header.
struct MQTTEndpoint {
    let prefix: String
    let socketId: String
    /// socket, mapping, client, identity, gateway: what the webhook's X-Fleetgate-* headers say.
    let identity: [UserProperty]

    init(prefix: String, socketId: String, mapping: String, clientId: String, identity: String, gatewayId: String) {
        self.prefix = prefix
        self.socketId = socketId
        self.identity = [UserProperty("socket", socketId), UserProperty("mapping", mapping), UserProperty("client", clientId),
                         UserProperty("identity", identity), UserProperty("gateway", gatewayId)]
    }

    var rxTopic: String { "\(prefix)/\(socketId)/rx" }
    var eventsTopic: String { "\(prefix)/\(socketId)/events" }
    var txTopic: String { "\(prefix)/\(socketId)/tx" }

    /// A chunk the receive criteria cut.
    func chunk(_ bytes: [UInt8]) -> Message { message(rxTopic, bytes) }

    /// `{"event": "open", "socket": ..., "mapping": ..., "client": ..., "identity": ..., "gateway": ...}`.
    func event(_ name: String) -> Message {
        var fields: [String: String] = ["event": name]
        for p in identity { fields[p.key] = p.value }
        let json = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])).map { Array($0) } ?? []
        var m = message(eventsTopic, json)
        m.properties.payloadFormatIndicator = 1   // UTF-8
        m.properties.contentType = "application/json"
        return m
    }

    private func message(_ topic: String, _ payload: [UInt8]) -> Message {
        var properties = MQTTProperties()
        properties.userProperties = identity
        return Message(topic: topic, payload: payload, qos: .atLeastOnce, retain: false, properties: properties)
    }

    /// What a message on the `tx` topic asks: bytes for the device, and whether to close after.
    static func command(_ m: Message) -> (bytes: [UInt8], close: Bool) {
        let close = m.properties.userProperties.contains { $0.key == "close" && $0.value != "0" }
        return (m.payload, close)
    }
}
