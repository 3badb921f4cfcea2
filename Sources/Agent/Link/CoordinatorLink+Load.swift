import FleetProtocol
import FleetRuntime

/// LOAD_REPORT (Protocol/agent-coordinator.md §5.5): sent with every heartbeat, so the coordinator chooses the
/// cadence. Loop-thread only.
extension CoordinatorLink {
    /// The broker's monotonic counters now. Bytes out are every byte the loop wrote (devices and
    /// the coordinator link alike): what the host's network carries.
    var loadTotals: LoadSampler.Totals {
        LoadSampler.Totals(messagesIn: broker.metrics.messagesReceived, messagesOut: broker.metrics.messagesSent,
                           bytesIn: broker.metrics.bytesReceived, bytesOut: loop.statistics.bytesWritten)
    }

    /// A new link session: the first report covers the time from now.
    func restartLoadSampling() {
        loadSampler = LoadSampler(startMs: loop.now, totals: loadTotals)
        _ = takeTalkers()
    }

    /// Every client that published since the last call, with its counts; the counts start over.
    private func takeTalkers() -> [LoadSampler.Talker] {
        var talkers: [LoadSampler.Talker] = []
        for session in broker.sessions.values where session.publishedSinceReport > 0 {
            talkers.append(.init(clientId: session.clientId, messages: session.publishedSinceReport,
                                 bytes: session.publishedBytesSinceReport))
            session.publishedSinceReport = 0
            session.publishedBytesSinceReport = 0
        }
        return talkers
    }

    /// The report for the interval since the previous one.
    func makeLoadReport() -> FleetFrame.LoadReport {
        let talkers = takeTalkers()
        return loadSampler.report(nowMs: loop.now, wallClockMs: broker.now, totals: loadTotals,
                                  connections: broker.metrics.clientsConnected, talkers: talkers,
                                  maxFrameBytes: connection?.peerMaximumFrameSize ?? FleetLimits.defaultMaximumFrameSize,
                                  relayedBytes: broker.metrics.relayedBytesToTarget &+ broker.metrics.relayedBytesFromTarget)
    }
}
