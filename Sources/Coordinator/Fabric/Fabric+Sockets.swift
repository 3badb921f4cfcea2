import FleetCore
import FleetProtocol

/// What the coordinator holds for the socket service (issue #14): the function mappings (the
/// source of truth, persisted and pushed to every agent) and the agents' latest socket reports.
struct SocketServiceState {
    /// Mapping name -> canonical JSON document.
    var mappings: [String: String] = [:]
    /// A mapping was set at some point (stored): from then on every HELLO gets the complete set,
    /// even an empty one, so an agent that was away when the last one was deleted drops it too.
    /// A fleet that never used mappings hears nothing of them.
    var inUse = false
    /// Per gateway: its latest complete report, and the one being received in parts.
    var reports: [String: FleetFrame.SocketReport] = [:]
    var partialReports: [String: FleetFrame.SocketReport] = [:]
    /// Per gateway: its sockets' links (PEER_REPORT, issue #15), latest complete and in parts.
    var peerReports: [String: FleetFrame.PeerReport] = [:]
    var partialPeerReports: [String: FleetFrame.PeerReport] = [:]
    /// Cross-gateway peering (PEER_ASK): who waits, who may be named, where each asker accepts.
    var peerDirectory = PeerDirectory<SocketKey>()
    var peerAddresses: [SocketKey: String] = [:]
    var peerAsked: [String: Set<String>] = [:]
    /// Per gateway and mapping: the cumulative call figures last reported, to count what grew.
    var lastCalls: [String: [String: FleetFrame.SocketReport.MappingCalls]] = [:]
    /// Per mapping, fleet-wide since this coordinator started: errors, latency sum and buckets.
    var calls: [String: FleetFrame.SocketReport.MappingCalls] = [:]
}

/// Mappings pushed to agents (MAPPINGS, Protocol/agent-coordinator.md §5.25) and their socket reports
/// (SOCKET_REPORT, §5.26). A mapping is stored before it is pushed; each gateway gets the complete
/// set after every HELLO. Loop-thread only.
extension Fabric {
    func restoreMappings() throws {
        sockets.mappings = try store.loadMappings()
        let stored: Bool? = try store.loadSetting("mappings_in_use")
        sockets.inUse = !sockets.mappings.isEmpty || stored == true
    }

    /// `PUT /v1/mappings/{name}` with an already validated, canonical document. Returns whether
    /// it was stored (and so pushed).
    func putMapping(_ name: String, document: String) -> Bool {
        do { try store.saveMapping(name, document: document) } catch {
            log.error("mapping \(name) could not be stored: \(error)")
            return false
        }
        sockets.mappings[name] = document
        if !sockets.inUse {
            sockets.inUse = true
            do { try store.saveSetting("mappings_in_use", json: true) } catch { log.error("mappings_in_use could not be stored: \(error)") }
        }
        pushToAll(.init(name: name, document: document))
        log.notice("mapping \(name) set and pushed to \(gatewayConnections.count) gateways")
        return true
    }

    /// `DELETE /v1/mappings/{name}`: false when there is no such mapping.
    func deleteMapping(_ name: String) -> Bool? {
        guard sockets.mappings[name] != nil else { return false }
        do { try store.deleteMapping(name) } catch {
            log.error("mapping \(name) could not be deleted: \(error)")
            return nil
        }
        sockets.mappings[name] = nil
        pushToAll(.init(name: name, document: ""))
        log.notice("mapping \(name) deleted")
        return true
    }

    private func pushToAll(_ entry: FleetFrame.Mappings.Entry) {
        for c in gatewayConnections.values { c.send(.mappings(.init(replaces: false, isLast: false, entries: [entry]))) }
    }

    /// After HELLO: the gateway's pushed mappings become the complete set.
    func mappingsGatewayUp(_ id: String) {
        guard sockets.inUse, let c = gatewayConnections[id] else { return }
        let entries = sockets.mappings.keys.sorted().map { FleetFrame.Mappings.Entry(name: $0, document: sockets.mappings[$0]!) }
        for part in FleetFrame.Mappings.replacingSet(entries) { c.send(.mappings(part)) }
    }

    /// A gateway that went away holds no sockets any more.
    func socketsGatewayDown(_ id: String) {
        sockets.reports[id] = nil
        sockets.partialReports[id] = nil
        sockets.peerReports[id] = nil
        sockets.partialPeerReports[id] = nil
        peersGatewayDown(id)
    }

    func socketReport(_ r: FleetFrame.SocketReport, from id: String) {
        var current = r.isFirst ? FleetFrame.SocketReport(isFirst: true, isLast: false, sockets: [], mappings: []) : (sockets.partialReports[id] ?? r)
        if !r.isFirst {
            guard sockets.partialReports[id] != nil else { return }  // a part without its first: wait for the next report
            current.sockets += r.sockets
            current.mappings += r.mappings
        } else {
            current.sockets = r.sockets
            current.mappings = r.mappings
        }
        guard r.isLast else {
            sockets.partialReports[id] = current
            return
        }
        sockets.partialReports[id] = nil
        sockets.reports[id] = current
        countCalls(current.mappings, from: id)
    }

    /// Adds what each mapping's cumulative figures grew by since this gateway's last report (all
    /// of them after the agent restarted: they start again from 0).
    private func countCalls(_ mappings: [FleetFrame.SocketReport.MappingCalls], from id: String) {
        let bounds = FleetLimits.callLatencyBoundsMs.count + 1
        for m in mappings where m.buckets.count == bounds {
            let before = sockets.lastCalls[id]?[m.mapping]
            let restarted = before.map { $0.buckets.last ?? 0 > m.buckets.last ?? 0 || $0.errors > m.errors } ?? true
            let base = restarted ? FleetFrame.SocketReport.MappingCalls(mapping: m.mapping, errors: 0, latencySumMs: 0,
                                                                        buckets: Array(repeating: 0, count: bounds)) : before!
            var total = sockets.calls[m.mapping] ?? .init(mapping: m.mapping, errors: 0, latencySumMs: 0, buckets: Array(repeating: 0, count: bounds))
            total.errors &+= m.errors &- base.errors
            total.latencySumMs &+= m.latencySumMs &- min(base.latencySumMs, m.latencySumMs)
            for i in 0..<bounds { total.buckets[i] &+= m.buckets[i] &- min(base.buckets[i], m.buckets[i]) }
            sockets.calls[m.mapping] = total
            sockets.lastCalls[id, default: [:]][m.mapping] = m
        }
    }
}
