import FleetConfig
import Foundation
import Testing
import FleetCore
import FleetProtocol
@testable import FleetAgent

/// The link's pure parts: backoff, remote interest rules, the outbound log, interest chunks, config.
@Suite struct LinkUnitTests {
    @Test func backoffGrowsAndStaysBounded() {
        let b = Backoff(minMs: 100, maxMs: 5_000)
        #expect(b.delay(attempt: 0, unit: 1) == 100)
        #expect(b.delay(attempt: 0, unit: 0) == 50)
        #expect(b.delay(attempt: 3, unit: 1) == 800)
        var previousCeiling: UInt64 = 0
        for attempt in 0..<200 {
            let low = b.delay(attempt: attempt, unit: 0), high = b.delay(attempt: attempt, unit: 1)
            #expect(low <= high && high <= 5_000 && low >= 50)
            #expect(high >= previousCeiling)
            previousCeiling = high
            let mid = b.delay(attempt: attempt, unit: 0.5)
            #expect(mid >= low && mid <= high)
        }
        #expect(b.delay(attempt: Int.max, unit: 1) == 5_000)
    }

    private func snap(_ e: UInt64, _ s: UInt64, last: Bool, _ f: [String]) -> FleetFrame.RemoteInterest {
        .snapshot(FleetFrame.InterestSnapshot(epoch: e, sequence: s, isLast: last, filters: f))
    }
    private func delta(_ e: UInt64, _ s: UInt64, add: [String] = [], remove: [String] = []) -> FleetFrame.RemoteInterest {
        .delta(FleetFrame.InterestDelta(epoch: e, sequence: s, added: add, removed: remove))
    }

    @Test func remoteInterestSwapsAtLastPartAndKeepsTheOldTableUntilThen() {
        let t = RemoteInterestTable()
        #expect(t.wants("a/1") && t.wants("c"))         // no view yet: nothing can be ruled out
        #expect(t.apply(snap(1, 0, last: false, ["a/+"])) == .applied)
        #expect(t.wants("c") && !t.hasView)             // not complete yet
        #expect(t.apply(snap(1, 1, last: true, ["b/#"])) == .applied)
        #expect(t.wants("a/1") && t.wants("b/x/y") && !t.wants("c"))
        #expect(t.apply(delta(1, 2, add: ["c"], remove: ["a/+"])) == .applied)
        #expect(t.wants("c") && !t.wants("a/1"))
        // A new connection: the table stays in force until the new snapshot's LAST part.
        t.connectionStarted()
        #expect(t.apply(snap(1, 0, last: false, ["z"])) == .applied)
        #expect(t.wants("c") && !t.wants("z"))
        #expect(t.apply(snap(1, 1, last: true, [])) == .applied)
        #expect(t.wants("z") && !t.wants("c") && t.filterCount == 1)
    }

    @Test func anEmptyFirstSnapshotIsAViewThatWantsNothing() {
        let t = RemoteInterestTable()
        #expect(t.apply(snap(1, 0, last: true, [])) == .applied)
        #expect(t.hasView && !t.wants("a") && !t.wants("$SYS/x"))
        t.connectionStarted()                           // a reconnect keeps the view
        #expect(!t.wants("a"))
    }

    @Test func remoteInterestOutOfSyncAndStaleEpochs() {
        let t = RemoteInterestTable()
        #expect(t.apply(delta(1, 0, add: ["x"])) == .outOfSync(shouldReport: true))   // delta before any snapshot
        #expect(t.apply(delta(1, 1, add: ["x"])) == .outOfSync(shouldReport: false))  // reported once per epoch
        #expect(t.apply(snap(2, 0, last: true, ["a"])) == .applied)
        #expect(t.apply(delta(2, 5, add: ["b"])) == .outOfSync(shouldReport: true))   // sequence gap
        #expect(!t.wants("b"))
        #expect(t.apply(snap(1, 0, last: true, ["old"])) == .stale)
        #expect(t.apply(delta(1, 1, add: ["old"])) == .stale)
        #expect(t.apply(snap(3, 0, last: true, ["b"])) == .applied)
        #expect(t.apply(delta(3, 1, add: ["c"])) == .applied)
        #expect(t.wants("b") && t.wants("c") && !t.wants("a"))
    }

    @Test func outboundLogConfirmsCumulativelyAndSelectivelyAndRewinds() {
        var log = OutboundLog()
        let m = Message(topic: "t", payload: [], qos: .atLeastOnce, retain: false)
        for seq in [3, 5, 6, 9] as [UInt64] { log.append(seq: seq, message: m) }
        var sent: [UInt64] = []
        while let e = log.nextUnsent() { sent.append(e.seq); log.advance() }
        #expect(sent == [3, 5, 6, 9])
        #expect(log.confirm(upTo: 5) == 2)
        let nine = log.confirm(seq: 9), seven = log.confirm(seq: 7)
        #expect(nine && !seven)
        #expect(log.sequences == [6] && log.count == 1)
        log.rewind()
        #expect(log.nextUnsent()?.seq == 6)
        log.advance()
        #expect(log.nextUnsent() == nil)
        #expect(log.confirm(upTo: 100) == 1)
        #expect(log.count == 0 && log.sequences.isEmpty)
    }

    @Test func deltaChunksRespectCountAndBytes() {
        let chunks = InterestStream.chunks(added: (0..<5).map { "a/\($0)" }, removed: ["r/1", "r/2"], maxFilters: 2)
        #expect(chunks.flatMap(\.0) == (0..<5).map { "a/\($0)" })
        #expect(chunks.flatMap(\.1) == ["r/1", "r/2"])
        #expect(chunks.allSatisfy { $0.0.count <= 2 && $0.1.count <= 2 })
        let big = String(repeating: "x", count: 40_000)
        let byBytes = InterestStream.chunks(added: [big + "1", big + "2", big + "3"], removed: [], maxFilters: 4096)
        #expect(byBytes.count == 3)
    }

    // MARK: Config

    private func load(_ yaml: String) throws(ConfigError) -> AgentConfig {
        var config = AgentConfig()
        try ConfigFile.apply(yaml: yaml, file: "agent.yaml", to: &config)
        return config
    }

    private func tokenFile(_ contents: String) throws -> String {
        let path = NSTemporaryDirectory() + "fleetgate-token-\(UUID().uuidString)"
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func coordinatorSectionIsParsedAndResolved() throws {
        let token = try tokenFile("  abc123\n")
        defer { try? FileManager.default.removeItem(atPath: token) }
        let c = try load("""
            coordinator:
              address: 127.0.0.1:7000
              token_file: \(token)
              gateway_id: gw-1
              advertise: gw1.example:1883
              region: eu
              labels: {rack: "4", tier: edge}
              capacity: 5
              reconnect_min_ms: 100
              reconnect_max_ms: 2000
              max_unconfirmed_forwards: 500
            """)
        let coordinator = try #require(c.coordinator)
        #expect(coordinator.maxUnconfirmedForwards == 500)
        #expect(coordinator.address == ListenAddress(host: "127.0.0.1", port: 7000))
        let s = try coordinator.resolved(file: nil)
        #expect(s.gatewayId == "gw-1" && s.token == Array("abc123".utf8))
        #expect(s.advertise == "gw1.example:1883" && s.region == "eu" && s.capacity == 5)
        #expect(s.labels == [FleetFrame.Label("rack", "4"), FleetFrame.Label("tier", "edge")])
        #expect(s.backoff == Backoff(minMs: 100, maxMs: 2000))
    }

    @Test("a wildcard advertised address is refused: a redirect to it could not be followed",
          arguments: [("0.0.0.0:1883", true), ("[::]:1883", true), (":1883", true), ("::", true), ("", true),
                      ("10.0.0.1:1883", false), ("[::1]:1883", false), ("gw1.example:1883", false), ("[fe80::1]:1883", false)])
    func wildcardAdvertise(_ address: String, _ wildcard: Bool) throws {
        #expect(AdvertisedAddress.isWildcard(address) == wildcard)
        guard !address.isEmpty else { return }  // an empty value means "not set" in the file
        let token = try tokenFile("t\n")
        defer { try? FileManager.default.removeItem(atPath: token) }
        do {
            // Some forms the file's parser refuses already (no host, IPv6 without brackets); the
            // rest reach the link's own check. Either way the key is named.
            let c = try #require(try load("coordinator:\n  address: 10.0.0.9:7420\n  gateway_id: gw-1\n  token_file: \(token)\n  advertise: \"\(address)\"\n").coordinator)
            _ = try c.resolved(file: "agent.yaml")
            #expect(!wildcard, "\(address) was accepted")
        } catch let error as ConfigError {
            #expect(wildcard && error.key == "coordinator.advertise", "\(address): \(error)")
        }
    }

    @Test func coordinatorTLSNeedsTheCAAndCertificateWithKey() throws {
        let token = try tokenFile("t\n")
        defer { try? FileManager.default.removeItem(atPath: token) }
        let base = "coordinator:\n  address: 10.0.0.9:7420\n  gateway_id: gw-1\n  token_file: \(token)\n"
        let plain = try #require(try load(base).coordinator).resolved(file: nil)
        #expect(plain.tls == nil)
        let full = try #require(try load(base + "  tls: {ca: ca.pem, cert: gw-1.pem, key: gw-1.key}\n").coordinator).resolved(file: nil)
        #expect(full.tls?.client.caFile == "ca.pem" && full.tls?.client.certificateChainFile == "gw-1.pem")
        #expect(full.tls?.client.privateKeyFile == "gw-1.key" && full.tls?.client.verifyServer == true)
        #expect(full.tls?.serverName == "10.0.0.9")               // default: the address's host
        let named = try #require(try load(base + "  tls: {ca: ca.pem, server_name: coord.fleet}\n").coordinator).resolved(file: nil)
        #expect(named.tls?.serverName == "coord.fleet" && named.tls?.client.certificateChainFile == nil)
        for (yaml, key) in [("  tls: {cert: a.pem, key: a.key}\n", "coordinator.tls.ca"),
                            ("  tls: {ca: ca.pem, cert: a.pem}\n", "coordinator.tls.key"),
                            ("  tls: {ca: ca.pem, key: a.key}\n", "coordinator.tls.cert")] {
            do {
                _ = try #require(try load(base + yaml).coordinator).resolved(file: "agent.yaml")
                Issue.record("expected an error for \(yaml)")
            } catch let error as ConfigError {
                #expect(error.key == key, "\(yaml)")
            }
        }
        do {
            _ = try load(base + "  tls: {ca: ca.pem, crt: a.pem}\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "coordinator.tls.crt" && error.line == 5)
        }
    }

    @Test func tokenFileMustExistAndNotBeEmpty() throws {
        do {
            _ = try load("coordinator:\n  token_file: /nonexistent/token\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "coordinator.token_file" && error.line == 2 && error.file == "agent.yaml")
        }
        let empty = try tokenFile(" \n")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        do {
            _ = try load("coordinator:\n  token_file: \(empty)\n")
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "coordinator.token_file" && error.message.contains("empty"))
        }
    }

    @Test func incompleteOrUnknownCoordinatorSettingsAreNamed() throws {
        #expect(throws: ConfigError.self) { try load("coordinator:\n  adress: 127.0.0.1:1\n") }
        let partial = try load("coordinator:\n  address: 127.0.0.1:7000\n")
        do {
            try partial.coordinator?.validate(file: "agent.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "coordinator.gateway_id")
        }
        var c = CoordinatorLinkConfig()
        c.address = ListenAddress(host: "127.0.0.1", port: 1)
        c.gatewayId = "gw"
        do { try c.validate(file: nil); Issue.record("expected an error") } catch { #expect(error.key == "coordinator.token_file") }
    }
}
