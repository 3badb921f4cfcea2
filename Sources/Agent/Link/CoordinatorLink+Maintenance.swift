import FleetProtocol
import FleetRuntime

// Maintenance on the link (Protocol/agent-coordinator.md §5.21-§5.24, issue #13): AVAILABILITY_QUERY and
// MAINTENANCE_RUN go to the agent's MaintenanceRunner; its answers go out on the connection that
// is up when they are ready, an AVAILABILITY with what this gateway holds now. An answer ready
// while the link is down is dropped: the coordinator asks again and re-sends its MAINTENANCE_RUN
// after reconnecting, and the runner answers a repeat from its store. Loop-thread only.
extension CoordinatorLink {
    /// Hands the runner this link's frames and gives it this link as the way out.
    func attachMaintenance(_ runner: MaintenanceRunner) {
        maintenance = runner
        runner.send = { [weak self] frame in self?.sendMaintenanceAnswer(frame) }
    }

    func receivedMaintenanceFrame(_ frame: FleetFrame, on c: CoordinatorConnection) {
        switch frame {
        case .availabilityQuery(let q):
            guard let maintenance else {
                return sendMaintenanceAnswer(.availability(.init(queryId: q.queryId, answer: .unknownOperation,
                                                                 reason: "maintenance is not set up on this gateway")))
            }
            maintenance.received(q)
        case .maintenanceRun(let r):
            guard let maintenance else {
                return sendMaintenanceAnswer(.maintenanceResult(.init(runId: r.runId, fencing: r.fencing, state: .refused,
                                                                      reason: "maintenance is not set up on this gateway")))
            }
            maintenance.received(r)
        default:
            break
        }
    }

    /// Sends on the established connection, or drops (see above). AVAILABILITY gets the
    /// connections, sessions and message rate of this moment (the rate of the last LOAD_REPORT).
    func sendMaintenanceAnswer(_ frame: FleetFrame) {
        guard isEstablished, let c = connection else {
            log.info("coordinator link: down; \(frame.kind) not sent (the coordinator asks again after reconnecting)")
            return
        }
        if case .availability(var a) = frame {
            a.connections = UInt32(clamping: broker.metrics.clientsConnected)
            a.sessions = UInt32(clamping: broker.sessions.count)
            a.messagesInPerSecond = loadSampler.lastMessagesInPerSecond
            return c.sendControl(.availability(a))
        }
        c.sendControl(frame)
    }
}
