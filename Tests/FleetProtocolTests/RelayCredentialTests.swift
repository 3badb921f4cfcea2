import Testing
@testable import FleetProtocol

/// The relay credential (Protocol/agent-coordinator.md §10): the password of a relay's CONNECT.
@Suite struct RelayCredentialTests {
    private let secret: [UInt8] = Array(100..<116)

    @Test func roundTrips() throws {
        for credential in [
            RelayCredential(kind: .handover, secret: secret, username: "alice", certificateIdentity: "dev-7",
                            inboundAliases: [(1, "a/b"), (9, "c")]),
            RelayCredential(kind: .connect, secret: secret),
        ] {
            let bytes = try #require(credential.encoded())
            #expect(try RelayCredential(password: bytes) == credential)
        }
    }

    /// The golden bytes of Protocol/vectors/relay-credential, laid out by hand from
    /// Protocol/agent-coordinator.md §10: both directions.
    @Test func goldenVectors() throws {
        let files = try VectorFile.load(folder: "relay-credential")
        var count = 0
        for (_, result) in files {
            for v in try result.get() {
                let f = VectorFields(v)
                #expect(v.kind == "RELAY_CREDENTIAL")
                let kind = try #require(RelayCredential.Kind(rawValue: try f.int("kind")))
                let credential = RelayCredential(
                    kind: kind, secret: try f.bytes("secret"),
                    username: f.has("username") ? try f.string("username") : nil,
                    certificateIdentity: f.has("certificate_identity") ? try f.string("certificate_identity") : nil,
                    inboundAliases: try f.list("aliases") { f, k in (try f.record(k).int("alias"), try f.record(k).string("topic")) })
                try f.finish()
                #expect(credential.encoded() == v.bytes, "\(v.name)")
                #expect(try RelayCredential(password: v.bytes) == credential, "\(v.name)")
                count += 1
            }
        }
        #expect(count >= 2)
    }

    @Test(arguments: [
        ([UInt8]([]), "format"),
        ([0x02, 0x01] + [UInt8](repeating: 0, count: 16) + [0, 0, 0], "format"),
        ([0x01, 0x03] + [UInt8](repeating: 0, count: 16) + [0, 0, 0], "kind"),
        ([0x01, 0x01] + [UInt8](repeating: 0, count: 15), "secret"),
        ([0x01, 0x01] + [UInt8](repeating: 0, count: 16) + [0x04, 0, 0], "flags"),
        ([0x01, 0x01] + [UInt8](repeating: 0, count: 16) + [0x01, 0x00, 0x05, 0x61], "user name"),
        ([0x01, 0x01] + [UInt8](repeating: 0, count: 16) + [0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], "alias 0"),
        ([0x01, 0x01] + [UInt8](repeating: 0, count: 16) + [0x00, 0x00, 0x00, 0xFF], "after its end"),
    ])
    func malformedIsRefused(bytes: [UInt8], what: String) {
        #expect(throws: MQTTDecodeError.self, "\(what)") { try RelayCredential(password: bytes) }
    }

    @Test func secretsCompareWholly() {
        #expect(RelayCredential.secretsMatch(secret, secret))
        #expect(!RelayCredential.secretsMatch(secret, Array(secret.dropLast()) + [0]))
        #expect(!RelayCredential.secretsMatch([], []))  // no secret matches nothing
    }

    /// An alias table that would not fit a CONNECT password is not encoded (the caller drops it).
    @Test func aTooLargeAliasTableDoesNotEncode() {
        let topic = String(repeating: "t", count: 60_000)
        #expect(RelayCredential(kind: .handover, secret: secret, inboundAliases: [(1, topic), (2, topic)]).encoded() == nil)
    }
}
