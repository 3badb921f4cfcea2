import FleetObservability
import FleetRuntime
import Logging

/// The agent's Prometheus endpoint (`--metrics HOST:PORT`, `metrics:`): `GET /metrics` on the
/// agent's own loop, one request per connection. There is no HTTP server in the agent and none
/// is added for this: the head parser is FleetObservability's, bounded, and every connection is
/// bounded in bytes, time and number.
///
/// **Loop-thread only.**
final class MetricsListener {
    /// Connections open at once; past it a new one hears 503 and is closed. Scrapers hold one.
    static let maxConnections = 16
    /// The whole request head must arrive within this, however slowly it trickles (slowloris):
    /// then 408 and close. A scraper sends its ~200 bytes at once.
    static let requestTimeoutMs: UInt64 = 5_000
    /// How often deadlines are checked: a slow client is cut within timeout + this.
    static let sweepIntervalMs: UInt64 = 250

    let server: TCPServer
    private let loop: EventLoop
    private let log: Logger
    private let exposition: () -> String
    private var exchanges: [ObjectIdentifier: MetricsExchange] = [:]
    private let sweep: LoopTimer

    /// Counted for the exposition itself (fleetgate_agent_metrics_requests_total).
    private(set) var answered: [HTTPStatus: UInt64] = [:]
    private(set) var refusedOverCap: UInt64 = 0
    private(set) var timedOut: UInt64 = 0

    init(loop: EventLoop, address: ListenAddress, log: Logger, exposition: @escaping () -> String) throws {
        self.loop = loop
        self.log = log
        self.exposition = exposition
        sweep = LoopTimer(loop: loop)
        var accept: ((TCPStream) -> Void)?
        server = try TCPServer(loop: loop, host: address.host, port: address.port) { accept?($0) }
        accept = { [unowned self] in self.accept($0) }
        server.onAcceptError = { [log, unowned server] error in log.warning("metrics listener \(server.localAddress): \(error)") }
        sweep.start(afterMilliseconds: Self.sweepIntervalMs, repeatEveryMilliseconds: Self.sweepIntervalMs) { [unowned self] in self.expire() }
        log.info("Prometheus metrics on http://\(server.localAddress)/metrics")
    }

    var openConnections: Int { exchanges.count }

    private func accept(_ stream: TCPStream) {
        guard exchanges.count < Self.maxConnections else {
            refusedOverCap += 1
            return finish(stream, HTTPAnswer.error(.serviceUnavailable, "too many metrics connections"))
        }
        let exchange = MetricsExchange(stream: stream, deadline: loop.now + Self.requestTimeoutMs, listener: self)
        exchanges[ObjectIdentifier(exchange)] = exchange
        stream.handler = exchange
        stream.startReading()
    }

    /// Writes the answer to the request head (or to its refusal) and closes gracefully.
    func answer(_ exchange: MetricsExchange, _ head: Result<HTTPRequestHead, HTTPHeadError>) {
        let response = MetricsRoute.response(to: head, exposition: exposition)
        if case .failure(let e) = head { log.debug("metrics request from \(exchange.stream.remoteAddress) refused: \(e)") }
        finish(exchange.stream, response)
    }

    private func finish(_ stream: any ByteStream, _ response: HTTPAnswer) {
        answered[response.status, default: 0] += 1
        stream.stopReading()
        stream.write(response.bytes)
        stream.close()
    }

    func forget(_ exchange: MetricsExchange) { exchanges[ObjectIdentifier(exchange)] = nil }

    private func expire() {
        let now = loop.now
        for exchange in exchanges.values where !exchange.isAnswered && now >= exchange.deadline {
            timedOut += 1
            exchange.isAnswered = true
            finish(exchange.stream, HTTPAnswer.error(.requestTimeout, "the request head did not arrive within \(Self.requestTimeoutMs) ms"))
        }
    }

    func close() {
        sweep.close()
        server.close()
        for exchange in exchanges.values { exchange.stream.closeNow() }
    }
}

/// One connection to the metrics listener: the head parser's state until the answer is written.
final class MetricsExchange: StreamHandler {
    let stream: any ByteStream
    let deadline: UInt64
    var isAnswered = false
    private var parser = HTTPRequestHeadParser()
    private unowned let listener: MetricsListener

    init(stream: any ByteStream, deadline: UInt64, listener: MetricsListener) {
        self.stream = stream
        self.deadline = deadline
        self.listener = listener
    }

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        guard !isAnswered else { return }  // bytes after the head (a body) are not read
        let head: Result<HTTPRequestHead, HTTPHeadError>
        do throws(HTTPHeadError) {
            guard let h = try parser.feed(bytes) else { return }
            head = .success(h)
        } catch {
            head = .failure(error)
        }
        isAnswered = true
        listener.answer(self, head)
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        listener.forget(self)
    }
}
