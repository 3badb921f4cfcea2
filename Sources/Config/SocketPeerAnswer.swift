import FleetCore
import Foundation

/// What an open event's answer says about peering (issue #15): the endpoint names the socket's
/// peer, a socket id or a rendezvous name, in an `X-Fleetgate-Peer` response header or as
/// `{"peer": "..."}` in a JSON body. The header wins when both are given. A JSON body that names a
/// peer is for the service, not the device: it is not written back.
///
/// Here beside the mapping because reading the body uses Foundation's JSONSerialization.
public struct SocketPeerAnswer: Equatable, Sendable {
    public static let header = "X-Fleetgate-Peer"

    /// nil: the answer names no peer.
    public var peer: String?
    /// The body was the peer's JSON document: do not write it to the device.
    public var bodyConsumed: Bool

    public init(peer: String?, bodyConsumed: Bool) { self.peer = peer; self.bodyConsumed = bodyConsumed }

    /// A peer named but not a valid name (SocketPeerName.isValid): the open event failed.
    public struct Problem: Error, Equatable, Sendable {
        public var message: String
        public init(_ message: String) { self.message = message }
    }

    /// `headerValue`: the `X-Fleetgate-Peer` header, if the answer had one. A body is only read as
    /// JSON when it starts with `{` (after white space) and is at most 4 KiB: anything else is
    /// bytes for the device.
    public static func read(headerValue: String?, body: [UInt8]) throws(Problem) -> SocketPeerAnswer {
        if let headerValue {
            let name = headerValue.trimmingCharacters(in: .whitespaces)
            guard SocketPeerName.isValid(name) else { throw Problem("\(header): a peer is 1-\(SocketLimits.maxPeerNameBytes) printable ASCII bytes without spaces") }
            return SocketPeerAnswer(peer: name, bodyConsumed: false)
        }
        guard body.count <= maxJSONBytes, body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let value = object["peer"]
        else { return SocketPeerAnswer(peer: nil, bodyConsumed: false) }
        guard let name = value as? String, SocketPeerName.isValid(name) else {
            throw Problem("peer: must be a string of 1-\(SocketLimits.maxPeerNameBytes) printable ASCII bytes without spaces")
        }
        return SocketPeerAnswer(peer: name, bodyConsumed: true)
    }

    /// Larger bodies are never a peer document (one name is at most 160 bytes).
    public static let maxJSONBytes = 4_096
}
