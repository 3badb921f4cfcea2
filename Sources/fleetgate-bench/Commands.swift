import ArgumentParser
import FleetObservability

/// `fleetgate-bench`: Fleetgate's MQTT load generator. One JSON object per run on stdout.
struct FleetgateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetgate-bench",
        abstract: "MQTT load generator: counts loss, duplicates and reorders; one JSON object per run.",
        version: FleetgateVersion.line(for: "fleetgate-bench"),
        subcommands: [FanIn.self, FanOut.self, Latency.self, Wildcard.self, Connections.self, Durability.self, Retained.self])
}

/// Options every scenario takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Broker MQTT listener, loopback only (127.0.0.0/8).")
    var broker: String = "127.0.0.1:1883"

    @Option(help: "Label for the broker in the JSON output.")
    var label: String = "broker"

    @Option(name: .customLong("broker-pid"), help: "PID of the broker: its CPU time and RSS are reported. A comma-separated list (a fabric: agents + coordinator): CPU summed, per process in broker_cpu_pct_each, RSS of the first.")
    var brokerPIDList: String?

    @Option(name: .customLong("subscriber-broker"), help: "Subscribers connect here instead of --broker (publish/subscribe scenarios). A comma-separated list spreads subscriber s over entry s mod N (e.g. other gateways of a fabric).")
    var subscriberBroker: String?

    var brokerPIDs: [Int32] { (brokerPIDList ?? "").split(separator: ",").compactMap { Int32(String($0.filter { $0 != " " })) } }
    var brokerPID: Int32? { brokerPIDs.first }

    func subscriberEndpoints() throws -> [Endpoint] {
        try (subscriberBroker ?? "").split(separator: ",").map { try Endpoint(parsing: String($0)) }
    }

    @Option(help: "MQTT protocol version: 3.1.1 or 5.")
    var mqtt: String = "3.1.1"

    @Option(name: .customLong("source-addresses"), help: "Spread connections over 127.0.0.1 ... 127.0.0.N.")
    var sourceAddresses: Int = 4

    @Option(name: .customLong("tls-ca"), help: "Connect over TLS, verifying the broker's certificate against this CA file (PEM).")
    var tlsCA: String?

    @Option(name: .customLong("tls-server-name"), help: "With --tls-ca: SNI and the name the certificate must match.")
    var tlsServerName: String = "localhost"

    @Option(name: .customLong("tls-ciphersuites"), help: "With --tls-ca: TLS 1.3 suites to offer, e.g. TLS_AES_128_GCM_SHA256 (default: OpenSSL's list).")
    var tlsCipherSuites: String?

    @Flag(name: .customLong("tls-verify-each"), help: "With --tls-ca: verify the chain on every handshake (default: once per distinct certificate).")
    var tlsVerifyEach = false

    @Flag(name: .customLong("quickack"), help: "Set TCP_QUICKACK while connecting (no delayed-ACK stall behind a broker's Nagle).")
    var quickAck = false

    func tlsOptions() -> TLSOptions? { tlsCA.map { TLSOptions(caFile: $0, serverName: tlsServerName, cipherSuites: tlsCipherSuites, verifyEach: tlsVerifyEach) } }

    func endpoint() throws -> Endpoint { try Endpoint(parsing: broker) }

    func protocolVersion() throws -> MQTTVersion {
        switch mqtt {
        case "3.1.1", "4": return .v311
        case "5", "5.0": return .v5
        default: throw ValidationError("--mqtt must be 3.1.1 or 5")
        }
    }
}

/// Bounds and flow control of the publish/subscribe scenarios.
struct FlowOptions: ParsableArguments {
    @Option(help: "Messages per publisher (upper bound).")
    var count: Int?

    @Option(help: "Seconds of publishing (upper bound).")
    var seconds: Double?

    @Option(help: "After publishing ends, wait for deliveries and PUBACKs until this many seconds pass without progress (at most 10 times as long).")
    var drain: Double = 2

    @Option(help: "Payload bytes (at least 24: publisher id, sequence number, timestamp).")
    var payload: Int = 64

    @Option(help: "QoS 1 unacknowledged PUBLISHes per publisher.")
    var inflight: Int = 64

    @Option(help: "End-to-end deliveries outstanding before publishers pause (0 = unbounded).")
    var window: Int = 65_536

    @Option(name: .customLong("subscribed-file"), help: "Create this file once every subscriber has its SUBACK.")
    var subscribedFile: String?

    @Option(name: .customLong("start-file"), help: "Connect publishers only once this file exists (at most 30 s), e.g. after the harness saw the subscriptions propagate.")
    var startFile: String?

    func apply(to plan: inout PubSubPlan, count defaultCount: Int, seconds defaultSeconds: Double) {
        plan.count = count ?? defaultCount
        plan.seconds = seconds ?? defaultSeconds
        plan.drainSeconds = drain
        plan.payloadSize = max(payload, Payload.headerSize)
        plan.inflight = max(1, min(inflight, 65_535))
        plan.window = window
        plan.subscribedFile = subscribedFile
        plan.startFile = startFile
    }
}

/// A plan whose clients connect to one broker (connections, retained): the settings it takes
/// from CommonOptions.
protocol ConnectingPlan {
    var version: MQTTVersion { get set }
    var brokerPID: Int32? { get set }
    var sourceAddresses: Int { get set }
    var tls: TLSOptions? { get set }
    var quickAck: Bool { get set }
}

extension ConnectionPlan: ConnectingPlan {}
extension RetainedPlan: ConnectingPlan {}

extension CommonOptions {
    func applyConnectionSettings<Plan: ConnectingPlan>(to plan: inout Plan) throws {
        plan.version = try protocolVersion()
        plan.brokerPID = brokerPID
        plan.sourceAddresses = max(1, sourceAddresses)
        plan.tls = tlsOptions()
        plan.quickAck = quickAck
    }
}

func basePlan(_ scenario: String, _ common: CommonOptions) throws -> PubSubPlan {
    var plan = PubSubPlan(scenario: scenario, label: common.label, broker: try common.endpoint())
    plan.version = try common.protocolVersion()
    plan.brokerPIDs = common.brokerPIDs
    plan.subscriberBrokers = try common.subscriberEndpoints()
    plan.sourceAddresses = max(1, common.sourceAddresses)
    plan.clientPrefix = "fgb-\(scenario)"
    plan.tls = common.tlsOptions()
    plan.quickAck = common.quickAck
    return plan
}

func execute(_ plan: PubSubPlan) throws {
    print(try PubSubRun(plan: plan).run().text)
}

extension FleetgateBench {
    struct FanIn: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fan-in",
            abstract: "N publishers -> 1 subscriber on one topic, as fast as the broker takes it.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var flow: FlowOptions
        @Option var publishers: Int = 4
        @Option var qos: UInt8 = 0

        func run() throws {
            var plan = try basePlan("fan-in-qos\(qos)", common)
            flow.apply(to: &plan, count: 1_000_000, seconds: 5)
            plan.publishers = publishers
            plan.subscribers = 1
            plan.publishQoS = min(qos, 1)
            plan.subscribeQoS = min(qos, 1)
            plan.routing = .fixed(topic: "bench/fanin")
            try execute(plan)
        }
    }

    struct FanOut: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "fan-out",
            abstract: "1 publisher -> N subscribers of one topic (deliveries/s).")
        @OptionGroup var common: CommonOptions
        @OptionGroup var flow: FlowOptions
        @Option var subscribers: Int = 100
        @Option var qos: UInt8 = 0
        @Option(help: "Topic published and subscribed.") var topic = "bench/fanout"

        func run() throws {
            var plan = try basePlan("fan-out-\(subscribers)", common)
            flow.apply(to: &plan, count: 20_000, seconds: 5)
            plan.publishers = 1
            plan.subscribers = subscribers
            plan.publishQoS = min(qos, 1)
            plan.subscribeQoS = min(qos, 1)
            plan.routing = .fixed(topic: topic)
            try execute(plan)
        }
    }

    struct Latency: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "latency",
            abstract: "1 publisher -> 1 subscriber at a fixed rate; latency percentiles.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var flow: FlowOptions
        @Option(help: "Messages per second.") var rate: Double = 10_000
        @Option var qos: UInt8 = 0
        @Option(help: "Topic published and subscribed.") var topic = "bench/latency"

        func run() throws {
            var plan = try basePlan("latency", common)
            flow.apply(to: &plan, count: 50_000, seconds: 6)
            plan.rate = rate
            plan.publishQoS = min(qos, 1)
            plan.subscribeQoS = min(qos, 1)
            plan.routing = .fixed(topic: topic)
            try execute(plan)
        }
    }

    struct Wildcard: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "wildcard",
            abstract: "Many mixed +/# subscriptions over many clients; half the publishes match one, half none.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var flow: FlowOptions
        @Option var subscriptions: Int = 100_000
        @Option var clients: Int = 1_000
        @Option var publishers: Int = 1

        func run() throws {
            var plan = try basePlan("wildcard-\(subscriptions)", common)
            flow.apply(to: &plan, count: 500_000, seconds: 5)
            plan.publishers = publishers
            plan.subscribers = clients
            plan.routing = .wildcard(subscriptions: max(1, subscriptions))
            plan.connectSeconds = 60
            try execute(plan)
        }
    }

    struct Durability: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "durability",
            abstract: "QoS 1 to a persistent-session (clean session 0) subscriber; msgs/s with zero loss.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var flow: FlowOptions
        @Option var publishers: Int = 1
        @Option(help: "Persistent subscribers (spread over --subscriber-broker).") var subscribers: Int = 1
        @Option(help: "Topic published and subscribed.") var topic = "bench/durable"

        func run() throws {
            var plan = try basePlan("durability", common)
            flow.apply(to: &plan, count: 200_000, seconds: 5)
            plan.publishers = publishers
            plan.subscribers = max(1, subscribers)
            plan.publishQoS = 1
            plan.subscribeQoS = 1
            plan.persistentSubscribers = true
            plan.routing = .fixed(topic: topic)
            try execute(plan)
        }
    }

    struct Retained: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "retained",
            abstract: "Store many retained messages, then many clients each SUBSCRIBE with a wildcard matching some of them.")
        @OptionGroup var common: CommonOptions
        @Option(help: "Retained topics bench/retained/<i mod groups>/<i>.") var retained: Int = 100_000
        @Option(help: "Groups: each subscriber's filter matches retained/groups topics.") var groups: Int = 1_000
        @Option var subscribers: Int = 1_000
        @Option(help: "Subscribers connecting at once.") var concurrency: Int = 100
        @Option(help: "Bound on each phase, seconds.") var seconds: Double = 60

        func run() throws {
            var plan = RetainedPlan(label: common.label, broker: try common.endpoint())
            try common.applyConnectionSettings(to: &plan)
            plan.retained = max(1, retained)
            plan.groups = min(max(1, groups), plan.retained)
            plan.subscribers = max(1, subscribers)
            plan.concurrency = max(1, concurrency)
            plan.seconds = seconds
            print(try RetainedRun(plan: plan).run().text)
        }
    }

    struct Connections: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "connections",
            abstract: "Many idle connections: connect rate and broker RSS per connection.")
        @OptionGroup var common: CommonOptions
        @Option var count: Int = 19_000
        @Option(help: "Handshakes in progress at once.") var concurrency: Int = 200
        @Option(help: "Bound on the connect phase, seconds.") var seconds: Double = 60
        @Option(help: "Idle seconds before the RSS is read.") var settle: Double = 1
        @Option(help: "Further idle seconds before closing.") var hold: Double = 1

        func run() throws {
            var plan = ConnectionPlan(label: common.label, broker: try common.endpoint())
            try common.applyConnectionSettings(to: &plan)
            plan.connections = count
            plan.concurrency = max(1, concurrency)
            plan.seconds = seconds
            plan.settleSeconds = settle
            plan.holdSeconds = hold
            print(try ConnectionStorm(plan: plan).run().text)
        }
    }
}
