import Foundation
import Hummingbird

/// Maintenance runs (issue #13): `POST /v1/maintenance` creates one, `GET` shows them,
/// `POST /v1/maintenance/{id}/pause|resume|cancel|release` steer one, and named policies are
/// kept with `PUT /v1/maintenance/policies/{name}`. Writes need the admin token (AdminAuth).
extension AdminAPI {
    static func addMaintenanceRoutes(to router: Router<BasicRequestContext>, bridge: FabricBridge) {
        router.get("v1/maintenance") { _, _ in json(await bridge.read { $0.maintenanceList() }) }
        router.get("v1/maintenance/policies") { _, _ in json(await bridge.read { $0.maintenance.policies }) }
        router.get("v1/maintenance/policies/:id") { _, context in
            let name = pathId(context)
            guard let policy = await bridge.read({ $0.maintenance.policies[name] }) else {
                return error(.notFound, "no maintenance policy named '\(name)'", code: "not_found")
            }
            return json(policy)
        }
        router.put("v1/maintenance/policies/:id") { request, context in
            let name = pathId(context)
            guard !name.isEmpty, name.utf8.count <= 128 else { return error(.badRequest, "name: 1 to 128 bytes", code: "invalid_field") }
            let body = try await request.body.collect(upTo: 64 * 1024)
            guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) else {
                return error(.badRequest, "the body is not JSON", code: "bad_request")
            }
            let policy: MaintenancePolicy
            do { policy = try MaintenancePolicy(json: object, field: "policy") } catch {
                return AdminAPI.error(.badRequest, "\(error)", code: "invalid_field")
            }
            guard await bridge.write({ $0.saveMaintenancePolicy(name, policy) }) else {
                return error(.internalServerError, "the policy could not be stored", code: "internal_error")
            }
            return json(policy)
        }
        router.get("v1/maintenance/:id") { _, context in
            let id = pathId(context)
            guard let view = await bridge.read({ $0.maintenanceRunView(id) }) else {
                return error(.notFound, "no maintenance run '\(id)'", code: "not_found")
            }
            return json(view)
        }
        // {"operation": "os-patch", "gateways": ["gw-1", ...] | {"region": "eu", "labels": {"k": "v"}},
        //  "policy": {...} | "saved-policy-name"}; no policy means the defaults (one at a time).
        router.post("v1/maintenance") { request, _ in
            let object: [String: Any]
            switch jsonObject(try await request.body.collect(upTo: 256 * 1024), known: ["operation", "gateways", "policy"]) {
            case .refused(let response): return response
            case .fields(let fields): object = fields
            }
            guard let operation = object["operation"] as? String, !operation.isEmpty, operation.utf8.count <= 128 else {
                return error(.badRequest, "operation: a name of 1 to 128 bytes is required", code: "invalid_field")
            }
            let ids: [String]
            switch object["gateways"] {
            case let list as [Any]:
                guard !list.isEmpty, list.count <= 10_000, let names = list as? [String] else {
                    return error(.badRequest, "gateways: a non-empty list of gateway ids", code: "invalid_field")
                }
                ids = names
            case let selector as [String: Any]:
                if let unknown = selector.keys.sorted().first(where: { !["region", "labels"].contains($0) }) {
                    return error(.badRequest, "gateways.\(unknown): unknown field (known: labels, region)", code: "invalid_field")
                }
                if selector["region"] != nil && !(selector["region"] is String) {
                    return error(.badRequest, "gateways.region: must be a string", code: "invalid_field")
                }
                if selector["labels"] != nil && !(selector["labels"] is [String: String]) {
                    return error(.badRequest, "gateways.labels: must be an object of strings", code: "invalid_field")
                }
                let region = selector["region"] as? String, labels = selector["labels"] as? [String: String] ?? [:]
                ids = await bridge.read { $0.gateways(region: region, labels: labels) }
                guard !ids.isEmpty else { return error(.badRequest, "gateways: the selector matches no gateway", code: "invalid_field") }
            default:
                return error(.badRequest, "gateways: a list of ids or a selector {\"region\", \"labels\"} is required", code: "invalid_field")
            }
            let policy: MaintenancePolicy
            switch object["policy"] {
            case nil:
                policy = MaintenancePolicy()
            case let name as String:
                guard let saved = await bridge.read({ $0.maintenance.policies[name] }) else {
                    return error(.badRequest, "policy: no saved policy named '\(name)'", code: "invalid_field")
                }
                policy = saved
            case let body?:
                do { policy = try MaintenancePolicy(json: body, field: "policy") } catch {
                    return AdminAPI.error(.badRequest, "\(error)", code: "invalid_field")
                }
            }
            let chosen = ids
            switch await bridge.write({ $0.createMaintenanceRun(operation: operation, gateways: chosen, policy: policy) }) {
            case .created(let run):
                guard let view = await bridge.read({ $0.maintenanceRunView(run.id) }) else {
                    return error(.internalServerError, "the run vanished", code: "internal_error")
                }
                return json(view, status: .created)
            case .invalid(let why): return error(.badRequest, why, code: "invalid_field")
            case .conflict(let why): return error(.conflict, why, code: "gateway_in_run")
            }
        }
        for (verb, event) in [("pause", MaintenanceScheduler.Event.pause), ("resume", .resume), ("cancel", .cancel)] {
            router.post("v1/maintenance/:id/\(verb)") { _, context in
                let id = pathId(context)
                guard await bridge.write({ $0.maintenanceEvent(event, run: id) }) != nil,
                      let view = await bridge.read({ $0.maintenanceRunView(id) }) else {
                    return error(.notFound, "no maintenance run '\(id)'", code: "not_found")
                }
                return json(view)
            }
        }
        // {"gateway": "gw-3"}: the operator knows the host is not running the operation (its lease
        // expired while it was away): its slot is free again.
        router.post("v1/maintenance/:id/release") { request, context in
            let id = pathId(context)
            let object: [String: Any]
            switch jsonObject(try await request.body.collect(upTo: 64 * 1024), known: ["gateway"]) {
            case .refused(let response): return response
            case .fields(let fields): object = fields
            }
            guard let gateway = object["gateway"] as? String else {
                return error(.badRequest, "gateway: a gateway id is required", code: "invalid_field")
            }
            guard await bridge.write({ $0.maintenanceEvent(.release(gateway), run: id) }) != nil,
                  let view = await bridge.read({ $0.maintenanceRunView(id) }) else {
                return error(.notFound, "no maintenance run '\(id)'", code: "not_found")
            }
            return json(view)
        }
    }
}
