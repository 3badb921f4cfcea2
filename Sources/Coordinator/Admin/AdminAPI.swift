import FleetProtocol
import Foundation
import Hummingbird

/// The HTTP admin API (Hummingbird, Swift concurrency). Every handler reads fabric state through
/// the ``FabricBridge`` (a hop onto the loop thread and back); nothing here touches it directly.
/// Every 4xx answer has a JSON body `{"error": "...", "code": "..."}`.
public enum AdminAPI {
    public static func router(bridge: FabricBridge, metrics: CoordinatorMetrics, auth: AdminAuth) -> Router<BasicRequestContext> {
        let router = Router()
        // First: middlewares wrap the routes added after them and the not-found responder. The
        // token check comes before routing, so without one no path, not even an unknown one,
        // says more than 401.
        router.middlewares.add(SecurityHeadersMiddleware())
        router.middlewares.add(JSONErrorMiddleware())
        router.middlewares.add(AdminAuthMiddleware(auth: auth))

        addDashboardRoutes(to: router)
        router.get("healthz") { _, _ in json(await bridge.read { $0.health() }) }
        router.get("v1/gateways") { _, _ in json(await bridge.read { $0.gatewayList() }) }
        router.get("v1/gateways/:id") { _, context in
            let id = pathId(context)
            guard let view = await bridge.read({ $0.gateway(id: id) }) else {
                return error(.notFound, "no gateway with id '\(id)'", code: "not_found")
            }
            return json(view)
        }
        router.delete("v1/gateways/:id") { _, context in
            let id = pathId(context)
            switch await bridge.write({ $0.removeGateway(id) }) {
            case .removed: return json(RemovedView(removed: id))
            case .notFound: return error(.notFound, "no gateway with id '\(id)'", code: "not_found")
            case .connected: return error(.conflict, "gateway '\(id)' is connected; stop or drain it first", code: "gateway_connected")
            }
        }
        // Drains a gateway: every client it holds moves away by handover, `rate` clients per second
        // (default 500, EMQX's eviction default); it takes no migrated clients meanwhile.
        router.post("v1/gateways/:id/drain") { request, context in
            let id = pathId(context)
            let body = try await request.body.collect(upTo: 64 * 1024)
            var rate = 500.0
            if body.readableBytes > 0 {
                let object: [String: Any]
                switch jsonObject(body, known: ["rate"]) {
                case .refused(let response): return response
                case .fields(let fields): object = fields
                }
                if let value = object["rate"] {
                    guard let number = value as? NSNumber, !(value is Bool), number.doubleValue >= 1, number.doubleValue <= 1_000_000 else {
                        return error(.badRequest, "rate: clients per second, 1 to 1000000", code: "invalid_field")
                    }
                    rate = number.doubleValue
                }
            }
            let pace = rate
            switch await bridge.write({ $0.startDrain(id, rate: pace) }) {
            case .draining(let view): return json(view, status: .accepted)
            case .notFound: return error(.notFound, "no gateway with id '\(id)'", code: "not_found")
            case .notConnected: return error(.conflict, "gateway '\(id)' is not connected", code: "gateway_not_connected")
            }
        }
        router.post("v1/gateways/:id/resume") { _, context in
            let id = pathId(context)
            guard await bridge.write({ $0.resumeGateway(id) }) else {
                return error(.notFound, "no gateway with id '\(id)'", code: "not_found")
            }
            guard let view = await bridge.read({ $0.gateway(id: id) }) else { return error(.notFound, "no gateway with id '\(id)'", code: "not_found") }
            return json(view)
        }
        router.get("v1/migration/policy") { _, _ in json(await bridge.read { $0.migrationPlanner.policy }) }
        router.put("v1/migration/policy") { request, _ in
            let body = try await request.body.collect(upTo: 64 * 1024)
            let policy: MigrationPolicy
            // Unknown keys are refused, as in the config file: a typo must not fall back to a default.
            if let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any],
               let unknown = object.keys.sorted().first(where: { !MigrationPolicy.fieldNames.contains($0) }) {
                return error(.badRequest, "\(unknown): unknown field (known: \(MigrationPolicy.fieldNames.sorted().joined(separator: ", ")))",
                             code: "invalid_field")
            }
            do {
                policy = try JSONDecoder().decode(MigrationPolicy.self, from: Data(buffer: body))
            } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                    let DecodingError.dataCorrupted(context) {
                let field = context.codingPath.map(\.stringValue).joined(separator: ".")
                return error(.badRequest, "\(field.isEmpty ? "body" : field): \(context.debugDescription)", code: "invalid_field")
            } catch let failure {
                return error(.badRequest, "the body is not a migration policy: \(failure)", code: "bad_request")
            }
            if let problem = policy.problems().first {
                return error(.badRequest, "\(problem.field): \(problem.problem)", code: "invalid_field")
            }
            guard await bridge.write({ $0.setMigrationPolicy(policy) }) else {
                return error(.internalServerError, "the policy could not be stored", code: "internal_error")
            }
            return json(policy)
        }
        router.get("v1/migrations") { _, _ in json(await bridge.read { $0.migrationsView() }) }
        // Moves one client now: {"client_id": "...", "to": optional gateway, "from": optional gateway}.
        // Without "from" the client's gateway is the one whose load reports list it.
        router.post("v1/migrations") { request, _ in
            let object: [String: Any]
            switch jsonObject(try await request.body.collect(upTo: 64 * 1024), known: ["client_id", "from", "to"]) {
            case .refused(let response): return response
            case .fields(let fields): object = fields
            }
            guard let clientId = object["client_id"] as? String, !clientId.isEmpty, clientId.utf8.count <= 65_535 else {
                return error(.badRequest, "client_id: a non-empty string is required", code: "invalid_field")
            }
            for key in ["to", "from"] where object[key] != nil && !(object[key] is String) {
                return error(.badRequest, "\(key): must be a gateway id (a string)", code: "invalid_field")
            }
            let to = object["to"] as? String, from = object["from"] as? String
            switch await bridge.write({ fabric in fabric.startMigration(clientId: clientId, from: from, to: to, reason: "operator")
                .map { fabric.handoverItem($0, wallNow: fabric.wallClock(), loopNow: fabric.loop.now) } }) {
            case .started(let item): return json(item, status: .accepted)
            case .unknownClientLocation:
                return error(.notFound, "client_id: no gateway has reported '\(clientId)'; name it with \"from\"", code: "unknown_client")
            case .unknownGateway(let id): return error(.notFound, "no gateway with id '\(id)'", code: "not_found")
            case .targetNotEligible(let why): return error(.conflict, "to: \(why)", code: "target_not_eligible")
            case .refused(let why): return error(.conflict, why, code: "migration_refused")
            }
        }
        addMaintenanceRoutes(to: router, bridge: bridge)
        addSocketRoutes(to: router, bridge: bridge)
        router.get("v1/graph") { _, _ in json(await bridge.read { $0.graph() }) }
        router.get("v1/interest") { request, _ in
            let parameter = request.uri.queryParameters.get("topic")
            guard let parameter else {
                return error(.badRequest, "query parameter 'topic' is required", code: "bad_request")
            }
            let topic = String(parameter)
            guard MQTTTopic.isValidName(topic) else {
                return error(.badRequest, "'\(topic)' is not a valid MQTT topic name (non-empty, no wildcards)", code: "invalid_topic")
            }
            return json(await bridge.read { $0.interestView(topic: topic) })
        }
        router.get("metrics") { _, _ in
            let snapshot = await bridge.read { $0.metricsSnapshot() }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: metrics.render(snapshot))))
        }
        return router
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, code: String) -> Response {
        json(ErrorView(error: message, code: code), status: status)
    }

    /// The `{id}` of the path, percent-decoded.
    static func pathId(_ context: some RequestContext) -> String {
        let raw = context.parameters.get("id") ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    enum JSONBody {
        case fields([String: Any])
        case refused(Response)
    }

    /// A request body that must be a JSON object with only `known` keys: unknown ones are refused
    /// (a typo must not fall back to a default), with a 400 naming the field.
    static func jsonObject(_ body: ByteBuffer, known: [String]) -> JSONBody {
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            return .refused(error(.badRequest, "the body is not a JSON object", code: "bad_request"))
        }
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            return .refused(error(.badRequest, "\(unknown): unknown field (known: \(known.sorted().joined(separator: ", ")))",
                                  code: "invalid_field"))
        }
        return .fields(object)
    }
}

/// Turns errors thrown by the router (unknown path, wrong method, anything else) into JSON bodies.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPResponseError {
            let code: String
            switch e.status.code {
            case 404: code = "not_found"
            case 405: code = "method_not_allowed"
            case 400: code = "bad_request"
            default: code = "http_\(e.status.code)"
            }
            let message = (e as? HTTPError)?.body ?? "\(e.status.code) \(e.status.reasonPhrase): \(request.method) \(request.uri.path)"
            return AdminAPI.error(e.status, message, code: code)
        } catch {
            return AdminAPI.error(.internalServerError, "internal error", code: "internal_error")
        }
    }
}
