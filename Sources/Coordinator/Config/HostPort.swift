import FleetConfig

/// A `HOST:PORT` to listen on; IPv6 hosts in brackets (`[::1]:7420`). Port 0 = the OS picks.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) { self.host = host; self.port = port }

    /// Parses `HOST:PORT`; the error text says what is wrong.
    public static func parse(_ text: String) -> Result<HostPort, ConfigError> {
        func fail(_ why: String) -> Result<HostPort, ConfigError> { .failure(ConfigError(file: nil, line: nil, key: "", message: why)) }
        var host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return fail("missing ']' after IPv6 host") }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return fail("expected ':PORT' after ']'") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return fail("expected HOST:PORT, got '\(text)'") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return fail("IPv6 hosts go in brackets: [::1]:7420") }
        }
        guard !host.isEmpty else { return fail("empty host") }
        guard let port = UInt16(portText) else { return fail("port must be 0...65535, got '\(portText)'") }
        return .success(HostPort(host: String(host), port: port))
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
