import Foundation
import Testing
@testable import FleetCoordinator

/// The maintenance policy as the API reads it (issue #13): the issue's own example, every
/// invalid field named by its path, and the stored form reading back what was written.
@Suite struct MaintenancePolicyTests {
    static func parse(_ json: String) throws(MaintenancePolicyError) -> MaintenancePolicy {
        let object = try! JSONSerialization.jsonObject(with: Data(json.utf8))
        return try MaintenancePolicy(json: object)
    }

    static let window = #"{"days": ["sat", "sun"], "start": "01:00", "end": "05:00", "timezone": "Europe/Paris"}"#

    @Test("the issue's example policy")
    func issueExample() throws {
        let p = try Self.parse(#"{"max_concurrent": 1, "min_active": 1, "windows": [\#(Self.window)], "max_errors": 0}"#)
        #expect(p.maxConcurrent == .count(1) && p.minActive == .count(1) && p.maxErrors == .count(0))
        #expect(p.windows.count == 1)
        #expect(p.windows[0].days == [.sat, .sun] && p.windows[0].startMinute == 60 && p.windows[0].endMinute == 300)
        #expect(p.windows[0].timeZone.identifier == "Europe/Paris")
        #expect(p.drain == .init(deadlineSeconds: 300, rate: 500) && p.verify.healthySeconds == 60 && p.cutoffSeconds == 0)
    }

    @Test("counts or percentages; no windows means always open")
    func amounts() throws {
        let p = try Self.parse(#"{"max_concurrent": "25%", "min_active": "50%", "max_errors": "10%", "cutoff_s": 600,"#
            + #" "drain": {"deadline_s": 120, "rate": 50}, "verify": {"healthy_s": 30}}"#)
        #expect(p.maxConcurrent == .percent(25) && p.minActive == .percent(50) && p.maxErrors == .percent(10))
        #expect(p.windows.isEmpty && p.openHours.state(atMs: 0) == .open(closesAtMs: nil))
        #expect(p.drain == .init(deadlineSeconds: 120, rate: 50) && p.verify.healthySeconds == 30 && p.cutoffSeconds == 600)
    }

    struct Rounding: CustomTestStringConvertible, Sendable {
        let amount: MaintenanceAmount
        let whole: Int
        let maxConcurrent: Int, minActive: Int, maxErrors: Int
        var testDescription: String { "\(amount) of \(whole)" }
    }

    @Test("percentages round to the careful side: concurrency and errors down (concurrency at least 1), min_active up",
          arguments: [
              Rounding(amount: .percent(10), whole: 6, maxConcurrent: 1, minActive: 1, maxErrors: 0),
              Rounding(amount: .percent(50), whole: 5, maxConcurrent: 2, minActive: 3, maxErrors: 2),
              Rounding(amount: .percent(10), whole: 30, maxConcurrent: 3, minActive: 3, maxErrors: 3),
              Rounding(amount: .percent(100), whole: 6, maxConcurrent: 6, minActive: 6, maxErrors: 6),
              Rounding(amount: .count(2), whole: 6, maxConcurrent: 2, minActive: 2, maxErrors: 2),
          ])
    func rounding(_ r: Rounding) {
        var p = MaintenancePolicy()
        p.maxConcurrent = r.amount
        p.minActive = r.amount
        p.maxErrors = r.amount
        #expect(p.maxConcurrent(ofHosts: r.whole) == r.maxConcurrent)
        #expect(p.minActive(ofRegionGateways: r.whole) == r.minActive)
        #expect(p.maxErrors(ofHosts: r.whole) == r.maxErrors)
    }

    struct Invalid: CustomTestStringConvertible, Sendable {
        let body: String
        let field: String
        var testDescription: String { body }
    }

    static func windowWith(_ edit: String) -> String {
        #"{"windows": [\#(window), \#(edit)]}"#
    }

    static let invalid: [Invalid] = [
        Invalid(body: #"{"max_concurrent": 0}"#, field: "policy.max_concurrent"),
        Invalid(body: #"{"max_concurrent": "0%"}"#, field: "policy.max_concurrent"),
        Invalid(body: #"{"max_concurrent": "150%"}"#, field: "policy.max_concurrent"),
        Invalid(body: #"{"max_concurrent": true}"#, field: "policy.max_concurrent"),
        Invalid(body: #"{"max_concurrent": 1.5}"#, field: "policy.max_concurrent"),
        Invalid(body: #"{"min_active": -1}"#, field: "policy.min_active"),
        Invalid(body: #"{"max_errors": "some%"}"#, field: "policy.max_errors"),
        Invalid(body: #"{"cutoff_s": -5}"#, field: "policy.cutoff_s"),
        Invalid(body: #"{"maxConcurrent": 1}"#, field: "policy.maxConcurrent"),
        Invalid(body: #"{"windows": "sat"}"#, field: "policy.windows"),
        Invalid(body: #"{"windows": [{"days": ["sat"], "start": "01:00", "end": "05:00", "timezone": "Europe/Pariss"}]}"#,
                field: "policy.windows[0].timezone"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "01:00", "end": "05:00", "timezone": "CET+1"}"#), field: "policy.windows[1].timezone"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "01:00", "end": "05:00"}"#), field: "policy.windows[1].timezone"),
        Invalid(body: windowWith(#"{"days": ["sat", "funday"], "start": "01:00", "end": "05:00", "timezone": "UTC"}"#),
                field: "policy.windows[1].days[1]"),
        Invalid(body: windowWith(#"{"days": [], "start": "01:00", "end": "05:00", "timezone": "UTC"}"#), field: "policy.windows[1].days"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "25:00", "end": "05:00", "timezone": "UTC"}"#), field: "policy.windows[1].start"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "1:00", "end": "05:00", "timezone": "UTC"}"#), field: "policy.windows[1].start"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "24:00", "end": "05:00", "timezone": "UTC"}"#), field: "policy.windows[1].start"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "05:00", "end": "05:00", "timezone": "UTC"}"#), field: "policy.windows[1].end"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "05:00", "end": "24:01", "timezone": "UTC"}"#), field: "policy.windows[1].end"),
        Invalid(body: windowWith(#"{"days": ["sat"], "start": "05:00", "end": "06:00", "timezone": "UTC", "tz": "x"}"#), field: "policy.windows[1].tz"),
        Invalid(body: #"{"drain": {"deadline_s": 0}}"#, field: "policy.drain.deadline_s"),
        Invalid(body: #"{"drain": {"rate": 0.5}}"#, field: "policy.drain.rate"),
        Invalid(body: #"{"drain": {"speed": 1}}"#, field: "policy.drain.speed"),
        Invalid(body: #"{"drain": 5}"#, field: "policy.drain"),
        Invalid(body: #"{"verify": {"healthy_s": 1.5}}"#, field: "policy.verify.healthy_s"),
        Invalid(body: #"[1]"#, field: "policy"),
    ]

    @Test("an invalid policy names the field, for a 400", arguments: invalid)
    func invalidNamesTheField(_ row: Invalid) {
        #expect(throws: MaintenancePolicyError.self) { try Self.parse(row.body) }
        do {
            _ = try Self.parse(row.body)
        } catch {
            #expect(error.field == row.field, "\(error)")
        }
    }

    @Test("the stored form reads back the same policy, through Codable and through the API parser")
    func roundTrip() throws {
        let p = try Self.parse(#"{"max_concurrent": "25%", "min_active": 4, "windows": [\#(Self.window),"#
            + #" {"days": ["fri"], "start": "22:00", "end": "02:00", "timezone": "Asia/Kolkata"}], "cutoff_s": 900, "max_errors": 2,"#
            + #" "drain": {"deadline_s": 60, "rate": 100}, "verify": {"healthy_s": 10}}"#)
        let data = try p.jsonData()
        #expect(try JSONDecoder().decode(MaintenancePolicy.self, from: data) == p)
        #expect(try MaintenancePolicy(json: try JSONSerialization.jsonObject(with: data)) == p)
        #expect(String(decoding: data, as: UTF8.self).contains(#""max_concurrent":"25%""#))
    }
}
