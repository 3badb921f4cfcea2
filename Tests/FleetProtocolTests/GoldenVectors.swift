@testable import FleetProtocol

/// A packet and its wire bytes, typed by hand from the field layouts of MQTT 3.1.1 (OASIS
/// 2014) and MQTT 5.0 (OASIS 2019). Never produced by our encoder: lengths are counted by hand,
/// the comments show the arithmetic. `a("...")` only spells ASCII characters; every length
/// prefix is written out.
struct GoldenVector: Sendable, CustomStringConvertible {
    let name: String
    let version: MQTTVersion
    let bytes: [UInt8]
    let packet: MQTTPacket
    var description: String { "\(name) (\(version))" }
}

/// ASCII characters as bytes, for readability of string fields.
func a(_ s: String) -> [UInt8] { Array(s.utf8) }

enum Golden {
    // MARK: CONNECT

    /// 3.1.1 §3.1: variable header 10 bytes (name 6, level 1, flags 1, keep alive 2),
    /// payload: client id 5, will topic 5, will message 5, user name 3, password 4 = 22. RL 32.
    static let connect311 = GoldenVector(
        name: "CONNECT will+user+pass", version: .v311,
        bytes: [0x10, 0x20,
                0x00, 0x04] + a("MQTT") + [0x04,
                0xEE,          // user 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08 | will 0x04 | clean 0x02
                0x00, 0x3C,    // keep alive 60
                0x00, 0x03] + a("fg1") +
               [0x00, 0x03] + a("w/t") +
               [0x00, 0x03] + a("bye") +
               [0x00, 0x01] + a("u") +
               [0x00, 0x02] + a("pw"),
        packet: .connect(ConnectPacket(
            version: .v311, cleanStart: true, keepAlive: 60, clientId: "fg1",
            will: Will(topic: "w/t", payload: a("bye"), qos: .atLeastOnce, retain: true),
            username: "u", password: a("pw"))))

    /// 5.0 §3.1: variable header 10 + properties (1 + 23), payload: client id 5, will properties
    /// (1 + 14), will topic 5, will payload 4, user name 4, password 5. RL = 10+24+5+15+5+4+4+5 = 72.
    static let connect5 = GoldenVector(
        name: "CONNECT will+user+pass+properties", version: .v5,
        bytes: [0x10, 0x48,
                0x00, 0x04] + a("MQTT") + [0x05,
                0xD6,          // user 0x80 | password 0x40 | will QoS 2 0x10 | will 0x04 | clean 0x02
                0x00, 0x3C,
                0x17,                          // property length 23
                0x11, 0x00, 0x00, 0x0E, 0x10,  // session expiry 3600
                0x21, 0x00, 0x14,              // receive maximum 20
                0x22, 0x00, 0x0A,              // topic alias maximum 10
                0x26, 0x00, 0x01] + a("k") + [0x00, 0x01] + a("v") + [  // user property k=v
                0x27, 0x00, 0x00, 0x10, 0x00,  // maximum packet size 4096
                0x00, 0x03] + a("fg5") + [
                0x0E,                          // will property length 14
                0x01, 0x01,                    // payload format indicator 1
                0x03, 0x00, 0x04] + a("text") + [  // content type
                0x18, 0x00, 0x00, 0x00, 0x05,  // will delay interval 5
                0x00, 0x03] + a("w/5") + [
                0x00, 0x02, 0x01, 0x02,        // will payload
                0x00, 0x02] + a("u5") + [
                0x00, 0x03, 0x01, 0x02, 0x03], // password
        packet: .connect(ConnectPacket(
            version: .v5, cleanStart: true, keepAlive: 60, clientId: "fg5",
            will: Will(topic: "w/5", payload: [1, 2], qos: .exactlyOnce, retain: false, properties: {
                var p = MQTTProperties()
                p.payloadFormatIndicator = 1; p.contentType = "text"; p.willDelayInterval = 5
                return p
            }()),
            username: "u5", password: [1, 2, 3], properties: {
                var p = MQTTProperties()
                p.sessionExpiryInterval = 3600; p.receiveMaximum = 20; p.topicAliasMaximum = 10
                p.userProperties = [UserProperty("k", "v")]; p.maximumPacketSize = 4096
                return p
            }())))

    /// 5.0 minimal: 10 + property length 0 + empty client id 2 = RL 13.
    static let connect5Minimal = GoldenVector(
        name: "CONNECT minimal", version: .v5,
        bytes: [0x10, 0x0D, 0x00, 0x04] + a("MQTT") + [0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        packet: .connect(ConnectPacket(version: .v5, cleanStart: false, keepAlive: 0, clientId: "")))

    // MARK: CONNACK

    static let connack311 = GoldenVector(
        name: "CONNACK session present", version: .v311, bytes: [0x20, 0x02, 0x01, 0x00],
        packet: .connack(ConnAckPacket(sessionPresent: true, reasonCode: .success)))
    static let connack311Refused = GoldenVector(
        name: "CONNACK not authorized", version: .v311, bytes: [0x20, 0x02, 0x00, 0x05],
        packet: .connack(ConnAckPacket(sessionPresent: false, reasonCode: .v311NotAuthorized)))

    /// 5.0 §3.2: flags 1, reason 1, properties 1 + 16. RL 19.
    static let connack5 = GoldenVector(
        name: "CONNACK properties", version: .v5,
        bytes: [0x20, 0x13, 0x00, 0x00,
                0x10,                                   // property length 16
                0x12, 0x00, 0x04] + a("auto") + [       // assigned client identifier
                0x22, 0x00, 0x05,                       // topic alias maximum 5
                0x24, 0x01,                             // maximum QoS 1
                0x25, 0x00,                             // retain available 0
                0x2A, 0x01],                            // shared subscription available 1
        packet: .connack(ConnAckPacket(sessionPresent: false, reasonCode: .success, properties: {
            var p = MQTTProperties()
            p.assignedClientIdentifier = "auto"; p.topicAliasMaximum = 5; p.maximumQoS = 1
            p.retainAvailable = 0; p.sharedSubscriptionAvailable = 1
            return p
        }())))
    static let connack5Refused = GoldenVector(
        name: "CONNACK not authorized", version: .v5, bytes: [0x20, 0x03, 0x00, 0x87, 0x00],
        packet: .connack(ConnAckPacket(sessionPresent: false, reasonCode: .notAuthorized)))

    // MARK: PUBLISH

    /// topic 5 + payload 2 = RL 7.
    static let publish311QoS0 = GoldenVector(
        name: "PUBLISH QoS 0", version: .v311,
        bytes: [0x30, 0x07, 0x00, 0x03] + a("a/b") + a("hi"),
        packet: .publish(PublishPacket(topic: "a/b", payload: a("hi"))))
    /// DUP 0x08 | QoS 1 0x02 | RETAIN 0x01; topic 5 + id 2 + payload 3 = RL 10.
    static let publish311QoS1 = GoldenVector(
        name: "PUBLISH QoS 1 dup retain", version: .v311,
        bytes: [0x3B, 0x0A, 0x00, 0x03] + a("a/b") + [0x00, 0x0A, 0x01, 0x02, 0x03],
        packet: .publish(PublishPacket(topic: "a/b", payload: [1, 2, 3], qos: .atLeastOnce, retain: true, dup: true, packetId: 10)))
    /// QoS 2 0x04; topic 3 + id 2 + empty payload = RL 5.
    static let publish311QoS2 = GoldenVector(
        name: "PUBLISH QoS 2 empty payload", version: .v311,
        bytes: [0x34, 0x05, 0x00, 0x01] + a("x") + [0x12, 0x34],
        packet: .publish(PublishPacket(topic: "x", payload: [], qos: .exactlyOnce, packetId: 0x1234)))

    /// Empty topic with a topic alias: topic 2 + properties 1+3 + payload 1 = RL 7.
    static let publish5QoS0Alias = GoldenVector(
        name: "PUBLISH QoS 0 topic alias, empty topic", version: .v5,
        bytes: [0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x07] + a("p"),
        packet: .publish(PublishPacket(topic: "", payload: a("p"), properties: {
            var p = MQTTProperties(); p.topicAlias = 7; return p
        }())))
    /// topic 5 + id 2 + properties (1 + 44) + payload 2 = RL 54.
    static let publish5QoS1 = GoldenVector(
        name: "PUBLISH QoS 1 all properties", version: .v5,
        bytes: [0x32, 0x36, 0x00, 0x03] + a("s/1") + [0x00, 0x01,
                0x2C,                                  // property length 44
                0x01, 0x01,                            // payload format indicator 1       (2)
                0x02, 0x00, 0x00, 0x00, 0x3C,          // message expiry 60                 (5)
                0x03, 0x00, 0x01] + a("j") + [         // content type "j"                  (4)
                0x08, 0x00, 0x03] + a("r/1") + [       // response topic "r/1"              (6)
                0x09, 0x00, 0x02, 0xCA, 0xFE,          // correlation data CA FE            (5)
                0x0B, 0x05,                            // subscription identifier 5         (2)
                0x0B, 0x80, 0x01,                      // subscription identifier 128       (3)
                0x23, 0x00, 0x02,                      // topic alias 2                     (3)
                0x26, 0x00, 0x01] + a("a") + [0x00, 0x01] + a("b") + [  // user a=b        (7)
                0x26, 0x00, 0x01] + a("a") + [0x00, 0x01] + a("c") +    // user a=c        (7)
               a("ok"),
        packet: .publish(PublishPacket(topic: "s/1", payload: a("ok"), qos: .atLeastOnce, packetId: 1, properties: {
            var p = MQTTProperties()
            p.payloadFormatIndicator = 1; p.messageExpiryInterval = 60; p.contentType = "j"
            p.responseTopic = "r/1"; p.correlationData = [0xCA, 0xFE]; p.subscriptionIdentifiers = [5, 128]
            p.topicAlias = 2; p.userProperties = [UserProperty("a", "b"), UserProperty("a", "c")]
            return p
        }())))
    /// QoS 2 0x04 | RETAIN 0x01; topic 3 + id 2 + property length 1 + payload 1 = RL 7.
    static let publish5QoS2 = GoldenVector(
        name: "PUBLISH QoS 2 retain", version: .v5,
        bytes: [0x35, 0x07, 0x00, 0x01] + a("q") + [0xFF, 0xFF, 0x00, 0x00],
        packet: .publish(PublishPacket(topic: "q", payload: [0], qos: .exactlyOnce, retain: true, packetId: 0xFFFF)))

    // MARK: PUBACK, PUBREC, PUBREL, PUBCOMP

    static let puback311 = GoldenVector(name: "PUBACK", version: .v311, bytes: [0x40, 0x02, 0x00, 0x0A],
                                        packet: .puback(PubAckPacket(packetId: 10)))
    static let pubrec311 = GoldenVector(name: "PUBREC", version: .v311, bytes: [0x50, 0x02, 0x00, 0x0B],
                                        packet: .pubrec(PubAckPacket(packetId: 11)))
    static let pubrel311 = GoldenVector(name: "PUBREL", version: .v311, bytes: [0x62, 0x02, 0x00, 0x0C],
                                        packet: .pubrel(PubAckPacket(packetId: 12)))
    static let pubcomp311 = GoldenVector(name: "PUBCOMP", version: .v311, bytes: [0x70, 0x02, 0x00, 0x0D],
                                         packet: .pubcomp(PubAckPacket(packetId: 13)))

    static let puback5Short = GoldenVector(name: "PUBACK short", version: .v5, bytes: [0x40, 0x02, 0x00, 0x0A],
                                           packet: .puback(PubAckPacket(packetId: 10)))
    static let puback5Reason = GoldenVector(name: "PUBACK reason only", version: .v5, bytes: [0x40, 0x03, 0x00, 0x0A, 0x87],
                                            packet: .puback(PubAckPacket(packetId: 10, reasonCode: .notAuthorized)))
    static let pubrec5Reason = GoldenVector(name: "PUBREC reason only", version: .v5, bytes: [0x50, 0x03, 0x00, 0x0B, 0x10],
                                            packet: .pubrec(PubAckPacket(packetId: 11, reasonCode: .noMatchingSubscribers)))
    static let pubrec5Short = GoldenVector(name: "PUBREC short", version: .v5, bytes: [0x50, 0x02, 0x00, 0x0B],
                                           packet: .pubrec(PubAckPacket(packetId: 11)))
    /// id 2 + reason 1 + properties (1 + 7) = RL 11.
    static let pubrel5Long = GoldenVector(
        name: "PUBREL reason string", version: .v5,
        bytes: [0x62, 0x0B, 0x00, 0x0C, 0x92, 0x07, 0x1F, 0x00, 0x04] + a("gone"),
        packet: .pubrel(PubAckPacket(packetId: 12, reasonCode: .packetIdentifierNotFound, properties: {
            var p = MQTTProperties(); p.reasonString = "gone"; return p
        }())))
    static let pubrel5Short = GoldenVector(name: "PUBREL short", version: .v5, bytes: [0x62, 0x02, 0x00, 0x0C],
                                           packet: .pubrel(PubAckPacket(packetId: 12)))
    /// Success with a user property: the reason code must be written. id 2 + 1 + (1 + 7) = RL 11.
    static let pubcomp5Long = GoldenVector(
        name: "PUBCOMP success with user property", version: .v5,
        bytes: [0x70, 0x0B, 0x00, 0x0D, 0x00, 0x07, 0x26, 0x00, 0x01] + a("k") + [0x00, 0x01] + a("v"),
        packet: .pubcomp(PubAckPacket(packetId: 13, properties: {
            var p = MQTTProperties(); p.userProperties = [UserProperty("k", "v")]; return p
        }())))
    static let pubcomp5Short = GoldenVector(name: "PUBCOMP short", version: .v5, bytes: [0x70, 0x02, 0x00, 0x0D],
                                            packet: .pubcomp(PubAckPacket(packetId: 13)))

    // MARK: SUBSCRIBE, SUBACK

    /// id 2 + ("a/+" 5 + QoS 1) + ("b/#" 5 + QoS 2) = RL 14.
    static let subscribe311 = GoldenVector(
        name: "SUBSCRIBE two filters", version: .v311,
        bytes: [0x82, 0x0E, 0x00, 0x01, 0x00, 0x03] + a("a/+") + [0x01, 0x00, 0x03] + a("b/#") + [0x02],
        packet: .subscribe(SubscribePacket(packetId: 1, subscriptions: [
            SubscriptionRequest(filter: "a/+", qos: .atLeastOnce), SubscriptionRequest(filter: "b/#", qos: .exactlyOnce),
        ])))
    /// id 2 + properties (1 + 9) + ("a/+" 5 + 1) + ("$share/g/x" 12 + 1) = RL 31.
    static let subscribe5 = GoldenVector(
        name: "SUBSCRIBE options and properties", version: .v5,
        bytes: [0x82, 0x1F, 0x00, 0x02,
                0x09, 0x0B, 0x2A, 0x26, 0x00, 0x01] + a("k") + [0x00, 0x01] + a("v") + [
                0x00, 0x03] + a("a/+") + [0x1D,        // retain handling 1 0x10 | RAP 0x08 | no local 0x04 | QoS 1
                0x00, 0x0A] + a("$share/g/x") + [0x22], // retain handling 2 0x20 | QoS 2
        packet: .subscribe(SubscribePacket(packetId: 2, subscriptions: [
            SubscriptionRequest(filter: "a/+", qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: 1),
            SubscriptionRequest(filter: "$share/g/x", qos: .exactlyOnce, retainHandling: 2),
        ], properties: {
            var p = MQTTProperties(); p.subscriptionIdentifiers = [42]; p.userProperties = [UserProperty("k", "v")]; return p
        }())))

    static let suback311 = GoldenVector(
        name: "SUBACK", version: .v311, bytes: [0x90, 0x05, 0x00, 0x01, 0x01, 0x02, 0x80],
        packet: .suback(SubAckPacket(packetId: 1, reasonCodes: [.grantedQoS1, .grantedQoS2, .v311SubscribeFailure])))
    /// id 2 + properties (1 + 5) + 2 codes = RL 10.
    static let suback5 = GoldenVector(
        name: "SUBACK reason string", version: .v5,
        bytes: [0x90, 0x0A, 0x00, 0x02, 0x05, 0x1F, 0x00, 0x02] + a("ok") + [0x01, 0xA2],
        packet: .suback(SubAckPacket(packetId: 2, reasonCodes: [.grantedQoS1, .wildcardSubscriptionsNotSupported], properties: {
            var p = MQTTProperties(); p.reasonString = "ok"; return p
        }())))

    // MARK: UNSUBSCRIBE, UNSUBACK

    /// id 2 + "a/+" 5 + "b" 3 = RL 10.
    static let unsubscribe311 = GoldenVector(
        name: "UNSUBSCRIBE", version: .v311,
        bytes: [0xA2, 0x0A, 0x00, 0x03, 0x00, 0x03] + a("a/+") + [0x00, 0x01] + a("b"),
        packet: .unsubscribe(UnsubscribePacket(packetId: 3, filters: ["a/+", "b"])))
    /// id 2 + properties (1 + 7) + "$share/g/x" 12 = RL 22.
    static let unsubscribe5 = GoldenVector(
        name: "UNSUBSCRIBE user property", version: .v5,
        bytes: [0xA2, 0x16, 0x00, 0x04, 0x07, 0x26, 0x00, 0x01] + a("k") + [0x00, 0x01] + a("v") +
               [0x00, 0x0A] + a("$share/g/x"),
        packet: .unsubscribe(UnsubscribePacket(packetId: 4, filters: ["$share/g/x"], properties: {
            var p = MQTTProperties(); p.userProperties = [UserProperty("k", "v")]; return p
        }())))
    static let unsuback311 = GoldenVector(name: "UNSUBACK", version: .v311, bytes: [0xB0, 0x02, 0x00, 0x03],
                                          packet: .unsuback(UnsubAckPacket(packetId: 3)))
    /// id 2 + property length 1 + 2 codes = RL 5.
    static let unsuback5 = GoldenVector(
        name: "UNSUBACK codes", version: .v5, bytes: [0xB0, 0x05, 0x00, 0x04, 0x00, 0x00, 0x11],
        packet: .unsuback(UnsubAckPacket(packetId: 4, reasonCodes: [.success, .noSubscriptionExisted])))

    // MARK: PINGREQ, PINGRESP, DISCONNECT, AUTH

    static let pingreq311 = GoldenVector(name: "PINGREQ", version: .v311, bytes: [0xC0, 0x00], packet: .pingreq)
    static let pingresp311 = GoldenVector(name: "PINGRESP", version: .v311, bytes: [0xD0, 0x00], packet: .pingresp)
    static let pingreq5 = GoldenVector(name: "PINGREQ", version: .v5, bytes: [0xC0, 0x00], packet: .pingreq)
    static let pingresp5 = GoldenVector(name: "PINGRESP", version: .v5, bytes: [0xD0, 0x00], packet: .pingresp)

    static let disconnect311 = GoldenVector(name: "DISCONNECT", version: .v311, bytes: [0xE0, 0x00],
                                            packet: .disconnect(DisconnectPacket()))
    static let disconnect5Short = GoldenVector(name: "DISCONNECT short", version: .v5, bytes: [0xE0, 0x00],
                                               packet: .disconnect(DisconnectPacket()))
    static let disconnect5Reason = GoldenVector(name: "DISCONNECT reason only", version: .v5, bytes: [0xE0, 0x01, 0x04],
                                                packet: .disconnect(DisconnectPacket(reasonCode: .disconnectWithWill)))
    /// reason 1 + properties (1 + 16) = RL 18.
    static let disconnect5Long = GoldenVector(
        name: "DISCONNECT reason and properties", version: .v5,
        bytes: [0xE0, 0x12, 0x8B, 0x10,
                0x11, 0x00, 0x00, 0x00, 0x00,          // session expiry 0         (5)
                0x1C, 0x00, 0x02] + a("h2") + [        // server reference "h2"    (5)
                0x1F, 0x00, 0x03] + a("bye"),          // reason string "bye"      (6)
        packet: .disconnect(DisconnectPacket(reasonCode: .serverShuttingDown, properties: {
            var p = MQTTProperties(); p.sessionExpiryInterval = 0; p.serverReference = "h2"; p.reasonString = "bye"; return p
        }())))

    static let auth5Short = GoldenVector(name: "AUTH short", version: .v5, bytes: [0xF0, 0x00], packet: .auth(AuthPacket()))
    /// reason 1 + properties (1 + 14) = RL 16.
    static let auth5 = GoldenVector(
        name: "AUTH continue", version: .v5,
        bytes: [0xF0, 0x10, 0x18, 0x0E,
                0x15, 0x00, 0x05] + a("SCRAM") + [     // authentication method    (8)
                0x16, 0x00, 0x03, 0x01, 0x02, 0x03],   // authentication data      (6)
        packet: .auth(AuthPacket(reasonCode: .continueAuthentication, properties: {
            var p = MQTTProperties(); p.authenticationMethod = "SCRAM"; p.authenticationData = [1, 2, 3]; return p
        }())))

    static let all: [GoldenVector] = [
        connect311, connect5, connect5Minimal,
        connack311, connack311Refused, connack5, connack5Refused,
        publish311QoS0, publish311QoS1, publish311QoS2, publish5QoS0Alias, publish5QoS1, publish5QoS2,
        puback311, pubrec311, pubrel311, pubcomp311,
        puback5Short, puback5Reason, pubrec5Short, pubrec5Reason, pubrel5Short, pubrel5Long, pubcomp5Short, pubcomp5Long,
        subscribe311, subscribe5, suback311, suback5,
        unsubscribe311, unsubscribe5, unsuback311, unsuback5,
        pingreq311, pingresp311, pingreq5, pingresp5,
        disconnect311, disconnect5Short, disconnect5Reason, disconnect5Long,
        auth5Short, auth5,
    ]
}
