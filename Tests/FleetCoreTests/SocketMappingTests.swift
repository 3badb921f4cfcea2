import FleetConfig
import FleetCore
import FleetProtocol
import Testing

/// The mapping document of `PUT /v1/mappings/{name}`, MAPPINGS and the agent's `mappings:` (issue
/// #14): the issue's shape, defaults, every refusal naming its field, and the canonical form (golden
/// texts written by hand) that reads back to the same mapping.
@Suite struct SocketMappingTests {
    static let issueExample = #"""
        {"endpoint": {"url": "http://10.0.0.5:8080/fn", "headers": {"X-Api-Key": "k3y"}, "timeout_ms": 5000},
         "events": ["open", "data", "close"], "receive": {"delimiter": "\n"}, "reply": "write",
         "on_error": "close", "max_concurrency": 64}
        """#

    @Test func theIssuesExample() throws {
        let m = try SocketMapping(json: Self.issueExample)
        #expect(m.endpoint == .webhook(.init(url: "http://10.0.0.5:8080/fn", headers: ["X-Api-Key": "k3y"], timeoutMs: 5_000)))
        #expect(m.events == [.open, .data, .close])
        #expect(m.receive == (try ReceiveCriteria(rule: .delimiter([0x0A]))))
        #expect(m.reply == .write && m.onError == .close && m.maxConcurrency == 64)
        #expect(m.canonicalJSON == #"{"endpoint":{"headers":{"X-Api-Key":"k3y"},"timeout_ms":5000,"url":"http://10.0.0.5:8080/fn"},"#
            + #""events":["open","data","close"],"max_concurrency":64,"on_error":"close","receive":{"delimiter":"\n","max_bytes":65536},"#
            + #""reply":"write"}"#)
    }

    @Test func defaults() throws {
        let m = try SocketMapping(json: #"{"endpoint": {"url": "https://fn.example/x"}}"#)
        #expect(m == SocketMapping(endpoint: .webhook(.init(url: "https://fn.example/x"))))
        #expect(m.events == Set(SocketMapping.Event.allCases) && m.reply == .write && m.onError == .close && m.maxConcurrency == 64)
        #expect(m.receive == .passThrough && m.receive.rule == .idle(ms: 100) && m.receive.maxBytes == 65_536)
        #expect(m.canonicalJSON == #"{"endpoint":{"headers":{},"timeout_ms":5000,"url":"https://fn.example/x"},"#
            + #""events":["open","data","close"],"max_concurrency":64,"on_error":"close","receive":{"idle_ms":100,"max_bytes":65536},"#
            + #""reply":"write"}"#)
    }

    @Test(arguments: [
        // document -> canonical text
        (#"{"endpoint": {"mqtt": {"prefix": "plant/meters"}}, "events": ["data"], "receive": {"length_prefix": "u16be", "max_bytes": 512, "prefix": "\u0001"}, "reply": "discard", "on_error": "continue", "max_concurrency": 1}"#,
         #"{"endpoint":{"mqtt":{"prefix":"plant/meters"}},"events":["data"],"max_concurrency":1,"on_error":"continue","receive":{"length_prefix":"u16be","max_bytes":512,"prefix":"\u0001"},"reply":"discard"}"#),
        (#"{"endpoint": {"url": "https://h:8443/a/b?c=d", "ca_file": "/etc/fg/ca.pem", "timeout_ms": 60000, "headers": {"b": "2", "A": "1", "a-c": ""}}, "events": ["close", "open"], "receive": {"delimiter": [13, 10], "max_bytes": 1048576}}"#,
         #"{"endpoint":{"ca_file":"/etc/fg/ca.pem","headers":{"A":"1","a-c":"","b":"2"},"timeout_ms":60000,"url":"https://h:8443/a/b?c=d"},"events":["open","close"],"max_concurrency":64,"on_error":"close","receive":{"delimiter":"\r\n","max_bytes":1048576},"reply":"write"}"#),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": [0, 255]}}"#,
         #"{"endpoint":{"headers":{},"timeout_ms":5000,"url":"http://h"},"events":["open","data","close"],"max_concurrency":64,"on_error":"close","receive":{"delimiter":[0,255],"max_bytes":65536},"reply":"write"}"#),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"length": 1048576, "prefix": "\"\\/"}, "max_concurrency": 10000.0}"#,
         #"{"endpoint":{"headers":{},"timeout_ms":5000,"url":"http://h"},"events":["open","data","close"],"max_concurrency":10000,"on_error":"close","receive":{"length":1048576,"prefix":"\"\\/"},"reply":"write"}"#),
        (#"{"endpoint": {"url": "HTTP://h\u00e9"}, "receive": {"idle_ms": 5, "max_bytes": 1}}"#, nil),  // a non-ASCII URL is refused
        (#"{"endpoint": {"url": "http://h"}, "receive": {"idle_ms": 60000, "max_bytes": 1, "prefix": "\u00e9"}}"#, nil),  // prefix of 2 bytes > max_bytes
        (#"{"endpoint": {"url": "http://h"}, "receive": {"idle_ms": 60000, "max_bytes": 2, "prefix": "\u00e9"}}"#,
         #"{"endpoint":{"headers":{},"timeout_ms":5000,"url":"http://h"},"events":["open","data","close"],"max_concurrency":64,"on_error":"close","receive":{"idle_ms":60000,"max_bytes":2,"prefix":"\#u{E9}"},"reply":"write"}"#),
    ] as [(String, String?)])
    func canonicalForm(document: String, canonical: String?) throws {
        guard let canonical else {
            #expect(throws: SocketMappingError.self) { try SocketMapping(json: document) }
            return
        }
        let m = try SocketMapping(json: document)
        #expect(m.canonicalJSON == canonical)
        let again = try SocketMapping(json: canonical)
        #expect(again == m, "the canonical text reads back to the same mapping")
        #expect(again.canonicalJSON == canonical)
    }

    @Test(arguments: [
        // document -> the field named
        ("[]", "(document)"),
        ("not json", "(document)"),
        ("{}", "endpoint"),
        (#"{"endpoint": "http://h"}"#, "endpoint"),
        (#"{"endpoint": {}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": 5}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": ""}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "ftp://h/x"}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "/relative"}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "http:///x"}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "http://u:p@h/x"}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "http://h/x y"}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "http://h/x#frag"}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "http://h", "mqtt": {"prefix": "a"}}}"#, "endpoint.url"),
        (#"{"endpoint": {"url": "http://h", "method": "GET"}}"#, "endpoint.method"),
        (#"{"endpoint": {"mqtt": {}}}"#, "endpoint.mqtt.prefix"),
        (#"{"endpoint": {"mqtt": "a"}}"#, "endpoint.mqtt"),
        (#"{"endpoint": {"mqtt": {"prefix": ""}}}"#, "endpoint.mqtt.prefix"),
        (#"{"endpoint": {"mqtt": {"prefix": "a/#"}}}"#, "endpoint.mqtt.prefix"),
        (#"{"endpoint": {"mqtt": {"prefix": "a/+/b"}}}"#, "endpoint.mqtt.prefix"),
        (#"{"endpoint": {"mqtt": {"prefix": "$SYS/x"}}}"#, "endpoint.mqtt.prefix"),
        (#"{"endpoint": {"mqtt": {"prefix": "a/"}}}"#, "endpoint.mqtt.prefix"),
        (#"{"endpoint": {"mqtt": {"prefix": "a", "qos": 1}}}"#, "endpoint.mqtt.qos"),
        (#"{"endpoint": {"url": "http://h", "timeout_ms": 0}}"#, "endpoint.timeout_ms"),
        (#"{"endpoint": {"url": "http://h", "timeout_ms": 60001}}"#, "endpoint.timeout_ms"),
        (#"{"endpoint": {"url": "http://h", "timeout_ms": "5000"}}"#, "endpoint.timeout_ms"),
        (#"{"endpoint": {"url": "http://h", "timeout_ms": 1.5}}"#, "endpoint.timeout_ms"),
        (#"{"endpoint": {"url": "http://h", "timeout_ms": true}}"#, "endpoint.timeout_ms"),
        (#"{"endpoint": {"url": "http://h", "timeout_ms": null}}"#, "endpoint.timeout_ms"),
        (#"{"endpoint": {"url": "http://h", "headers": ["X-A"]}}"#, "endpoint.headers"),
        (#"{"endpoint": {"url": "http://h", "headers": {"Bad Name": "x"}}}"#, "endpoint.headers.Bad Name"),
        (#"{"endpoint": {"url": "http://h", "headers": {"": "x"}}}"#, "endpoint.headers."),
        (#"{"endpoint": {"url": "http://h", "headers": {"content-LENGTH": "1"}}}"#, "endpoint.headers.content-LENGTH"),
        (#"{"endpoint": {"url": "http://h", "headers": {"Host": "x"}}}"#, "endpoint.headers.Host"),
        (#"{"endpoint": {"url": "http://h", "headers": {"X-Fleetgate-Socket": "x"}}}"#, "endpoint.headers.X-Fleetgate-Socket"),
        (#"{"endpoint": {"url": "http://h", "headers": {"X-A": "1", "x-a": "2"}}}"#, "endpoint.headers.x-a"),
        (#"{"endpoint": {"url": "http://h", "headers": {"X-A": "a\r\nX-B: b"}}}"#, "endpoint.headers.X-A"),
        (#"{"endpoint": {"url": "http://h", "headers": {"X-A": 1}}}"#, "endpoint.headers.X-A"),
        (#"{"endpoint": {"url": "http://h", "ca_file": "/ca.pem"}}"#, "endpoint.ca_file"),
        (#"{"endpoint": {"url": "https://h", "ca_file": "ca.pem"}}"#, "endpoint.ca_file"),
        (#"{"endpoint": {"url": "http://h"}, "events": []}"#, "events"),
        (#"{"endpoint": {"url": "http://h"}, "events": "open"}"#, "events"),
        (#"{"endpoint": {"url": "http://h"}, "events": ["open", "opne"]}"#, "events[1]"),
        (#"{"endpoint": {"url": "http://h"}, "events": ["data", "close", "data"]}"#, "events[2]"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {}}"#, "receive"),
        (#"{"endpoint": {"url": "http://h"}, "receive": "\n"}"#, "receive"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": "\n", "length": 4}}"#, "receive"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"max_bytes": 10}}"#, "receive.idle_ms"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": ""}}"#, "receive.delimiter"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": "12345678901234567"}}"#, "receive.delimiter"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": [10, 256]}}"#, "receive.delimiter[1]"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": 10}}"#, "receive.delimiter"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"length": 0}}"#, "receive.length"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"length": 1048577}}"#, "receive.length"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"length": 4, "max_bytes": 4}}"#, "receive.max_bytes"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"length_prefix": "u24"}}"#, "receive.length_prefix"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"length_prefix": "u16be", "max_bytes": 1048577}}"#, "receive.max_bytes"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"idle_ms": 0}}"#, "receive.idle_ms"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"idle_ms": 60001}}"#, "receive.idle_ms"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": "\n", "prefix": ""}}"#, "receive.prefix"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": "\n", "max_bytes": 2, "prefix": "abc"}}"#, "receive.prefix"),
        (#"{"endpoint": {"url": "http://h"}, "receive": {"delimiter": "\n", "idle": 5}}"#, "receive.idle"),
        (#"{"endpoint": {"url": "http://h"}, "reply": "echo"}"#, "reply"),
        (#"{"endpoint": {"url": "http://h"}, "on_error": "retry"}"#, "on_error"),
        (#"{"endpoint": {"url": "http://h"}, "max_concurrency": 0}"#, "max_concurrency"),
        (#"{"endpoint": {"url": "http://h"}, "max_concurrency": 10001}"#, "max_concurrency"),
        (#"{"endpoint": {"url": "http://h"}, "evnts": ["open"]}"#, "evnts"),
    ])
    func refusalsNameTheField(document: String, path: String) {
        do {
            let m = try SocketMapping(json: document)
            Issue.record("accepted: \(m.canonicalJSON)")
        } catch {
            #expect(error.path == path, "\(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func headersAreBounded() throws {
        func doc(_ headers: [(String, String)]) -> String {
            #"{"endpoint": {"url": "http://h", "headers": {"# + headers.map { #""\#($0.0)": "\#($0.1)""# }.joined(separator: ",") + "}}}"
        }
        let value = String(repeating: "v", count: 1_024)
        _ = try SocketMapping(json: doc((0..<32).map { ("H\($0)", "") }))
        #expect(throws: SocketMappingError("endpoint.headers", "at most 32")) { try SocketMapping(json: doc((0..<33).map { ("H\($0)", "") })) }
        _ = try SocketMapping(json: doc((0..<7).map { ("H\($0)", value) }))  // 7 x 1,026 bytes
        #expect(throws: SocketMappingError.self) { try SocketMapping(json: doc((0..<8).map { ("H\($0)", value) })) }
        #expect(throws: SocketMappingError.self) { try SocketMapping(json: doc([("H", value + "v")])) }
        _ = try SocketMapping(json: doc([(String(repeating: "n", count: 64), "")]))
        #expect(throws: SocketMappingError.self) { try SocketMapping(json: doc([(String(repeating: "n", count: 65), "")])) }
    }

    @Test func documentsAreBounded() throws {
        let padded = #"{"endpoint": {"url": "http://h"}}"# + String(repeating: " ", count: SocketMapping.maxDocumentBytes - 33)
        #expect(padded.utf8.count == SocketMapping.maxDocumentBytes)
        _ = try SocketMapping(json: padded)
        #expect(throws: SocketMappingError("(document)", "longer than 16384 bytes")) { try SocketMapping(json: padded + " ") }
        #expect(SocketMapping.maxDocumentBytes == FleetLimits.maxMappingDocumentBytes, "a canonical document fits a MAPPINGS entry")
    }

    @Test func errorsReadAsPathAndMessage() {
        #expect(SocketMappingError("endpoint.url", "must be http or https").description == "endpoint.url: must be http or https")
    }

    @Test(arguments: [("meter", true), ("a.b_c-9", true), (String(repeating: "m", count: 128), true), ("", false),
                      (String(repeating: "m", count: 129), false), ("a/b", false), ("a b", false)])
    func names(name: String, valid: Bool) {
        #expect(((try? SocketMapping.checkName(name)) != nil) == valid)
        if !valid { #expect(throws: SocketMappingError.self) { try SocketMapping.checkName(name) } }
    }

    /// The agent's config file hands over YAML values (Swift Int and Bool, not NSNumber).
    @Test func nativeValuesAsFromYAML() throws {
        let object: [String: Any] = [
            "endpoint": ["url": "http://h", "timeout_ms": 250] as [String: Any],
            "receive": ["length": 8] as [String: Any], "max_concurrency": 3,
        ]
        let m = try SocketMapping(object: object)
        #expect(m.maxConcurrency == 3 && m.receive.rule == .length(8))
        #expect(throws: SocketMappingError.self) { try SocketMapping(object: ["endpoint": ["url": "http://h"], "max_concurrency": true] as [String: Any]) }
    }
}
