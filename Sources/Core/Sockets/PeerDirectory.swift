/// Who links with whom (issue #15): the open sockets that may be named as a peer, and the sockets
/// waiting for a peer, keyed by the name they wait for. Pure; the agent keeps one for its own
/// sockets. `Token` is whatever the caller tells sockets apart by.
///
/// A socket asks once, when its open event is answered: `ask(token:id:peer:)` with its own id and
/// the peer its endpoint named (nil: none). It links with, in this order:
/// 1. a socket waiting under the same name (a rendezvous: both answers named it);
/// 2. the open socket whose id it named, unless that one waits for someone else;
/// 3. a socket waiting for this socket's id (a function named it before it opened, `id=<name>`).
/// Otherwise, with a peer named it waits under that name; without one it stays linkable by id.
/// Linked sockets leave the directory: a socket has one peer for its life.
public struct PeerDirectory<Token: Hashable> {
    public enum Outcome: Equatable {
        case linked(Token)
        /// Waits under the name it named (until a match, or `remove` at its deadline).
        case waiting
        /// No peer named and nobody waits for it: an ordinary socket, linkable by id.
        case unpaired
    }

    /// Open, unlinked sockets by id.
    private var byId: [String: Token] = [:]
    private var idOf: [Token: String] = [:]
    /// Waiting sockets by the name they wait for, and that name by socket.
    private var waiters: [String: Token] = [:]
    private var wants: [Token: String] = [:]

    public init() {}

    public var waitingCount: Int { waiters.count }
    public var linkableCount: Int { byId.count }

    public mutating func ask(token: Token, id: String, peer: String?) -> Outcome {
        if let peer {
            if let w = waiters[peer], w != token { return link(token, w) }
            if let t = byId[peer], t != token, wants[t] == nil || wants[t] == id { return link(token, t) }
        }
        if let w = waiters[id], w != token { return link(token, w) }
        byId[id] = token
        idOf[token] = id
        guard let peer else { return .unpaired }
        // A second socket waiting under the same name took the first one's place would break the
        // first's rendezvous: it is matched in step 1 above instead, so the slot is free here.
        waiters[peer] = token
        wants[token] = peer
        return .waiting
    }

    /// A socket closed, timed out or linked elsewhere: it leaves the directory.
    public mutating func remove(_ token: Token) {
        if let id = idOf.removeValue(forKey: token), byId[id] == token { byId[id] = nil }
        if let name = wants.removeValue(forKey: token), waiters[name] == token { waiters[name] = nil }
    }

    private mutating func link(_ a: Token, _ b: Token) -> Outcome {
        remove(a)
        remove(b)
        return .linked(b)
    }
}

extension PeerDirectory: Sendable where Token: Sendable {}
extension PeerDirectory.Outcome: Sendable where Token: Sendable {}
