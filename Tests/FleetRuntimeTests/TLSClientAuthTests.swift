import FleetRuntime
import Glibc
import Testing

@Suite("Mutual TLS")
struct TLSClientAuthTests {
    let fixture = CertificateFixture.shared

    func context(_ mode: TLSConfiguration.ClientAuth) throws -> TLSContext {
        var configuration = serverConfiguration()
        configuration.caFile = fixture.path("ca.pem")
        configuration.clientAuth = mode
        return try TLSContext(configuration)
    }

    @Test("required: device-1 is accepted with its subject and SANs", arguments: [TLSConfiguration.Version.tls12, .tls13])
    func requiredAccepts(version: TLSConfiguration.Version) throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: context(.required))
        let (stream, recorder) = try connectTLSClient(loop, server: server, accepted: accepted,
                                                      context: clientContext(certificate: "device-1", maximumVersion: version))
        let peer = try #require(accepted.streams[0].tls?.peerCertificate)
        #expect(peer.subjectCommonName == "device-1")
        #expect(peer.dnsNames == ["device-1.fleet"])
        #expect(peer.uris == ["urn:fleet:device-1"])
        #expect(peer.emails == ["device-1@example.com"])
        #expect(peer.sha256Fingerprint == CertificateFixture.fingerprint(of: fixture.path("device-1.pem")))
        #expect(peer.notAfterEpochSeconds > Int64(time(nil)))
        stream.write(Array("hello".utf8))
        #expect(spin(loop) { recorder.received == Array("hello".utf8) })
        stream.close()
        server.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 })
        #expect(loop.shutdown() == 0)
    }

    @Test("required rejects: no certificate, an expired one, one from another CA; the broker never sees them",
          arguments: [
            (nil, "peer did not return a certificate"),
            ("expired", "certificate expired"),
            ("stranger", "unknown ca"),
          ] as [(String?, String)], [TLSConfiguration.Version.tls12, .tls13])
    func requiredRejects(rejection: (certificate: String?, reason: String), version: TLSConfiguration.Version) throws {
        let (certificate, reason) = rejection
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: context(.required))
        let attempt = try startTLSClient(loop, port: server.localPort,
                                         context: clientContext(certificate: certificate, maximumVersion: version))
        // TLS 1.2: the client's handshake fails. TLS 1.3: the client finishes first, then reads the alert.
        #expect(spin(loop) { accepted.failures.count == 1 && attempt.isResolvedAsClosed })
        #expect(accepted.streams.isEmpty)
        #expect(server.handshakesInProgress == 0)
        let failure = try #require(accepted.failures.first)
        #expect(failure.reason.contains(reason), "\(failure.reason)")
        #expect(failure.remote.hasPrefix("127.0.0.1:"))
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("optional: accepts with a certificate (verified) and without one")
    func optional() throws {
        try #require(fixture.generated)
        let loop = try EventLoop()
        let (server, accepted) = try makeTLSServer(loop, context: context(.optional))
        let (with, _) = try connectTLSClient(loop, server: server, accepted: accepted,
                                             context: clientContext(certificate: "device-2"))
        let (without, _) = try connectTLSClient(loop, server: server, accepted: accepted, context: clientContext())
        #expect(accepted.streams[0].tls?.peerCertificate?.subjectCommonName == "device-2")
        #expect(accepted.streams[1].tls?.peerCertificate == nil)
        // A certificate that is given must still verify.
        let expired = try startTLSClient(loop, port: server.localPort, context: clientContext(certificate: "expired"))
        #expect(spin(loop) { accepted.failures.count == 1 && expired.isResolvedAsClosed })
        #expect(accepted.failures.first?.reason.contains("certificate expired") == true)
        with.close()
        without.close()
        server.close()
        #expect(spin(loop) { accepted.recorders.allSatisfy { $0.closedCount == 1 } })
        #expect(loop.shutdown() == 0)
    }
}
