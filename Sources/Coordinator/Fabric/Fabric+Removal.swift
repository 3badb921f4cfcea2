/// An operator removes a gateway from the fleet (`DELETE /v1/gateways/{id}`). Loop-thread only.
extension Fabric {
    enum Removal: Equatable {
        case removed
        case notFound
        /// A live gateway is not removed: it would say HELLO again at once. Drain or stop it first.
        case connected
    }

    /// Forgets a gateway that is not connected: its record and link, in memory and on disk, and
    /// the coordinator's wait for it after a restart (recovery ends early if it was the last).
    /// Its interest and deliveries already left with its session (`sessionEnded`).
    func removeGateway(_ id: String) -> Removal {
        guard gatewayConnections[id] == nil else { return .connected }
        guard gateways.removeValue(forKey: id) != nil else { return .notFound }
        links[id] = nil
        do { try store.deleteGateway(id) } catch { log.error("cannot delete gateway \(id) from the store: \(error)") }
        log.notice("gateway \(id) removed by an operator")
        recoveryInterestKnown(id)  // nobody waits for a gateway that no longer exists
        return .removed
    }
}
