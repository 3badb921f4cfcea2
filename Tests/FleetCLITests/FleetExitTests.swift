import Foundation
import Testing

@testable import FleetCLI

/// HTTP answers -> exit status and message (the documented table in `fleetgate --help`).
@Suite struct FleetExitTests {
    let endpoint = AdminEndpoint(base: "http://127.0.0.1:8080", token: "t")
    let request = AdminRequest.gateway("gw-9")

    func answer(_ status: Int, _ body: String = "") -> AdminResponse { AdminResponse(status: status, body: Data(body.utf8)) }

    @Test(arguments: [
        (200, FleetExit.ok), (201, .ok), (202, .ok), (204, .ok),
        (400, .refused), (409, .refused), (413, .refused), (422, .refused),
        (401, .auth), (403, .auth), (404, .notFound),
        (500, .server), (502, .server), (503, .server),
    ])
    func httpStatusToExitStatus(_ http: Int, _ exit: FleetExit) {
        #expect(FleetExit.forHTTP(http) == exit)
    }

    @Test func theValuesAreTheDocumentedOnes() {
        #expect(FleetExit.allCases.map(\.rawValue) == [0, 1, 2, 3, 4, 5, 6, 7])
        for s in FleetExit.allCases { #expect(FleetExit.legend.contains("  \(s.rawValue)  \(s.meaning)")) }
    }

    @Test func failureCarriesTheAPIsCodeAndMessage() throws {
        #expect(AdminClient.failure(for: answer(200, "{}"), request: request, endpoint: endpoint) == nil)
        let missing = try #require(AdminClient.failure(
            for: answer(404, #"{"error":"no gateway with id 'gw-9'","code":"not_found"}"#), request: request, endpoint: endpoint))
        #expect(missing == CLIFailure(.notFound, "GET /v1/gateways/gw-9: 404 not_found: no gateway with id 'gw-9'"))
        let conflict = try #require(AdminClient.failure(
            for: answer(409, #"{"error":"gateway 'gw-9' is connected","code":"gateway_connected"}"#), request: request, endpoint: endpoint))
        #expect(conflict.status == .refused && conflict.message.contains("gateway_connected"))
        // A proxy's HTML error page: the status still decides, the text is cut short.
        let proxy = try #require(AdminClient.failure(for: answer(502, String(repeating: "<html>", count: 100)), request: request, endpoint: endpoint))
        #expect(proxy.status == .server && proxy.message.count < 260)
        #expect(AdminClient.failure(for: answer(302), request: request, endpoint: endpoint)?.status == .server)
    }

    @Test func unauthorisedSaysWhereTheTokenShouldComeFrom() throws {
        let body = #"{"error":"a bearer token is required","code":"unauthorized"}"#
        let none = try #require(AdminClient.failure(for: answer(401, body), request: request,
                                                    endpoint: AdminEndpoint(base: endpoint.base, token: nil)))
        #expect(none.status == .auth && none.message.contains("FLEETGATE_TOKEN_FILE"))
        let wrong = try #require(AdminClient.failure(for: answer(401, body), request: request, endpoint: endpoint))
        #expect(wrong.status == .auth && wrong.message.contains("check the token file"))
        let readOnly = try #require(AdminClient.failure(
            for: answer(403, #"{"error":"the read token cannot change anything; use the admin token","code":"forbidden"}"#),
            request: .resume("gw-1"), endpoint: endpoint))
        #expect(readOnly.status == .auth && readOnly.message.hasSuffix("use the admin token"))
    }

    @Test func closingASocketWithoutTheEndpointIsUnsupportedNotNotFound() throws {
        let route404 = answer(404, #"{"error":"404 Not Found: DELETE /v1/sockets/s-1","code":"not_found"}"#)
        #expect(SocketClose.failure(for: route404, request: .closeSocket("s-1"), endpoint: endpoint)?.status == .unsupported)
        #expect(SocketClose.failure(for: answer(405, "{}"), request: .closeSocket("s-1"), endpoint: endpoint)?.status == .unsupported)
        #expect(SocketClose.failure(for: answer(403, "{}"), request: .closeSocket("s-1"), endpoint: endpoint)?.status == .auth)
        #expect(SocketClose.failure(for: answer(200, "{}"), request: .closeSocket("s-1"), endpoint: endpoint) == nil)
    }
}
