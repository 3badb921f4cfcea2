/// A `HOST:PORT` to listen on; IPv6 hosts in brackets (`[::1]:1883`).
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) { self.host = host; self.port = port }

    /// Parses `HOST:PORT`; nil with a reason when malformed.
    public static func parse(_ text: String) -> Result<ListenAddress, ParseFailure> {
        var host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.init("missing ']' after IPv6 host")) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.init("expected ':PORT' after ']'")) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.init("expected HOST:PORT")) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return .failure(.init("IPv6 hosts go in brackets: [::1]:1883")) }
        }
        guard !host.isEmpty else { return .failure(.init("empty host")) }
        guard let port = UInt16(portText) else { return .failure(.init("port must be 0...65535, got '\(portText)'")) }
        return .success(ListenAddress(host: String(host), port: port))
    }

    public struct ParseFailure: Error, Sendable { public let reason: String; init(_ r: String) { reason = r } }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
