import FleetConfig
import Foundation
import Hummingbird

/// The socket service (issue #14): function mappings (`PUT/GET/DELETE /v1/mappings/{name}`,
/// `GET /v1/mappings`), validated with the agents' own validator and pushed to every gateway, and
/// the open sockets the agents report (`GET /v1/sockets`).
extension AdminAPI {
    static func addSocketRoutes(to router: Router<BasicRequestContext>, bridge: FabricBridge) {
        router.get("v1/sockets") { _, _ in json(await bridge.read { $0.socketsView() }) }
        // Issue #15: closes the socket and, through its link, its peer (admin token: a write).
        router.delete("v1/sockets/:id") { _, context in
            let id = pathId(context)
            guard await bridge.write({ $0.closeSocket(id) }) else {
                return error(.notFound, "no gateway reported a socket '\(id)'", code: "not_found")
            }
            return json(["closing": id])
        }
        router.get("v1/mappings") { _, _ in rawJSON(await bridge.read { $0.mappingsJSON() }) }
        router.get("v1/mappings/:id") { _, context in
            let name = pathId(context)
            guard let document = await bridge.read({ $0.sockets.mappings[name] }) else {
                return error(.notFound, "no mapping named '\(name)'", code: "not_found")
            }
            return rawJSON(document)
        }
        router.put("v1/mappings/:id") { request, context in
            let name = pathId(context)
            do throws(SocketMappingError) { try SocketMapping.checkName(name) } catch {
                return AdminAPI.error(.badRequest, "name: \(error.message)", code: "invalid_field")
            }
            let body = try await request.body.collect(upTo: SocketMapping.maxDocumentBytes + 1)
            guard body.readableBytes <= SocketMapping.maxDocumentBytes else {
                return error(.contentTooLarge, "a mapping is at most \(SocketMapping.maxDocumentBytes) bytes", code: "too_large")
            }
            let document: String
            do throws(SocketMappingError) { document = try SocketMapping(json: Array(buffer: body)).canonicalJSON } catch {
                return AdminAPI.error(.badRequest, "\(error.path): \(error.message)", code: "invalid_field")
            }
            guard await bridge.write({ $0.putMapping(name, document: document) }) else {
                return error(.internalServerError, "the mapping could not be stored", code: "internal_error")
            }
            return rawJSON(document)
        }
        router.delete("v1/mappings/:id") { _, context in
            let name = pathId(context)
            switch await bridge.write({ $0.deleteMapping(name) }) {
            case true?: return json(["deleted": name])
            case false?: return error(.notFound, "no mapping named '\(name)'", code: "not_found")
            case nil: return error(.internalServerError, "the mapping could not be deleted", code: "internal_error")
            }
        }
    }

    /// A body that is already JSON (a stored canonical document).
    static func rawJSON(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
