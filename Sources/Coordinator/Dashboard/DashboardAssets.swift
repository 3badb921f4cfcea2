import Hummingbird

/// The dashboard's files (Dashboard/static/: plain HTML, CSS and JavaScript modules, no build step,
/// no framework), compiled into the binary by SwiftPM's `.embedInCode` (Package.swift), which
/// generates `PackageResources.<file_name>` byte arrays. So the page needs nothing next to the
/// executable and nothing from the network: it works offline and on an air-gapped admin host.
///
/// The files hold no fleet data, so they are served without a token (`AdminAuth.need`); the page
/// asks for one and sends it with every API call, which is where the data is.
enum DashboardAssets {
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
    }

    /// URL path -> file. Only these exact paths are open and only these are served: no part of a
    /// request's path ever names a file.
    static let byPath: [String: Asset] = [
        "/": Asset(bytes: PackageResources.index_html, contentType: "text/html; charset=utf-8"),
        "/ui/dashboard.css": Asset(bytes: PackageResources.dashboard_css, contentType: "text/css; charset=utf-8"),
        "/ui/dashboard.js": Asset(bytes: PackageResources.dashboard_js, contentType: "text/javascript; charset=utf-8"),
        "/ui/api.js": Asset(bytes: PackageResources.api_js, contentType: "text/javascript; charset=utf-8"),
        "/ui/format.js": Asset(bytes: PackageResources.format_js, contentType: "text/javascript; charset=utf-8"),
        "/ui/graph.js": Asset(bytes: PackageResources.graph_js, contentType: "text/javascript; charset=utf-8"),
        "/ui/views.js": Asset(bytes: PackageResources.views_js, contentType: "text/javascript; charset=utf-8"),
        "/ui/favicon.svg": Asset(bytes: PackageResources.favicon_svg, contentType: "image/svg+xml"),
    ]

    /// The page may load only its own files and call only its own origin: no inline script or
    /// style (an injected client id can never run), no frames around it, no form posting elsewhere.
    static let contentSecurityPolicy =
        "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func response(path: String) -> Response {
        guard let asset = byPath[path] else {
            return AdminAPI.error(.notFound, "no dashboard file at \(path)", code: "not_found")
        }
        var headers = HTTPFields()
        headers[.contentType] = asset.contentType
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        // Revalidated on every load, so a coordinator upgrade never meets a stale script.
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
    }
}

extension AdminAPI {
    /// `GET /` (the page) and `GET /ui/{file}` (its styles, scripts and icon).
    static func addDashboardRoutes(to router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in DashboardAssets.response(path: "/") }
        router.get("ui/:file") { _, context in DashboardAssets.response(path: "/ui/" + (context.parameters.get("file") ?? "")) }
    }
}
