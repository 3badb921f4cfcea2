/// The device's side of opening a managed socket (issue #14): one ASCII line naming a mapping.
///
/// Grammar (bytes; ABNF, RFC 5234):
///
///     line     = *SP "OPEN" 1*SP mapping *(1*SP param) *SP [CR] LF
///     mapping  = 1*128( ALPHA / DIGIT / "." / "_" / "-" )
///     param    = ( "client=" value ) / ( "password=" value ) / ( "id=" name )   ; name: SocketPeerName
///     value    = 1*256( %x21-7E )            ; printable ASCII, no space ("=" allowed)
///
/// - The whole line, its LF (and CR) included, is at most `SocketLimits.maxHandshakeBytes` (1 KiB).
/// - Tokens are separated by runs of spaces (0x20 only); leading and trailing spaces are ignored.
/// - `OPEN` and the keys are case-sensitive; each key at most once, in any order.
/// - Every byte before the line end is printable ASCII (0x20-0x7E); a CR is allowed only right
///   before the LF.
/// - Bytes after the LF belong to the data stream: they come back as `rest`, never lost.
///
/// Errors, for the `ERR <code> <reason>` answer: `bad-request` for a byte outside the grammar
/// (reported as soon as it arrives), a verb other than OPEN, a missing or bad mapping name, a
/// token that is not `key=value`, an unknown or repeated key, or a bad value; `too-long` when 1 KiB
/// arrives without a line end. Reasons never quote a value (a password could be in it).
public struct SocketOpenRequest: Equatable, Hashable, Sendable {
    public var mapping: String
    public var clientId: String?
    public var password: String?
    /// `id=<name>` (issue #15): the socket id the device asks for, so that a function can name the
    /// socket as a peer before it exists (SocketPeerName.isRequestable).
    public var requestedId: String?
    /// `PEER <socket-id> <secret>` instead of `OPEN` (issue #15): another agent's half of a
    /// cross-gateway link, never a device. `mapping` is empty then.
    public var peerConnect: SocketPeerConnect?

    public init(mapping: String, clientId: String? = nil, password: String? = nil, requestedId: String? = nil) {
        self.mapping = mapping; self.clientId = clientId; self.password = password; self.requestedId = requestedId
    }

    public init(peerConnect: SocketPeerConnect) {
        self.mapping = ""
        self.peerConnect = peerConnect
    }

    /// The line a device would send for this request, LF-ended (firmware examples, the fuzz oracle's
    /// round trip). Only meaningful for a request the parser could have produced.
    public var line: [UInt8] {
        if let peerConnect { return peerConnect.line }
        var s = "OPEN " + mapping
        if let clientId { s += " client=" + clientId }
        if let password { s += " password=" + password }
        if let requestedId { s += " id=" + requestedId }
        return Array((s + "\n").utf8)
    }
}

/// A handshake refused: the code and reason of the `ERR` answer (`SocketAnswer.error`).
public struct SocketRefusal: Error, Equatable, Sendable {
    public var code: SocketErrorCode
    public var reason: String
    public init(_ code: SocketErrorCode, _ reason: String) { self.code = code; self.reason = reason }
}

/// Reads the handshake line from bytes fed in any split. Holds at most 1 KiB; after an outcome
/// other than `needMore` it keeps answering the same way.
public struct SocketHandshake: Sendable {
    public enum Outcome: Equatable, Sendable {
        /// No line end yet.
        case needMore
        /// The line, and the bytes that followed it in the same feed (the start of the data stream).
        case complete(SocketOpenRequest, rest: [UInt8])
        case refused(SocketRefusal)
    }

    private var line: [UInt8] = []
    private var done: Outcome?

    public init() {}

    /// Bytes of the line held so far (for the agent's pre-handshake memory accounting).
    public var bufferedBytes: Int { line.count }

    public mutating func feed(_ bytes: [UInt8]) -> Outcome {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Feeds the next bytes from the device. After `complete`, further bytes are all data: they
    /// come back as `rest`.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        if let done {
            if case .complete(let request, _) = done { return .complete(request, rest: Array(bytes)) }
            return done
        }
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: "\n") {
                let outcome: Outcome
                switch Self.parse(line) {
                case .success(let request): outcome = .complete(request, rest: Array(bytes[(i + 1)...]))
                case .failure(let refusal): outcome = .refused(refusal)
                }
                line = []
                done = outcome
                return outcome
            }
            // A CR must be the last byte before the LF: anything after it is an error now.
            if line.last == UInt8(ascii: "\r") { return refuse(.badRequest, "CR not followed by LF") }
            if line.count + 1 >= SocketLimits.maxHandshakeBytes {  // this byte and the LF would not fit
                return refuse(.tooLong, "no line end within \(SocketLimits.maxHandshakeBytes) bytes")
            }
            guard (0x20...0x7E).contains(b) || b == UInt8(ascii: "\r") else {
                return refuse(.badRequest, "byte 0x\(String(b, radix: 16)) in the handshake line")
            }
            line.append(b)
        }
        return .needMore
    }

    private mutating func refuse(_ code: SocketErrorCode, _ reason: String) -> Outcome {
        let outcome = Outcome.refused(SocketRefusal(code, reason))
        line = []
        done = outcome
        return outcome
    }

    /// Parses one complete line, without its LF (a final CR is dropped here). The bytes are known
    /// to be printable ASCII but for that CR.
    public static func parse(_ line: [UInt8]) -> Result<SocketOpenRequest, SocketRefusal> {
        var body = line[...]
        if body.last == UInt8(ascii: "\r") { body = body.dropLast() }
        if body.contains(where: { !(0x20...0x7E).contains($0) }) { return .failure(SocketRefusal(.badRequest, "non-printable byte in the handshake line")) }
        let tokens = body.split(separator: UInt8(ascii: " "))
        if let verb = tokens.first, verb.elementsEqual("PEER".utf8) {
            guard tokens.count == 3, let connect = SocketPeerConnect(socketId: tokens[1], secretHex: tokens[2]) else {
                return .failure(SocketRefusal(.badRequest, "expected PEER <socket id> <32 hex digits>"))
            }
            return .success(SocketOpenRequest(peerConnect: connect))
        }
        guard let verb = tokens.first, verb.elementsEqual("OPEN".utf8) else {
            return .failure(SocketRefusal(.badRequest, "expected OPEN <mapping>"))
        }
        guard tokens.count >= 2 else { return .failure(SocketRefusal(.badRequest, "no mapping name")) }
        let mapping = tokens[1]
        guard isMappingName(mapping) else {
            return .failure(SocketRefusal(.badRequest, "mapping names are 1-\(SocketLimits.maxMappingNameBytes) bytes of A-Z a-z 0-9 . _ -"))
        }
        var request = SocketOpenRequest(mapping: String(decoding: mapping, as: UTF8.self))
        for token in tokens.dropFirst(2) {
            guard let eq = token.firstIndex(of: UInt8(ascii: "=")) else {
                return .failure(SocketRefusal(.badRequest, "expected key=value after the mapping name"))
            }
            let key = String(decoding: token[..<eq], as: UTF8.self)
            let value = token[(eq + 1)...]
            guard !value.isEmpty, value.count <= SocketLimits.maxHandshakeValueBytes else {
                return .failure(SocketRefusal(.badRequest, "\(key.prefix(16)): values are 1-\(SocketLimits.maxHandshakeValueBytes) bytes"))
            }
            let text = String(decoding: value, as: UTF8.self)
            switch key {
            case "client":
                guard request.clientId == nil else { return .failure(SocketRefusal(.badRequest, "client given twice")) }
                request.clientId = text
            case "password":
                guard request.password == nil else { return .failure(SocketRefusal(.badRequest, "password given twice")) }
                request.password = text
            case "id":
                guard request.requestedId == nil else { return .failure(SocketRefusal(.badRequest, "id given twice")) }
                guard SocketPeerName.isRequestable(value) else {
                    return .failure(SocketRefusal(.badRequest, "id: 1-\(SocketLimits.maxRequestedIdBytes) bytes of A-Z a-z 0-9 . _ -, not ending in -<digits>"))
                }
                request.requestedId = text
            default:
                return .failure(SocketRefusal(.badRequest, "unknown key \(key.prefix(16)) (known: client, password, id)"))
            }
        }
        return .success(request)
    }

    /// 1-128 bytes of [A-Za-z0-9._-]: the mapping names of the handshake, the API and the config.
    public static func isMappingName(_ name: some Collection<UInt8>) -> Bool {
        guard !name.isEmpty, name.count <= SocketLimits.maxMappingNameBytes else { return false }
        return name.allSatisfy { b in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(b)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
                || b == UInt8(ascii: "-")
        }
    }

    public static func isMappingName(_ name: String) -> Bool { isMappingName(name.utf8) }
}
