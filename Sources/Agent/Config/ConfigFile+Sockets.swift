import FleetConfig
import Foundation
import Yams

extension ConfigFile {
    /// `mappings:` name -> the object `PUT /v1/mappings/{name}` takes, checked by the same
    /// validator (SocketMapping); stored as its canonical JSON. An error names the mapping's line
    /// and the field (`mappings.meters.endpoint.url`).
    static func mappings(_ node: Node, _ r: NodeReader) throws(ConfigError) -> [String: String] {
        var out: [String: String] = [:]
        for (name, value) in try r.mapping(node, key: "mappings") {
            do throws(SocketMappingError) { try SocketMapping.checkName(name) } catch {
                throw r.error(value, key: "mappings.\(name)", error.message)
            }
            let object: Any
            do {
                let yaml = try Yams.serialize(node: value)
                object = try Yams.load(yaml: yaml) as Any
            } catch {
                throw r.error(value, key: "mappings.\(name)", "not a mapping object: \(error)")
            }
            do throws(SocketMappingError) {
                out[name] = try SocketMapping(object: object as Any).canonicalJSON
            } catch {
                throw r.error(value, key: "mappings.\(name).\(error.path)", error.message)
            }
        }
        return out
    }
}
