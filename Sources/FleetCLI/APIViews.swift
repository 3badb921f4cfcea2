/// The admin API's JSON shapes as the CLI reads them (docs/COORDINATOR.md; the coordinator's
/// Admin/APIModels.swift and *Views.swift write them). Written separately on purpose: the CLI does
/// not link the coordinator. Fields a table does not need, or that older coordinators lack, are
/// optional, so a newer or older coordinator still renders; `--json` prints the answer untouched.
public struct GatewayItem: Decodable, Sendable, Equatable {
    public var id: String
    public var state: String
    public var connected: Bool
    public var mqtt_address: String?
    public var region: String?
    public var labels: [String: String]?
    public var capacity_weight: UInt32?
    public var software_version: String?
    public var last_seen_ms: UInt64?
    public var registered_ms: UInt64?
    public var session_epoch: UInt64?
    public var remote_address: String?
    public var interest_filters: Int?
    public var durable_filters: Int?
    public var retention: Retention?
    public var load: Load?
    public var drain: Drain?

    public struct Retention: Decodable, Sendable, Equatable {
        public var held_messages: Int
        public var held_bytes: Int
        public var dropped_messages: UInt64
        public var dropped_bytes: UInt64
    }

    public struct Load: Decodable, Sendable, Equatable {
        public var timestamp_ms: UInt64?
        public var connections: UInt32
        public var messages_in_per_second: UInt32
        public var messages_out_per_second: UInt32
        public var bytes_in_per_second: UInt64
        public var bytes_out_per_second: UInt64
        public var top_talkers: [Talker]?
    }

    public struct Talker: Decodable, Sendable, Equatable {
        public var client_id: String
        public var messages_per_second: UInt32
        public var bytes_per_second: UInt64
    }

    public struct Drain: Decodable, Sendable, Equatable {
        public var gateway: String?
        public var rate: Double
        public var listed_complete: Bool
        public var waiting: Int
        public var started: Int
        public var moved: Int
        public var not_started: Int
    }
}

public struct GatewayListAnswer: Decodable, Sendable { public var gateways: [GatewayItem] }

public struct GraphAnswer: Decodable, Sendable {
    public struct Node: Decodable, Sendable { public var id: String; public var kind: String; public var state: String; public var region: String? }
    public struct Edge: Decodable, Sendable {
        public var source: String; public var target: String; public var kind: String; public var state: String; public var updated_ms: UInt64?
    }
    public var nodes: [Node]
    public var edges: [Edge]
}

public struct InterestAnswer: Decodable, Sendable {
    public struct Match: Decodable, Sendable { public var gateway: String; public var filters: [String] }
    public var topic: String
    public var gateways: [Match]
}

public struct MigrationsAnswer: Decodable, Sendable {
    public struct Decision: Decodable, Sendable {
        public var client_id: String
        public var from: String
        public var to: String?
        public var reason: String
        public var state: String
        public var messages_per_second: Double?
        public var bytes_per_second: Double?
        public var at_ms: UInt64?
    }
    public var migrations: [Decision]
    public var handovers: [HandoverItem]
}

public struct HandoverItem: Decodable, Sendable {
    public var id: UInt64
    public var client_id: String
    public var from: String
    public var to: String
    public var reason: String
    public var mode: String?
    public var state: String
    public var started_ms: UInt64?
    public var stall_ms: UInt64?
    public var finished_ms: UInt64?
    public var outcome: String?
}

public struct MaintenanceListAnswer: Decodable, Sendable {
    public struct Run: Decodable, Sendable {
        public var id: String
        public var operation: String
        public var state: String
        public var hosts: Int
        public var by_state: [String: Int]?
        public var created: UInt64?
        public var finished: UInt64?
    }
    public var runs: [Run]
}

public struct MaintenanceRunAnswer: Decodable, Sendable {
    public struct Host: Decodable, Sendable {
        public var gateway: String
        public var state: String
        public var planned_start: UInt64?
        public var waiting_for: String?
        public var started: UInt64?
        public var finished: UInt64?
        public var exit_status: Int32?
        public var output_tail: String?
        public var error: String?
    }
    public var id: String
    public var operation: String
    public var state: String
    public var reason: String?
    public var created: UInt64?
    public var finished: UInt64?
    public var hosts: [Host]
}

public struct SocketsAnswer: Decodable, Sendable {
    public struct Socket: Decodable, Sendable {
        public var socket_id: String
        public var gateway: String
        public var mapping: String
        public var client_id: String
        public var identity: String?
        public var opened: UInt64?
        public var bytes_in: UInt64
        public var bytes_out: UInt64
        public var calls: UInt64?
        public var errors: UInt64?
        public var state: String
    }
    public var sockets: [Socket]
    public var by_gateway: [String: Int]?
}
