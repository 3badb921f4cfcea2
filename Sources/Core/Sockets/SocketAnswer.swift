/// The codes of an `ERR <code> <reason>` answer: lowercase words with dashes, stable for firmware
/// to branch on. The reason is for people and may change.
public enum SocketErrorCode: String, Sendable, CaseIterable {
    /// The line is not `OPEN <mapping> [client=<id>] [password=<p>]` (SocketHandshake's grammar).
    case badRequest = "bad-request"
    /// No line end within 1 KiB.
    case tooLong = "too-long"
    /// No complete line within the handshake timeout.
    case timeout = "timeout"
    /// No mapping of that name on this gateway.
    case unknownMapping = "unknown-mapping"
    /// Bad credentials, or the device's policy does not allow the mapping.
    case notAuthorized = "not-authorized"
    /// The gateway cannot take the socket now (limits, shutting down, the open event failed and the
    /// mapping says close).
    case unavailable = "unavailable"
    /// Peering (issue #15): the id asked for with `id=<name>` is held by another open socket.
    case idTaken = "id-taken"
    /// Peering: the peer the endpoint named did not open within the mapping's `peer_wait_ms`.
    /// The only line the agent writes after `OK`; then the socket closes.
    case peerTimeout = "peer-timeout"
}

/// The agent's one-line answers to a handshake. After `OK` the stream is raw bytes both ways;
/// after `ERR` the agent closes the socket.
public enum SocketAnswer {
    /// `OK <socket-id>\n`. Socket ids are ours ("<gateway id>-<n>"); a byte that a device could not
    /// read as part of one token (outside 0x21-0x7E) becomes `_`, and the id is cut to 160 bytes.
    public static func ok(socketId: String) -> [UInt8] {
        var out = Array("OK ".utf8)
        var n = 0
        for b in socketId.utf8 where n < SocketLimits.maxSocketIdBytes {
            out.append((0x21...0x7E).contains(b) ? b : UInt8(ascii: "_"))
            n += 1
        }
        if n == 0 { out.append(UInt8(ascii: "_")) }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// `ERR <code> <reason>\n`: the reason's characters outside printable ASCII (0x20-0x7E) become
    /// `?`, and it is cut to `SocketLimits.maxReasonBytes` (ending in `...` when cut). An empty
    /// reason gives `ERR <code>\n`.
    public static func error(_ code: SocketErrorCode, _ reason: String) -> [UInt8] {
        var out = Array("ERR \(code.rawValue)".utf8)
        var text: [UInt8] = []
        for scalar in reason.unicodeScalars {
            if text.count == SocketLimits.maxReasonBytes {
                text.replaceSubrange((text.count - 3)..., with: "...".utf8)
                break
            }
            text.append((0x20...0x7E).contains(scalar.value) ? UInt8(scalar.value) : UInt8(ascii: "?"))
        }
        if !text.isEmpty {
            out.append(UInt8(ascii: " "))
            out += text
        }
        out.append(UInt8(ascii: "\n"))
        return out
    }

    public static func error(_ refusal: SocketRefusal) -> [UInt8] { error(refusal.code, refusal.reason) }
}
