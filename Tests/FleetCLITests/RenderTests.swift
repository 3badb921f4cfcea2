import Foundation
import Testing

@testable import FleetCLI

/// Human renderings of real answers (captured from a coordinator with one agent joined).
@Suite struct RenderTests {
    static let now: UInt64 = 1_796_684_561_000
    static let gatewaysJSON = #"""
        {"gateways":[{"capacity_weight":1,"connected":true,"durable_filters":0,"id":"gw-1","interest_filters":2,"labels":{"site":"paris"},
        "last_seen_ms":1796684560255,"load":{"bytes_in_per_second":2048,"bytes_out_per_second":10,"connections":3,
        "messages_in_per_second":40,"messages_out_per_second":12,"timestamp_ms":1796684560257,
        "top_talkers":[{"client_id":"meter-7","messages_per_second":30,"bytes_per_second":1500}]},
        "mqtt_address":"127.0.0.1:33925","region":"eu","registered_ms":1796684555254,"remote_address":"127.0.0.1:52188",
        "retention":{"dropped_bytes":0,"dropped_messages":0,"held_bytes":0,"held_messages":0},"session_epoch":1,
        "software_version":"fleetgate-agent 0.1.0","state":"active"},
        {"capacity_weight":1,"connected":false,"id":"gw-2","interest_filters":0,"labels":{},"last_seen_ms":1796684500000,
        "load":null,"mqtt_address":"127.0.0.1:1884","region":"","registered_ms":1796684400000,"session_epoch":3,
        "software_version":"fleetgate-agent 0.1.0","state":"down","durable_filters":1,
        "retention":{"dropped_bytes":0,"dropped_messages":0,"held_bytes":4096,"held_messages":7}}]}
        """#

    func gateways() throws -> [GatewayItem] {
        try JSONDecoder().decode(GatewayListAnswer.self, from: Data(Self.gatewaysJSON.utf8)).gateways
    }

    @Test func gatewayList() throws {
        #expect(Render.gateways(try gateways(), now: Self.now) == """
            GATEWAY  STATE   LINK  REGION  MQTT             CONNS  MSG/S IN  MSG/S OUT  FILTERS  LAST SEEN
            gw-1     active  up    eu      127.0.0.1:33925      3        40         12        2     0s ago
            gw-2     down    down  -       127.0.0.1:1884       -         -          -        0     1m ago
            """)
        #expect(Render.gateways([], now: Self.now) == "no gateways")
    }

    @Test func gatewayShowHasLoadTalkersAndRetention() throws {
        let text = Render.gateway(try gateways()[0], now: Self.now)
        #expect(text.contains("labels:           site=paris"))
        #expect(text.contains("bytes/s:          2.0 KiB in, 10 B out"))
        #expect(text.contains("meter-7        30  1.5 KiB"))
        let down = Render.gateway(try gateways()[1], now: Self.now)
        #expect(down.contains("link:             down") && down.contains("load:             no report yet"))
        #expect(down.contains("held for it:      7 messages, 4.0 KiB"))
    }

    @Test func topPutsTheBusiestFirstAndTotalsTheFleet() throws {
        var list = try gateways()
        list.reverse()
        let frame = Render.top(list, coordinator: "http://127.0.0.1:8080", now: Self.now)
        let lines = frame.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0] == "fleetgate top  http://127.0.0.1:8080  2026-12-07 23:02:41Z")
        #expect(lines[1] == "gateways 2 (1 up; active 1, down 1)  connections 3  msg/s in 40 out 12")
        #expect(lines[4].hasPrefix("gw-1 ") && lines[4].hasSuffix("meter-7 (30 msg/s)"))
        #expect(lines[5].hasPrefix("gw-2 "))
    }

    @Test func unknownFieldsAndMissingOptionalOnesStillDecode() throws {
        // A newer coordinator adds fields; an older one lacks the optional ones.
        let json = #"{"gateways":[{"id":"g","state":"active","connected":true,"future_field":{"x":1}}]}"#
        let list = try JSONDecoder().decode(GatewayListAnswer.self, from: Data(json.utf8))
        #expect(Render.gateways(list.gateways, now: Self.now).contains("g        active  up    -       -"))
    }

    @Test func graphAndInterest() throws {
        let graph = try JSONDecoder().decode(GraphAnswer.self, from: Data(#"""
            {"edges":[{"kind":"coordinator","source":"gw-1","state":"up","target":"coordinator","updated_ms":1796684555254}],
             "nodes":[{"id":"coordinator","kind":"coordinator","state":"active"},{"id":"gw-1","kind":"gateway","region":"","state":"active"}]}
            """#.utf8))
        #expect(Render.graph(graph, now: Self.now) == """
            NODE         KIND         STATE   REGION
            coordinator  coordinator  active  -
            gw-1         gateway      active  -

            SOURCE  TARGET       KIND         STATE  UPDATED
            gw-1    coordinator  coordinator  up      5s ago
            """)
        let interest = try JSONDecoder().decode(InterestAnswer.self, from: Data(
            #"{"topic":"a/b","gateways":[{"gateway":"gw-2","filters":["a/#","a/+"]}]}"#.utf8))
        #expect(Render.interest(interest) == "GATEWAY  FILTERS\ngw-2     a/# a/+")
        #expect(Render.interest(InterestAnswer(topic: "x", gateways: [])) == "no gateway has interest in 'x'")
    }

    @Test func mappingsShowEndpointAndReceiveRule() throws {
        let raw = Data(#"""
            {"mappings":{"meters":{"endpoint":{"headers":{},"timeout_ms":5000,"url":"http://h/fn"},"events":["open","data"],
             "max_concurrency":64,"on_error":"close","receive":{"delimiter":"\r\n","max_bytes":65536},"reply":"write"},
             "bus":{"endpoint":{"mqtt":{"prefix":"sock/"}},"events":["data"],"receive":{"length":16},"reply":"none"}}}
            """#.utf8)
        #expect(try Render.mappings(raw) == """
            MAPPING  ENDPOINT     EVENTS     RECEIVE                       REPLY
            bus      mqtt:sock/   data       length 16                     none
            meters   http://h/fn  open,data  delimiter "\\r\\n", max 64 KiB  write
            """)
        #expect(try Render.mappings(Data(#"{"mappings":{}}"#.utf8)) == "no mappings")
        #expect(throws: CLIFailure.self) { try Render.mappings(Data("[]".utf8)) }
    }

    @Test func maintenanceRunShowsEachHost() throws {
        let run = try JSONDecoder().decode(MaintenanceRunAnswer.self, from: Data(#"""
            {"created":1796684569000,"finished":1796684569500,"hosts":[{"error":"refused: operation 'os-patch' is not configured on gw-1",
             "finished":1796684569400,"gateway":"gw-1","state":"failed"}],"id":"mnt-1","operation":"os-patch",
             "policy":{"max_concurrent":1},"reason":"max_errors 0","state":"stopped"}
            """#.utf8))
        let text = Render.maintenanceRun(run, now: 1_796_684_572_000)
        #expect(text.contains("state:     stopped (max_errors 0)"))
        #expect(text.contains("gw-1     failed  -                    -    2s ago     -  refused: operation 'os-patch' is not configured on gw-1"))
    }
}
