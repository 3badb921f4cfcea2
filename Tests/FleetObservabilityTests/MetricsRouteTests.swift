import FleetObservability
import Testing

@Suite struct MetricsRouteTests {
    private func head(_ method: String, _ target: String) -> Result<HTTPRequestHead, HTTPHeadError> {
        .success(HTTPRequestHead(method: method, target: target, minorVersion: 1, headers: []))
    }

    private func text(_ a: HTTPAnswer) -> String { String(decoding: a.bytes, as: UTF8.self) }

    @Test func getMetricsIsTheExposition() {
        let a = MetricsRoute.response(to: head("GET", "/metrics?debug=1"), exposition: { "x 1\n" })
        #expect(a.status == .ok)
        #expect(text(a) == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\nx 1\n")
    }

    @Test func headHasTheHeadersButNoBody() {
        let a = MetricsRoute.response(to: head("HEAD", "/metrics"), exposition: { "x 1\n" })
        #expect(text(a).hasSuffix("Content-Length: 4\r\nConnection: close\r\n\r\n"))
    }

    @Test(arguments: ["/", "/metricsx", "/metrics/", "*", "http://h/metrics", "/Metrics"])
    func otherTargetsAre404(target: String) {
        var rendered = false
        let a = MetricsRoute.response(to: head("GET", target), exposition: { rendered = true; return "" })
        #expect(a.status == .notFound)
        #expect(!rendered, "a 404 must not pay for rendering the exposition")
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "OPTIONS", "get"])
    func otherMethodsAre405WithAllow(method: String) {
        let a = MetricsRoute.response(to: head(method, "/metrics"), exposition: { "" })
        #expect(a.status == .methodNotAllowed)
        #expect(text(a).contains("\r\nAllow: GET, HEAD\r\n"))
    }

    @Test func refusedHeadsGetTheirStatus() {
        #expect(MetricsRoute.response(to: .failure(.malformedRequestLine), exposition: { "" }).status == .badRequest)
        #expect(MetricsRoute.response(to: .failure(.headTooLarge), exposition: { "" }).status == .headerFieldsTooLarge)
        #expect(text(MetricsRoute.response(to: .failure(.unsupportedVersion), exposition: { "" })).hasPrefix("HTTP/1.1 505 HTTP Version Not Supported\r\n"))
    }
}
