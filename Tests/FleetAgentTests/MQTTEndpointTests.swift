import Foundation
import Testing
import FleetCore
import FleetProtocol
@testable import FleetAgent

/// The topics and messages of a socket's MQTT endpoint (Protocol/managed-sockets.md "An MQTT endpoint").
@Suite struct MQTTEndpointTests {
    let endpoint = MQTTEndpoint(prefix: "fn/meters", socketId: "gw-1-7", mapping: "mq", clientId: "m-7",
                                identity: "alice", gatewayId: "gw-1")

    @Test func topicsAreThePrefixTheSocketIdAndTheDirection() {
        #expect(endpoint.rxTopic == "fn/meters/gw-1-7/rx")
        #expect(endpoint.eventsTopic == "fn/meters/gw-1-7/events")
        #expect(endpoint.txTopic == "fn/meters/gw-1-7/tx")
    }

    @Test func aChunkIsItsBytesAtQoS1WithTheIdentity() {
        let m = endpoint.chunk([1, 2, 3])
        #expect(m.topic == "fn/meters/gw-1-7/rx" && m.payload == [1, 2, 3] && m.qos == .atLeastOnce && !m.retain)
        #expect(m.origin == nil)   // no-local of a function subscribed as any client id does not hide it
        #expect(m.properties.userProperties.map { "\($0.key)=\($0.value)" }
                == ["socket=gw-1-7", "mapping=mq", "client=m-7", "identity=alice", "gateway=gw-1"])
    }

    @Test func anEventIsJSONNamingTheSocket() throws {
        let m = endpoint.event("open")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(m.payload)) as? [String: String])
        #expect(object == ["event": "open", "socket": "gw-1-7", "mapping": "mq", "client": "m-7", "identity": "alice", "gateway": "gw-1"])
        #expect(m.properties.contentType == "application/json" && m.qos == .atLeastOnce)
    }

    @Test(arguments: [
        ([UserProperty](), false),
        ([UserProperty("close", "1")], true),
        ([UserProperty("close", "yes")], true),
        ([UserProperty("close", "0")], false),
        ([UserProperty("other", "1")], false),
    ])
    func aCloseUserPropertyOtherThanZeroCloses(_ properties: [UserProperty], _ closes: Bool) {
        var p = MQTTProperties()
        p.userProperties = properties
        let command = MQTTEndpoint.command(Message(topic: endpoint.txTopic, payload: [9], qos: .atLeastOnce, retain: false, properties: p))
        #expect(command.bytes == [9] && command.close == closes)
    }
}
