@testable import FleetRuntime
import Glibc
import Testing

// MARK: Subprocesses (no Foundation)

/// Starts `/bin/sh -c command`; returns its pid.
func spawnShell(_ command: String) -> pid_t {
    var pid: pid_t = 0
    let arguments: [String] = ["/bin/sh", "-c", command]
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    let rc = posix_spawn(&pid, "/bin/sh", nil, nil, &argv, environ)
    precondition(rc == 0, "posix_spawn failed: \(rc)")
    return pid
}

/// The exit status of a finished child; nil if it is still running (`block == false`).
func exitStatus(of pid: pid_t, block: Bool) -> Int32? {
    var status: Int32 = 0
    let rc = waitpid(pid, &status, block ? 0 : WNOHANG)
    if rc == 0 { return nil }
    return (status >> 8) & 0xff
}

/// Runs a shell command to completion; returns its exit status.
@discardableResult
func shell(_ command: String) -> Int32 {
    exitStatus(of: spawnShell(command), block: true) ?? -1
}

func readFile(_ path: String) -> String {
    guard let file = fopen(path, "r") else { return "" }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

func writeFile(_ path: String, _ text: String) {
    guard let file = fopen(path, "w") else { return }
    fputs(text, file)
    fclose(file)
}

// MARK: Certificates, generated at test time with the openssl CLI

/// A CA, a server certificate (SAN DNS:localhost, IP:127.0.0.1), client certificates device-1 and
/// device-2, an expired client certificate, and a client certificate from another CA. Generated
/// once per test process into a temporary directory, removed at exit. Keys never leave /tmp.
final class CertificateFixture: Sendable {
    static let shared = CertificateFixture()

    let directory: String
    let generated: Bool

    init() {
        directory = makeTemporaryDirectory()
        generated = Self.generate(in: directory)
        Self.removeAtExit(directory)
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    static let ecKey = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

    static func generate(in dir: String) -> Bool {
        writeFile("\(dir)/server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        writeFile("\(dir)/device-1.ext",
                  "subjectAltName=DNS:device-1.fleet,URI:urn:fleet:device-1,email:device-1@example.com\nextendedKeyUsage=clientAuth\n")
        writeFile("\(dir)/client.ext", "extendedKeyUsage=clientAuth\n")
        // `openssl ca` is the OpenSSL 3.0 way to set explicit validity dates (-startdate/-enddate).
        writeFile("\(dir)/ca.cnf", """
            [ ca ]
            default_ca = test_ca
            [ test_ca ]
            database = \(dir)/index.txt
            serial = \(dir)/serial
            new_certs_dir = \(dir)
            default_md = sha256
            policy = any
            unique_subject = no
            [ any ]
            commonName = supplied
            [ client ]
            extendedKeyUsage = clientAuth

            """)
        let caExt = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        let commands = [
            "cd \(dir) && : > index.txt && echo 1000 > serial",
            "cd \(dir) && openssl req -x509 \(ecKey) -keyout ca.key -out ca.pem -subj '/CN=Fleet Test CA' -days 3650 \(caExt)",
            "cd \(dir) && openssl req -x509 \(ecKey) -keyout other-ca.key -out other-ca.pem -subj '/CN=Other CA' -days 3650 \(caExt)",
            "cd \(dir) && openssl req -new \(ecKey) -keyout server.key -out server.csr -subj /CN=localhost",
            "cd \(dir) && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 365 -extfile server.ext",
            "cd \(dir) && openssl req -new \(ecKey) -keyout device-1.key -out device-1.csr -subj /CN=device-1",
            "cd \(dir) && openssl x509 -req -in device-1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out device-1.pem -days 365 -extfile device-1.ext",
            "cd \(dir) && openssl req -new \(ecKey) -keyout device-2.key -out device-2.csr -subj /CN=device-2",
            "cd \(dir) && openssl x509 -req -in device-2.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out device-2.pem -days 365 -extfile client.ext",
            "cd \(dir) && openssl req -new \(ecKey) -keyout expired.key -out expired.csr -subj /CN=device-expired",
            "cd \(dir) && openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem -startdate 20200101000000Z -enddate 20200102000000Z -extensions client -notext",
            "cd \(dir) && openssl req -new \(ecKey) -keyout stranger.key -out stranger.csr -subj /CN=device-stranger",
            "cd \(dir) && openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial -out stranger.pem -days 365 -extfile client.ext",
        ]
        for command in commands where shell("(\(command)) >> \(dir)/openssl.log 2>&1") != 0 {
            print("certificate generation failed: \(command)\n\(readFile("\(dir)/openssl.log"))")
            return false
        }
        return true
    }

    /// A new server key and certificate (same CA, same names) written over `certificate`/`key`.
    func issueServerCertificate(certificate: String, key: String) -> Bool {
        let dir = directory
        return shell("""
            (openssl req -new \(Self.ecKey) -keyout \(key).new -out \(key).csr -subj /CN=localhost && \
             openssl x509 -req -in \(key).csr -CA \(dir)/ca.pem -CAkey \(dir)/ca.key -CAcreateserial \
               -out \(certificate).new -days 365 -extfile \(dir)/server.ext && \
             mv \(key).new \(key) && mv \(certificate).new \(certificate) && rm -f \(key).csr) >> \(dir)/openssl.log 2>&1
            """) == 0
    }

    /// "sha256 Fingerprint=AB:CD:..." from the CLI, as PeerCertificate spells it.
    static func fingerprint(of certificate: String) -> String {
        let out = "\(certificate).\(UInt64.random(in: 0...UInt64.max)).fp"     // tests run in parallel
        shell("openssl x509 -in \(certificate) -noout -fingerprint -sha256 > \(out)")
        let text = readFile(out)
        unlink(out)
        guard let equals = text.firstIndex(of: "=") else { return "" }
        return String(text[text.index(after: equals)...].filter { $0.isHexDigit }).lowercased()
    }

    nonisolated(unsafe) private static var pathsToRemove: [String] = []

    private static func removeAtExit(_ path: String) {
        pathsToRemove.append(path)
        atexit {
            for path in CertificateFixture.pathsToRemove { shell("rm -rf '\(path)'") }
        }
    }
}

// MARK: Servers and clients

/// What a test TLS server saw: accepted streams (with Recorders) and handshake failures.
final class TLSAccepted {
    var streams: [any ByteStream] = []
    var recorders: [Recorder] = []
    var failures: [(remote: String, reason: String)] = []
}

func serverConfiguration(_ fixture: CertificateFixture = .shared) -> TLSConfiguration {
    TLSConfiguration(certificateChainFile: fixture.path("server.pem"), privateKeyFile: fixture.path("server.key"))
}

/// A TLS server on 127.0.0.1 port 0 whose accepted streams get a Recorder (and start reading).
func makeTLSServer(_ loop: EventLoop, context: TLSContext, echo: Bool = true) throws -> (TLSServer, TLSAccepted) {
    let accepted = TLSAccepted()
    let server = try TLSServer(loop: loop, host: "127.0.0.1", port: 0, context: context) { stream in
        let recorder = Recorder(echo: echo)
        stream.handler = recorder
        stream.startReading()
        accepted.streams.append(stream)
        accepted.recorders.append(recorder)
    }
    server.onHandshakeFailure = { accepted.failures.append(($0, $1)) }
    return (server, accepted)
}

func clientContext(_ fixture: CertificateFixture = .shared, certificate: String? = nil,
                   maximumVersion: TLSConfiguration.Version? = nil, alpn: [String] = []) throws -> TLSClientContext {
    var configuration = TLSClientConfiguration(caFile: fixture.path("ca.pem"))
    if let certificate {
        configuration.certificateChainFile = fixture.path("\(certificate).pem")
        configuration.privateKeyFile = fixture.path("\(certificate).key")
    }
    configuration.maximumVersion = maximumVersion
    configuration.alpn = alpn
    return try TLSClientContext(configuration)
}

/// The client side of one TLS connection attempt: the connect result, and (once connected) a
/// Recorder reading from it.
final class TLSAttempt {
    var result: Result<any ByteStream, RuntimeError>?
    let recorder = Recorder()
    var stream: (any ByteStream)? { try? result?.get() }
    /// Connect failed, or connected and then closed.
    var isResolvedAsClosed: Bool {
        switch result {
        case .failure: return true
        case .success: return recorder.closedCount == 1
        case nil: return false
        }
    }
}

func startTLSClient(_ loop: EventLoop, port: UInt16, context: TLSClientContext,
                    serverName: String? = "localhost") throws -> TLSAttempt {
    let attempt = TLSAttempt()
    try TLSStream.connect(loop: loop, host: "127.0.0.1", port: port, context: context, serverName: serverName) { result in
        attempt.result = result
        if case .success(let stream) = result {
            stream.handler = attempt.recorder
            stream.startReading()
        }
    }
    return attempt
}

/// Connects and waits until both the client and the server completed the handshake.
func connectTLSClient(_ loop: EventLoop, server: TLSServer, accepted: TLSAccepted, context: TLSClientContext,
                      serverName: String? = "localhost") throws -> (any ByteStream, Recorder) {
    let before = accepted.streams.count
    let attempt = try startTLSClient(loop, port: server.localPort, context: context, serverName: serverName)
    #expect(spin(loop) { attempt.result != nil && (accepted.streams.count > before || !accepted.failures.isEmpty) })
    let stream = try #require(attempt.result).get()
    try #require(accepted.streams.count > before)
    return (stream, attempt.recorder)
}
