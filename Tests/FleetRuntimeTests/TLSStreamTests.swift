@testable import FleetRuntime
import Glibc
import Testing

@Suite("TLS streams on loopback")
struct TLSStreamTests {
    let fixture = CertificateFixture.shared

    @Test("echo over TLS 1.2 and 1.3: many small writes coalesced into one flush, arriving in order",
          arguments: [TLSConfiguration.Version.tls12, .tls13])
    func coalescedEcho(version: TLSConfiguration.Version) throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let context = try TLSContext(serverConfiguration())
        let (server, accepted) = try makeTLSServer(loop, context: context)
        let client = try clientContext(maximumVersion: version)
        let (stream, recorder) = try connectTLSClient(loop, server: server, accepted: accepted, context: client)
        let expected = version == .tls12 ? "TLSv1.2" : "TLSv1.3"
        #expect(stream.tls?.protocolVersion == expected)
        #expect(accepted.streams[0].tls?.protocolVersion == expected)
        #expect(stream.tls?.cipher.isEmpty == false)
        #expect(stream.tls?.peerCertificate?.subjectCommonName == "localhost")
        #expect(stream.tls?.peerCertificate?.dnsNames == ["localhost"])
        #expect(accepted.streams[0].tls?.peerCertificate == nil)     // no client auth
        #expect(stream.remoteAddress == server.localAddress)

        // TLS 1.3: the server's session tickets, queued when its handshake completed, go out first.
        #expect(spin(loop) { accepted.streams[0].pendingWriteBytes == 0 })
        var sent: [UInt8] = []
        for packet in 0..<1_000 {
            let bytes = pattern(10, seed: packet)
            sent += bytes
            stream.write(bytes)
        }
        #expect(stream.pendingWriteBytes == 10_000)
        let tryWrites = loop.statistics.tryWrites
        turn(loop)                                  // one iteration: encrypt, then one TCP flush
        #expect(loop.statistics.tryWrites == tryWrites + 1)
        #expect(stream.pendingWriteBytes == 0)

        #expect(spin(loop) { recorder.received.count >= sent.count })
        #expect(recorder.received == sent)
        #expect(accepted.recorders[0].received == sent)
        #expect(accepted.recorders[0].reads < 100)   // coalesced: far fewer deliveries than writes

        stream.close()
        server.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 && recorder.closedCount == 1 })
        #expect(accepted.recorders[0].closeError == nil)    // close_notify: a clean close
        #expect(loop.shutdown() == 0)
    }

    @Test("1 MB payload round trip; onDrained fires; an idle stream keeps no TLS buffers")
    func largeRoundTrip() throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: TLSContext(serverConfiguration()))
        let (stream, recorder) = try connectTLSClient(loop, server: server, accepted: accepted, context: clientContext())
        final class Count { var drained = 0 }
        let count = Count()
        stream.onDrained = { count.drained += 1 }
        let payload = pattern(1 << 20, seed: 7)
        stream.write(payload)
        #expect(spin(loop) { recorder.received.count >= payload.count })
        #expect(recorder.received == payload)
        #expect(stream.pendingWriteBytes == 0)
        #expect(count.drained >= 1)
        #expect(accepted.streams[0].pendingWriteBytes == 0)
        let serverSide = try #require(accepted.streams[0] as? TLSStream)
        #expect(spin(loop) { serverSide.transport.queue.bytes == nil })
        let buffers = serverSide.bufferedBytes
        #expect(buffers.plaintext == 0 && buffers.readBIO == 0 && buffers.writeBIO == 0, "\(buffers)")
        stream.close()
        server.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 })
        #expect(loop.shutdown() == 0)
    }

    @Test("TLS 1.3: data sent right behind the client's Finished reaches the handler after onAccept's startReading")
    func dataWithFinished() throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: TLSContext(serverConfiguration()), echo: false)
        let payload = pattern(3_000, seed: 5)
        final class Slot { var stream: (any ByteStream)? }
        let slot = Slot()
        try TLSStream.connect(loop: loop, host: "127.0.0.1", port: server.localPort,
                              context: clientContext(maximumVersion: .tls13), serverName: "localhost") { result in
            slot.stream = try? result.get()
            slot.stream?.write(payload)          // flushed together with the Finished
        }
        #expect(spin(loop) { accepted.recorders.first?.received.count == payload.count })
        #expect(accepted.recorders.first?.received == payload)
        slot.stream?.close()
        server.close()
        #expect(spin(loop) { accepted.recorders.first?.closedCount == 1 })
        #expect(loop.shutdown() == 0)
    }

    @Test("ALPN: the first client-offered protocol we accept; none accepted or offered -> no ALPN",
          arguments: [
            (["mqtt"], "mqtt"),
            (["x-amzn-mqtt-ca"], "x-amzn-mqtt-ca"),
            (["h2", "x-amzn-mqtt-ca", "mqtt"], "x-amzn-mqtt-ca"),
            (["h2"], nil),
            ([], nil),
          ] as [([String], String?)])
    func alpn(offered: [String], negotiated: String?) throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: TLSContext(serverConfiguration()))
        let (stream, recorder) = try connectTLSClient(loop, server: server, accepted: accepted,
                                                      context: clientContext(alpn: offered))
        #expect(accepted.streams[0].tls?.alpn == negotiated)
        #expect(stream.tls?.alpn == negotiated)
        stream.write([1, 2, 3])
        #expect(spin(loop) { recorder.received == [1, 2, 3] })
        stream.close()
        server.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 })
        #expect(loop.shutdown() == 0)
    }

    @Test("openssl s_client as the peer: verify return code 0, its SNI reported in TLSSessionInfo")
    func opensslClient() throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: TLSContext(serverConfiguration()))
        let output = fixture.path("s_client-\(server.localPort).txt")
        defer { unlink(output) }
        let pid = spawnShell("""
            openssl s_client -connect 127.0.0.1:\(server.localPort) -servername localhost \
              -CAfile \(fixture.path("ca.pem")) -verify_return_error -verify_hostname localhost -alpn mqtt \
              < /dev/null > \(output) 2>&1
            """)
        final class Exit { var status: Int32? }
        let exit = Exit()
        #expect(spin(loop) {
            if exit.status == nil { exit.status = exitStatus(of: pid, block: false) }
            return exit.status != nil && !accepted.streams.isEmpty
        })
        if exit.status == nil { kill(pid, SIGKILL); exit.status = exitStatus(of: pid, block: true) }
        let text = readFile(output)
        #expect(exit.status == 0, "\(text)")
        #expect(text.contains("Verify return code: 0 (ok)"), "\(text)")
        #expect(text.contains("ALPN protocol: mqtt"), "\(text)")
        let info = try #require(accepted.streams.first?.tls)
        #expect(info.serverName == "localhost")
        #expect(info.alpn == "mqtt")
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 })
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("the server certificate and name are verified by our client: wrong name or unknown CA fail")
    func clientVerifiesServer() throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: TLSContext(serverConfiguration()))
        // By IP SAN: connects.
        let (byIP, _) = try connectTLSClient(loop, server: server, accepted: accepted, context: clientContext(),
                                             serverName: "127.0.0.1")
        #expect(byIP.tls?.serverName == nil)
        byIP.close()
        let wrongName = try startTLSClient(loop, port: server.localPort, context: clientContext(), serverName: "example.com")
        var otherTrust = TLSClientConfiguration(caFile: fixture.path("other-ca.pem"))
        otherTrust.alpn = ["mqtt"]
        let untrusted = try startTLSClient(loop, port: server.localPort, context: TLSClientContext(otherTrust))
        #expect(spin(loop) { wrongName.result != nil && untrusted.result != nil })
        guard case .failure(let nameError)? = wrongName.result, case .failure(let caError)? = untrusted.result else {
            Issue.record("expected both handshakes to fail")
            return
        }
        #expect(nameError.call == "SSL_connect")
        #expect(nameError.message.contains("hostname mismatch"), "\(nameError.message)")
        #expect(caError.message.contains("unknown ca"), "\(caError.message)")
        #expect(spin(loop) { accepted.failures.count == 2 && accepted.recorders[0].closedCount == 1 })
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("TLSContext errors name the file and OpenSSL's reason")
    func contextErrors() throws {
        try #require(fixture.generated)
        var missing = serverConfiguration()
        missing.certificateChainFile = fixture.path("missing.pem")
        let missingError = #expect(throws: TLSError.self) { try TLSContext(missing) }
        #expect(missingError?.message.contains("missing.pem") == true, "\(missingError?.message ?? "")")
        #expect(missingError?.message.contains("No such file") == true, "\(missingError?.message ?? "")")

        var mismatched = serverConfiguration()
        mismatched.privateKeyFile = fixture.path("device-1.key")
        let mismatchError = #expect(throws: TLSError.self) { try TLSContext(mismatched) }
        #expect(mismatchError?.message.contains("key values mismatch") == true, "\(mismatchError?.message ?? "")")

        var noCA = serverConfiguration()
        noCA.clientAuth = .required
        #expect(throws: TLSError.self) { try TLSContext(noCA) }
    }
}
