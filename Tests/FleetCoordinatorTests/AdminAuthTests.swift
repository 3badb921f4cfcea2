import HTTPTypes
import Testing
@testable import FleetCoordinator

/// Who may do what on the admin API (issue #11, admin API security): 401 without a valid token
/// on everything but /healthz and the dashboard's static files, 403 for the read token on a
/// write, nothing open by default.
@Suite struct AdminAuthTests {
    static let auth = AdminAuth(adminToken: Array("admin-secret".utf8), readToken: Array("read-secret".utf8))

    @Test(arguments: [
        // method, path, Authorization -> status (nil = allowed)
        (HTTPRequest.Method.get, "/healthz", nil as String?, nil as Int?),
        (.get, "/v1/gateways", nil, 401),
        (.get, "/metrics", nil, 401),
        (.get, "/no/such/path", nil, 401),                 // no token: not even a 404
        (.get, "/v1/gateways", "Bearer wrong", 401),
        (.get, "/v1/gateways", "Basic YWRtaW46c2VjcmV0", 401),
        (.get, "/v1/gateways", "Bearer read-secretX", 401),
        (.get, "/v1/gateways", "Bearer read-secre", 401),
        (.get, "/v1/gateways", "Bearer read-secret", nil),
        (.get, "/v1/gateways", "bearer  admin-secret", nil),
        (.head, "/metrics", "Bearer read-secret", nil),
        (.delete, "/v1/gateways/gw-1", "Bearer read-secret", 403),
        (.post, "/v1/gateways", "Bearer read-secret", 403),
        (.put, "/v1/x", nil, 401),
        (.delete, "/v1/gateways/gw-1", "Bearer admin-secret", nil),
        (.post, "/healthz", nil, nil),
        // The dashboard's files are open (static, no data), only those exact paths, only GET.
        (.get, "/", nil, nil),
        (.get, "/ui/dashboard.js", nil, nil),
        (.get, "/ui/favicon.svg", "Bearer wrong", nil),
        (.get, "/ui/", nil, 401),
        (.get, "/ui/secret.json", nil, 401),
        (.get, "/ui/../v1/gateways", nil, 401),
        (.get, "/ui/dashboard.js/../../v1/gateways", nil, 401),
        (.get, "//", nil, 401),
        (.post, "/", nil, 401),
        (.post, "/ui/dashboard.js", "Bearer read-secret", 403),
    ])
    func decisions(method: HTTPRequest.Method, path: String, authorization: String?, status: Int?) {
        #expect(Self.auth.refusal(method: method, path: path, authorization: authorization)?.status.code == status)
    }

    @Test func withoutConfiguredTokensEverythingButHealthzIsRefused() {
        let open = AdminAuth(adminToken: nil, readToken: nil)
        #expect(!open.isConfigured)
        #expect(open.refusal(method: .get, path: "/v1/gateways", authorization: "Bearer anything")?.status == .unauthorized)
        #expect(open.refusal(method: .get, path: "/v1/gateways", authorization: "Bearer ")?.status == .unauthorized)
        #expect(open.refusal(method: .get, path: "/healthz", authorization: nil) == nil)
    }

    @Test func onlyAReadTokenNeverWrites() {
        let readOnly = AdminAuth(adminToken: nil, readToken: Array("r".utf8))
        #expect(readOnly.refusal(method: .get, path: "/v1/graph", authorization: "Bearer r") == nil)
        #expect(readOnly.refusal(method: .post, path: "/v1/graph", authorization: "Bearer r")?.status == .forbidden)
    }
}
