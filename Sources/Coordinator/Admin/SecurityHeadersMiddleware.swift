import HTTPTypes
import Hummingbird

/// Headers on every admin response, for the browser that opens it (the dashboard, or an API URL
/// typed into the address bar): API data is fleet state behind a token, so no cache keeps it
/// (`no-store`); nothing is sniffed into another content type; no other page may frame or embed
/// it; no referrer leaves. A response that set its own policy (the dashboard's files) keeps it.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    static var referrerPolicy: HTTPField.Name { HTTPField.Name("Referrer-Policy")! }
    static var frameOptions: HTTPField.Name { HTTPField.Name("X-Frame-Options")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        // JSON and Prometheus text are never a document: they may load nothing at all.
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.frameOptions] = "DENY"
        response.headers[Self.referrerPolicy] = "no-referrer"
        return response
    }
}
