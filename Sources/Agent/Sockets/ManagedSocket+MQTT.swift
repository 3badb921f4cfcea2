import FleetConfig
import FleetCore
import FleetRuntime

/// A socket whose mapping has an MQTT endpoint (MQTTEndpoint): its events are published into the
/// broker, and a tap on `<prefix>/<socket-id>/tx` writes the function's messages to the device
/// (only with `reply: write`). Loop-thread only.
extension ManagedSocket {
    /// Before the open event: the tap first, so a function that answers the open event at once
    /// is heard. The tap counts as local interest, so answers come from any gateway.
    func startMQTT(prefix: String, socketId: String, mapping: SocketMapping) {
        let endpoint = MQTTEndpoint(prefix: prefix, socketId: socketId, mapping: mappingName ?? "", clientId: clientId,
                                    identity: identityName, gatewayId: service.gatewayId)
        mqtt = endpoint
        guard mapping.reply == .write else { return }
        service.broker.addTap(topic: endpoint.txTopic) { [weak self] message in self?.commandArrived(message) }
    }

    func stopMQTT() {
        guard let mqtt else { return }
        service.broker.removeTap(topic: mqtt.txTopic)
        self.mqtt = nil
    }

    /// A message on the tx topic. Runs inside the broker's routing, so a close it asks for waits
    /// for the next turn (a close publishes the close event: Broker+Taps).
    private func commandArrived(_ message: Message) {
        guard phase == .open || phase == .closing else { return }
        let (bytes, close) = MQTTEndpoint.command(message)
        if !bytes.isEmpty {
            bytesOut &+= UInt64(bytes.count)
            stream.write(bytes)
        }
        guard close, phase == .open else { return }
        let timer = LoopTimer(loop: service.loop)
        timer.start(afterMilliseconds: 0) { [weak self] in
            timer.close()
            self?.close(reason: "the function asked")
        }
    }

    /// Publishes as this socket: the broker holds the socket's reading if a subscriber it feeds
    /// is congested or the forward log is full, as it would a device publisher's.
    func publish(_ message: Message) {
        let broker = service.broker
        let previous = broker.currentPublisher
        broker.currentPublisher = self
        defer { broker.currentPublisher = previous }
        broker.publishLocally(message)
    }
}
