import Foundation
import Hummingbird

/// Who may use the admin API: bearer tokens read from files at start (`--admin-token-file` reads
/// and writes, `--read-token-file` only reads). Without a token, or with one that matches
/// neither, every endpoint but `/healthz` and the dashboard's static files answers 401; the read
/// token on a write answers 403. With no token configured the API answers 401 to all of them (the
/// coordinator still serves its agents): an operator gets nothing open by default. Pure: the decision is
/// table-tested (AdminAuthTests); the middleware only applies it.
public struct AdminAuth: Sendable {
    public enum Access: Comparable, Sendable { case none, read, admin }
    public enum Need: Sendable { case open, read, write }

    let adminToken: [UInt8]?
    let readToken: [UInt8]?

    public init(adminToken: [UInt8]?, readToken: [UInt8]?) {
        self.adminToken = adminToken
        self.readToken = readToken
    }

    public var isConfigured: Bool { adminToken != nil || readToken != nil }

    /// What a request to `path` with `method` needs: `/healthz` is open (probes and load
    /// balancers carry no token), and so are GETs of the dashboard's own files (`/`, `/ui/...`:
    /// static, no fleet data; the page asks for a token for its API calls); other GETs and HEADs
    /// read, everything else writes.
    public static func need(method: HTTPRequest.Method, path: String) -> Need {
        if path == "/healthz" || path == "/healthz/" { return .open }
        if method == .get && DashboardAssets.byPath[path] != nil { return .open }
        return method == .get || method == .head ? .read : .write
    }

    /// The access an `Authorization` header value grants. Only `Bearer <token>` counts; tokens
    /// are compared in time that does not depend on where they differ (`Fabric.constantTimeEqual`,
    /// the HELLO token's comparison).
    public func access(authorization: String?) -> Access {
        guard let authorization else { return .none }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .none }
        let presented = Array(parts[1].trimmingCharacters(in: .whitespaces).utf8)
        if let adminToken, Fabric.constantTimeEqual(presented, adminToken) { return .admin }
        if let readToken, Fabric.constantTimeEqual(presented, readToken) { return .read }
        return .none
    }

    /// nil when the request may proceed, else the refusal: 401 (no or unknown token) or 403 (the
    /// read token on a write).
    public func refusal(method: HTTPRequest.Method, path: String, authorization: String?) -> (status: HTTPResponse.Status, message: String, code: String)? {
        let need = Self.need(method: method, path: path)
        guard need != .open else { return nil }
        let access = access(authorization: authorization)
        switch (need, access) {
        case (_, .none):
            return (.unauthorized, isConfigured ? "a bearer token is required (Authorization: Bearer <token>)"
                                                : "the admin API has no token configured (--admin-token-file)", "unauthorized")
        case (.write, .read):
            return (.forbidden, "the read token cannot change anything; use the admin token", "forbidden")
        default:
            return nil
        }
    }
}

/// Applies `AdminAuth` before any route (so an unauthenticated caller cannot tell which paths
/// exist). Refusals have the API's JSON error body and a `WWW-Authenticate` challenge.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let auth: AdminAuth

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = auth.refusal(method: request.method, path: request.uri.path, authorization: request.headers[.authorization]) {
            var response = AdminAPI.error(refusal.status, refusal.message, code: refusal.code)
            if refusal.status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer realm=\"fleetgate\"" }
            return response
        }
        return try await next(request, context)
    }
}
