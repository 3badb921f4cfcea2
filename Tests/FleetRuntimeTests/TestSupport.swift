import FleetRuntime
import Glibc
import Testing

/// Runs the loop until `done()` holds, bounded by loop turns and by a watchdog: a repeating
/// 10 ms timer makes every blocking turn return, and after `maxTicks` ticks (≈ 10 s) the spin gives
/// up. Returns `done()`. The watchdog is closed before returning.
@discardableResult
func spin(_ loop: EventLoop, maxTurns: Int = 1_000_000, maxTicks: Int = 1_000, until done: () -> Bool) -> Bool {
    final class Ticks { var count = 0 }
    let ticks = Ticks()
    let watchdog = LoopTimer(loop: loop)
    watchdog.start(afterMilliseconds: 10, repeatEveryMilliseconds: 10) { ticks.count += 1 }
    defer { watchdog.close() }
    var turns = 0
    while !done() && turns < maxTurns && ticks.count < maxTicks {
        loop.runOnce(nowait: false)
        turns += 1
    }
    return done()
}

/// Runs `count` non-blocking loop turns.
func turn(_ loop: EventLoop, _ count: Int = 1) {
    for _ in 0..<count { loop.runOnce(nowait: true) }
}

/// Records everything a stream reports; optionally echoes.
final class Recorder: StreamHandler {
    var received: [UInt8] = []
    var reads = 0
    var closedCount = 0
    var closeError: RuntimeError?
    let echo: Bool

    init(echo: Bool = false) { self.echo = echo }

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        reads += 1
        received.append(contentsOf: bytes)
        if echo { stream.write(bytes) }
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        closedCount += 1
        closeError = error
    }
}

/// Accepted streams of a test server, each with its Recorder.
final class Accepted {
    var streams: [TCPStream] = []
    var recorders: [Recorder] = []
}

/// A listening server on port 0 whose accepted streams get a Recorder (and start reading).
func makeServer(_ loop: EventLoop, host: String = "127.0.0.1", echo: Bool, read: Bool = true) throws -> (TCPServer, Accepted) {
    let accepted = Accepted()
    let server = try TCPServer(loop: loop, host: host, port: 0) { stream in
        let recorder = Recorder(echo: echo)
        stream.handler = recorder
        if read { stream.startReading() }
        accepted.streams.append(stream)
        accepted.recorders.append(recorder)
    }
    return (server, accepted)
}

/// Connects a client (with a Recorder, reading unless `read` is false) and waits until the server
/// accepted it.
func connectClient(_ loop: EventLoop, to server: TCPServer, accepted: Accepted, host: String = "127.0.0.1",
                   read: Bool = true) throws -> (TCPStream, Recorder) {
    final class Slot { var result: Result<TCPStream, RuntimeError>? }
    let slot = Slot()
    let before = accepted.streams.count
    try TCPStream.connect(loop: loop, host: host, port: server.localPort) { slot.result = $0 }
    #expect(spin(loop) { slot.result != nil && accepted.streams.count > before })
    let stream = try #require(slot.result).get()
    let recorder = Recorder()
    stream.handler = recorder
    if read { stream.startReading() }
    return (stream, recorder)
}

/// Bytes 0, 1, ..., 250, 0, 1, ... with an offset, so reordering or loss shows.
func pattern(_ count: Int, seed: Int = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 + seed) % 251) }
}

/// A fresh directory under /tmp, removed by `removeDirectory`.
func makeTemporaryDirectory() -> String {
    var template = Array("/tmp/fleetruntime-test-XXXXXX".utf8CString)
    let path = template.withUnsafeMutableBufferPointer { buffer -> String in
        guard let result = mkdtemp(buffer.baseAddress!) else { return "" }
        return String(cString: result)
    }
    precondition(!path.isEmpty, "mkdtemp failed")
    return path
}

func removeDirectory(_ path: String) {
    guard let dir = opendir(path) else { return }
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { unlink(path + "/" + name) }
    }
    closedir(dir)
    rmdir(path)
}
