import FleetProtocol

/// One packet of each type in each version, with the fields that exercise most of the parser.
enum SeedPackets {
    static var all: [(MQTTPacket, MQTTVersion)] {
        var props = MQTTProperties()
        props.payloadFormatIndicator = 1
        props.messageExpiryInterval = 60
        props.contentType = "json"
        props.responseTopic = "r/1"
        props.correlationData = [0xCA, 0xFE]
        props.subscriptionIdentifiers = [5, 300]
        props.topicAlias = 2
        props.userProperties = [UserProperty("k", "v")]
        var connectProps = MQTTProperties()
        connectProps.sessionExpiryInterval = 3600
        connectProps.receiveMaximum = 20
        connectProps.maximumPacketSize = 4096
        connectProps.authenticationMethod = "SCRAM"
        connectProps.authenticationData = [1, 2]
        var willProps = MQTTProperties()
        willProps.willDelayInterval = 5
        willProps.contentType = "text"
        var ackProps = MQTTProperties()
        ackProps.reasonString = "why"
        ackProps.userProperties = [UserProperty("a", "b")]
        var connackProps = ackProps
        connackProps.assignedClientIdentifier = "auto"
        connackProps.maximumQoS = 1
        connackProps.serverKeepAlive = 30
        connackProps.sharedSubscriptionAvailable = 0

        var seeds: [(MQTTPacket, MQTTVersion)] = []
        for v in [MQTTVersion.v311, .v5] {
            let five = v == .v5
            seeds += [
                (.connect(ConnectPacket(version: v, cleanStart: true, keepAlive: 60, clientId: "fg",
                                        will: Will(topic: "w/t", payload: [1], qos: .atLeastOnce, retain: true, properties: willProps),
                                        username: "u", password: [9], properties: connectProps)), v),
                // A relay's CONNECT (Protocol/agent-coordinator.md §10): its password is a relay credential.
                (.connect(ConnectPacket(version: v, cleanStart: false, keepAlive: 30, clientId: "fg", username: RelayCredential.username,
                                        password: RelayCredential(kind: .handover, secret: Array(0..<16), username: "u",
                                                                  certificateIdentity: "cn", inboundAliases: [(1, "a/b")]).encoded())), v),
                (.connack(ConnAckPacket(sessionPresent: true, reasonCode: .success, properties: connackProps)), v),
                (.publish(PublishPacket(topic: "a/b", payload: [1, 2, 3])), v),
                (.publish(PublishPacket(topic: five ? "" : "a", payload: [], qos: .exactlyOnce, retain: true, dup: true,
                                        packetId: 7, properties: props)), v),
                (.puback(PubAckPacket(packetId: 1)), v),
                (.pubrec(PubAckPacket(packetId: 2, reasonCode: five ? .noMatchingSubscribers : .success)), v),
                (.pubrel(PubAckPacket(packetId: 3, reasonCode: .success, properties: ackProps)), v),
                (.pubcomp(PubAckPacket(packetId: 4)), v),
                (.subscribe(SubscribePacket(packetId: 5, subscriptions: [
                    SubscriptionRequest(filter: "a/+/#", qos: .atLeastOnce, noLocal: five, retainAsPublished: five, retainHandling: five ? 2 : 0),
                    SubscriptionRequest(filter: "$share/g/x", qos: .exactlyOnce),
                ], properties: props)), v),
                (.suback(SubAckPacket(packetId: 5, reasonCodes: [.grantedQoS1, .v311SubscribeFailure], properties: ackProps)), v),
                (.unsubscribe(UnsubscribePacket(packetId: 6, filters: ["a/+", "#"], properties: ackProps)), v),
                (.unsuback(UnsubAckPacket(packetId: 6, reasonCodes: five ? [.success, .noSubscriptionExisted] : [], properties: ackProps)), v),
                (.pingreq, v), (.pingresp, v),
                (.disconnect(DisconnectPacket(reasonCode: five ? .serverMoved : .success, properties: connackProps)), v),
            ]
        }
        seeds.append((.auth(AuthPacket(reasonCode: .continueAuthentication, properties: connectProps)), .v5))
        // At the user-property bound shared with FORWARD frames: one mutation from over it.
        var manyProps = MQTTProperties()
        manyProps.userProperties = (0..<ProtocolLimits.maxUserProperties).map { UserProperty("k\($0 % 10)", "") }
        seeds.append((.publish(PublishPacket(topic: "u/p", payload: [1], qos: .atLeastOnce, retain: true, packetId: 1,
                                             properties: manyProps)), .v5))
        return seeds
    }
}
