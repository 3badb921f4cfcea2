/// An operator removes a gateway from the fleet (`DELETE /v1/gateways/{id}`). Loop-thread only.
extension Fabric {
    enum Removal: Equatable {
        case removed
        case notFound
        /// A live gateway is not removed: it would say HELLO again at once. Drain or stop it first.
        case connected
    }

    /// Forgets a gateway that is not connected: its record, link and durable interest, in memory
    /// and on disk, and everything held for it (origins may then drop those forwards).
    func removeGateway(_ id: String) -> Removal {
        guard gatewayConnections[id] == nil else { return .connected }
        guard gateways.removeValue(forKey: id) != nil else { return .notFound }
        links[id] = nil
        do { try store.deleteGateway(id) } catch { log.error("cannot delete gateway \(id) from the store: \(error)") }
        durableInterest[id] = nil
        broadcast(interest.removeMember(id))
        delivery.remove(id)
        log.notice("gateway \(id) removed by an operator")
        return .removed
    }
}
