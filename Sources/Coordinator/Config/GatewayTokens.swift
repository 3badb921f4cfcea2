import FleetConfig
import FleetProtocol
import Foundation

/// Per-gateway HELLO credentials (`gateway_tokens`, `--gateway-tokens FILE`): one line per gateway,
/// `<gateway-id> <token>`, blank lines and `#` comments ignored. A gateway listed here must say
/// HELLO with its own token; the shared token no longer admits that id, so holding the shared
/// token is not enough to take over a gateway's session (issue #11). Listed ids count as
/// registered when registration is closed. Pure parsing; errors name the file and line.
public struct GatewayTokens: Sendable, Equatable {
    public private(set) var byGateway: [String: [UInt8]] = [:]

    public init(_ byGateway: [String: [UInt8]] = [:]) { self.byGateway = byGateway }

    public subscript(gateway: String) -> [UInt8]? { byGateway[gateway] }
    public var isEmpty: Bool { byGateway.isEmpty }

    public static func parse(_ text: String, file: String) throws(ConfigError) -> GatewayTokens {
        var out: [String: [UInt8]] = [:]
        // isNewline: "\r\n" is one Character in Swift, so splitting on "\n" alone misses CRLF files.
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            func fail(_ message: String) -> ConfigError { ConfigError(file: file, line: index + 1, key: "gateway_tokens", message: message) }
            guard fields.count == 2 else { throw fail("expected '<gateway-id> <token>', got \(fields.count) fields") }
            let id = String(fields[0]), token = Array(fields[1].utf8)
            guard (1...FleetLimits.maxIdentifierBytes).contains(id.utf8.count) else { throw fail("gateway id of \(id.utf8.count) bytes (1-\(FleetLimits.maxIdentifierBytes))") }
            guard token.count >= 16 else { throw fail("the token of \(id) is shorter than 16 bytes") }
            guard token.count <= FleetLimits.maxTokenBytes else { throw fail("the token of \(id) is longer than \(FleetLimits.maxTokenBytes) bytes") }
            guard out.updateValue(token, forKey: id) == nil else { throw fail("gateway \(id) is listed twice") }
        }
        return GatewayTokens(out)
    }

    public static func load(path: String) throws(ConfigError) -> GatewayTokens {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: nil, key: "gateway_tokens", message: "cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }
}
