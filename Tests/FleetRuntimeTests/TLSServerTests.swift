import FleetRuntime
import Glibc
import Testing

@Suite("TLS server: reload, handshake limits")
struct TLSServerTests {
    let fixture = CertificateFixture.shared

    @Test("reload(): new handshakes see the new certificate, established ones keep working; a broken key keeps the old context")
    func reload() throws {
        try #require(fixture.generated)
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let certificate = "\(dir)/server.pem", key = "\(dir)/server.key"
        shell("cp \(fixture.path("server.pem")) \(certificate) && cp \(fixture.path("server.key")) \(key)")
        let loop = try EventLoop()
        let context = try TLSContext(TLSConfiguration(certificateChainFile: certificate, privateKeyFile: key))
        let (server, accepted) = try makeTLSServer(loop, context: context)
        let client = try clientContext()

        let (first, firstRecorder) = try connectTLSClient(loop, server: server, accepted: accepted, context: client)
        let oldFingerprint = try #require(first.tls?.peerCertificate?.sha256Fingerprint)
        #expect(oldFingerprint == CertificateFixture.fingerprint(of: certificate))

        try #require(fixture.issueServerCertificate(certificate: certificate, key: key))
        let newFingerprint = CertificateFixture.fingerprint(of: certificate)
        #expect(newFingerprint != oldFingerprint)
        try context.reload()

        let (second, secondRecorder) = try connectTLSClient(loop, server: server, accepted: accepted, context: client)
        #expect(second.tls?.peerCertificate?.sha256Fingerprint == newFingerprint)
        first.write([1, 2, 3])
        second.write([4, 5, 6])
        #expect(spin(loop) { firstRecorder.received == [1, 2, 3] && secondRecorder.received == [4, 5, 6] })
        #expect(!first.isClosed)

        writeFile(key, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
        let error = #expect(throws: TLSError.self) { try context.reload() }
        #expect(error?.message.contains(key) == true, "\(error?.message ?? "")")
        let (third, _) = try connectTLSClient(loop, server: server, accepted: accepted, context: client)
        #expect(third.tls?.peerCertificate?.sha256Fingerprint == newFingerprint)

        for stream in [first, second, third] { stream.close() }
        server.close()
        #expect(spin(loop) { accepted.recorders.allSatisfy { $0.closedCount == 1 } })
        #expect(loop.shutdown() == 0)
    }

    @Test("a TCP client that sends nothing is closed by the handshake timeout")
    func handshakeTimeout() throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        var configuration = serverConfiguration()
        configuration.handshakeTimeoutMs = 20
        let (server, accepted) = try makeTLSServer(loop, context: TLSContext(configuration))
        final class Slot { var stream: TCPStream?; let recorder = Recorder() }
        let slot = Slot()
        try TCPStream.connect(loop: loop, host: "127.0.0.1", port: server.localPort) { result in
            slot.stream = try? result.get()
            slot.stream?.handler = slot.recorder
            slot.stream?.startReading()
        }
        #expect(spin(loop) { slot.recorder.closedCount == 1 })
        #expect(accepted.failures.map(\.reason) == ["handshake timeout"])
        #expect(accepted.streams.isEmpty)
        #expect(server.handshakesInProgress == 0)
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("over maxConcurrentHandshakes, new sockets are closed at once")
    func concurrentHandshakeLimit() throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        var configuration = serverConfiguration()
        configuration.maxConcurrentHandshakes = 2
        let (server, accepted) = try makeTLSServer(loop, context: TLSContext(configuration))
        final class Clients { var streams: [TCPStream] = []; var recorders: [Recorder] = [] }
        let clients = Clients()
        for _ in 0..<3 {
            try TCPStream.connect(loop: loop, host: "127.0.0.1", port: server.localPort) { result in
                guard let stream = try? result.get() else { return }
                let recorder = Recorder()
                stream.handler = recorder
                stream.startReading()
                clients.streams.append(stream)
                clients.recorders.append(recorder)
            }
        }
        #expect(spin(loop) {
            clients.streams.count == 3 && accepted.failures.count == 1
                && clients.recorders.filter { $0.closedCount == 1 }.count == 1
        })
        #expect(accepted.failures.first?.reason == "too many concurrent handshakes")
        #expect(server.handshakesInProgress == 2)
        // A stalled client must not hold anything once it goes away.
        for stream in clients.streams { stream.close() }
        #expect(spin(loop) { server.handshakesInProgress == 0 && accepted.failures.count == 3 })
        #expect(accepted.failures.dropFirst().allSatisfy { $0.reason.contains("connection closed during handshake") })
        server.close()
        #expect(loop.shutdown() == 0)
    }
}
