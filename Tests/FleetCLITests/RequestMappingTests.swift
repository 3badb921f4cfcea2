import Foundation
import Testing

@testable import FleetCLI

/// Arguments -> the admin API call each command makes (docs/COORDINATOR.md "HTTP admin API").
@Suite struct RequestMappingTests {
    func object(_ data: Data?) throws -> NSDictionary {
        let body = try #require(data)
        return try #require(JSONSerialization.jsonObject(with: body) as? NSDictionary)
    }

    @Test func gatewayEndpoints() throws {
        #expect(AdminRequest.gatewayList.method == .get && AdminRequest.gatewayList.target == "/v1/gateways")
        #expect(AdminRequest.gateway("gw-1").target == "/v1/gateways/gw-1")
        #expect(AdminRequest.resume("gw-1") == AdminRequest(.post, ["v1", "gateways", "gw-1", "resume"]))
        #expect(AdminRequest.removeGateway("gw-1").method == .delete)
        // No --rate: no body, so the coordinator's own default applies.
        let plain = AdminRequest.drain("gw-1", rate: nil)
        #expect(plain.method == .post && plain.target == "/v1/gateways/gw-1/drain" && plain.body == nil)
        #expect(try object(AdminRequest.drain("gw-1", rate: 120).body) == ["rate": 120])
    }

    @Test func idsAndTopicsAreEscapedAsOneSegmentOrValue() {
        // The coordinator percent-decodes {id}; a slash must not make two segments.
        #expect(AdminRequest.gateway("eu/gw 1").target == "/v1/gateways/eu%2Fgw%201")
        #expect(AdminRequest.interest(topic: "a/b&c=d+e%f").target == "/v1/interest?topic=a%2Fb%26c%3Dd%2Be%25f")
        #expect(AdminRequest.interest(topic: "sensors/t1").target == "/v1/interest?topic=sensors%2Ft1")
        #expect(AdminRequest.gateway("gw-1.a_b~c").target == "/v1/gateways/gw-1.a_b~c")
        #expect(AdminRequest.gateway("ünï").target == "/v1/gateways/%C3%BCn%C3%AF")
    }

    @Test func migrationMove() throws {
        #expect(try object(AdminRequest.move(client: "c-1", to: nil, from: nil).body) == ["client_id": "c-1"])
        let full = AdminRequest.move(client: "c-1", to: "gw-2", from: "gw-1")
        #expect(full.method == .post && full.target == "/v1/migrations")
        #expect(try object(full.body) == ["client_id": "c-1", "to": "gw-2", "from": "gw-1"])
    }

    @Test func mappingsAndSockets() {
        let doc = Data(#"{"reply":"write"}"#.utf8)
        #expect(AdminRequest.putMapping("meters", document: doc) == AdminRequest(.put, ["v1", "mappings", "meters"], body: doc))
        #expect(AdminRequest.deleteMapping("meters").method == .delete && AdminRequest.deleteMapping("meters").target == "/v1/mappings/meters")
        #expect(AdminRequest.closeSocket("gw-1:7").target == "/v1/sockets/gw-1%3A7")
        #expect(AdminRequest.socketList.target == "/v1/sockets" && AdminRequest.mappingList.target == "/v1/mappings")
    }

    @Test func maintenanceRunsAndSteering() throws {
        #expect(AdminRequest.maintenanceEvent("mnt-1", "pause").target == "/v1/maintenance/mnt-1/pause")
        #expect(AdminRequest.maintenanceRun("mnt-1").target == "/v1/maintenance/mnt-1")
        let byId = MaintenanceSpec(operation: "os-patch", gateways: ["gw-1", "gw-2"], region: nil, labels: [:], policy: .defaults)
        #expect(try object(AdminRequest.createMaintenance(byId).body) == ["operation": "os-patch", "gateways": ["gw-1", "gw-2"]])
        let bySelector = MaintenanceSpec(operation: "reboot", gateways: [], region: "eu", labels: ["rack": "4"], policy: .named("night"))
        #expect(try object(AdminRequest.createMaintenance(bySelector).body)
                == ["operation": "reboot", "gateways": ["region": "eu", "labels": ["rack": "4"]], "policy": "night"])
        let inline = MaintenanceSpec(operation: "x", gateways: ["gw-1"], region: nil, labels: [:],
                                     policy: .inline(Data(#"{"max_concurrent": "50%"}"#.utf8)))
        #expect(try object(AdminRequest.createMaintenance(inline).body)["policy"] as? NSDictionary == ["max_concurrent": "50%"])
    }

    @Test func maintenanceSpecRefusesWhatTheServerWould() throws {
        #expect(throws: CLIFailure.self) {
            try MaintenanceSpec(operation: "x", gateways: [], region: nil, labels: [:], policy: .defaults).validate()
        }
        #expect(throws: CLIFailure.self) {
            try MaintenanceSpec(operation: "x", gateways: ["gw-1"], region: "eu", labels: [:], policy: .defaults).validate()
        }
        #expect(throws: CLIFailure.self) {
            try MaintenanceSpec(operation: "", gateways: ["gw-1"], region: nil, labels: [:], policy: .defaults).validate()
        }
        try MaintenanceSpec(operation: "x", gateways: [], region: nil, labels: ["k": "v"], policy: .defaults).validate()
        let label = try MaintenanceSpec.parseLabel("site=paris=1")
        #expect(label.0 == "site" && label.1 == "paris=1")
        let empty = try MaintenanceSpec.parseLabel("empty=")
        #expect(empty.0 == "empty" && empty.1 == "")
        #expect(throws: CLIFailure.self) { try MaintenanceSpec.parseLabel("=v") }
        #expect(throws: CLIFailure.self) { try MaintenanceSpec.parseLabel("novalue") }
    }
}
