internal import CCurl
internal import Glibc

/// One request of an ``HTTPClient``: its easy handle while curl runs it, the response as it
/// arrives, and the completion (nil once delivered or cancelled). Loop-thread only.
final class HTTPTransfer {
    weak var client: HTTPClient?
    let id: UInt64
    let request: HTTPRequest
    var completion: ((Result<HTTPResponse, HTTPClientError>) -> Void)?
    /// `EventLoop.now` by which the response must be complete.
    let deadline: UInt64
    let bodyLimit: Int
    let headerLimit: Int

    /// Set while curl has the transfer (between `makeEasyHandle` and `releaseEasyHandle`).
    private(set) var easy: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// CURLOPT_ERRORBUFFER: curl's detailed message ("Failed to connect to ... Connection refused").
    private var errorBuffer: UnsafeMutablePointer<CChar>?

    private var body: [UInt8] = []
    private var headers = HTTPHeaders()
    private var headerBytes = 0
    /// Why the write or header callback refused more bytes, if it did.
    private var overLimit: String?

    init(client: HTTPClient, id: UInt64, request: HTTPRequest,
         completion: @escaping (Result<HTTPResponse, HTTPClientError>) -> Void,
         deadline: UInt64, bodyLimit: Int, headerLimit: Int) {
        self.client = client
        self.id = id
        self.request = request
        self.completion = completion
        self.deadline = deadline
        self.bodyLimit = bodyLimit
        self.headerLimit = headerLimit
    }

    deinit { releaseEasyHandle() }

    /// Calls the completion once; later calls (and calls after `cancel`) do nothing.
    func deliver(_ result: Result<HTTPResponse, HTTPClientError>) {
        guard let completion else { return }
        self.completion = nil
        completion(result)
    }

    func cancel() {
        if let client { client.cancel(self) } else { completion = nil }
    }

    /// What is wrong with the request before curl sees it, if anything.
    func validate() -> HTTPClientError? {
        let lower = request.url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            return HTTPClientError(kind: .invalidRequest, message: "only http:// and https:// URLs: \(request.url)")
        }
        if request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return HTTPClientError(kind: .invalidRequest, message: "control character or space in URL: \(request.url)")
        }
        for field in request.headers {
            let name = field.name.utf8, value = field.value.utf8
            if name.isEmpty || name.contains(where: { $0 <= 0x20 || $0 == 0x3A || $0 == 0x3B || $0 >= 0x7F }) {
                return HTTPClientError(kind: .invalidRequest, message: "bad header name \"\(field.name)\"")
            }
            if value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                return HTTPClientError(kind: .invalidRequest, message: "CR, LF or NUL in the value of header \(field.name)")
            }
        }
        return nil
    }

    // MARK: - The easy handle

    /// A configured easy handle for this request, owned by the transfer until `releaseEasyHandle`.
    func makeEasyHandle(timeoutMs: UInt64) throws(HTTPClientError) -> UnsafeMutableRawPointer {
        guard let easy = client?.takeEasyHandle() ?? curl_easy_init() else {
            throw HTTPClientError(kind: .other, message: "curl_easy_init failed")
        }
        self.easy = easy
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: shim_error_size())
        errorBuffer[0] = 0
        self.errorBuffer = errorBuffer
        let me = Unmanaged.passUnretained(self).toOpaque()   // the client holds the transfer while curl has it

        var failed: CURLcode = CURLE_OK
        func set(_ rc: CURLcode) { if failed == CURLE_OK && rc != CURLE_OK { failed = rc } }
        set(shim_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer))
        set(shim_easy_setopt_string(easy, CURLOPT_URL, request.url))
        set(shim_easy_setopt_string(easy, CURLOPT_PROTOCOLS_STR, "http,https"))
        // Environment proxies (http_proxy, ...) are not for device webhooks; no proxy at all.
        set(shim_easy_setopt_string(easy, CURLOPT_PROXY, ""))
        set(shim_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1))
        // A cancel or timeout while the threaded resolver runs must not join its thread (7.88
        // waits for getaddrinfo otherwise, blocking the loop); the thread is detached and cleans
        // up after itself.
        set(shim_easy_setopt_long(easy, CURLOPT_QUICK_EXIT, 1))
        set(shim_easy_setopt_long(easy, CURLOPT_TIMEOUT_MS, Int(min(timeoutMs, UInt64(Int32.max)))))
        set(shim_easy_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(bodyLimit)))
        set(shim_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me))
        set(shim_easy_setopt_write_function(easy, CURLOPT_WRITEFUNCTION) { data, size, count, transfer in
            let bytes = size * count
            let owner = Unmanaged<HTTPTransfer>.fromOpaque(transfer!).takeUnretainedValue()
            return owner.receiveBody(UnsafeRawBufferPointer(start: data, count: bytes)) ? bytes : 0
        })
        set(shim_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me))
        set(shim_easy_setopt_write_function(easy, CURLOPT_HEADERFUNCTION) { data, size, count, transfer in
            let bytes = size * count
            let owner = Unmanaged<HTTPTransfer>.fromOpaque(transfer!).takeUnretainedValue()
            return owner.receiveHeader(UnsafeRawBufferPointer(start: data, count: bytes)) ? bytes : 0
        })
        if let caFile = request.caFile { set(shim_easy_setopt_string(easy, CURLOPT_CAINFO, caFile)) }

        var lines = request.headers.map { $0.value.isEmpty ? "\($0.name);" : "\($0.name): \($0.value)" }
        // curl would add "Expect: 100-continue" to large bodies and wait for it; webhooks answer
        // the whole request.
        if !request.headers.contains("Expect") { lines.append("Expect:") }
        switch request.method {
        case .get:
            set(shim_easy_setopt_long(easy, CURLOPT_HTTPGET, 1))
        case .head:
            set(shim_easy_setopt_long(easy, CURLOPT_NOBODY, 1))
        case .delete where request.body.isEmpty:
            set(shim_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, "DELETE"))
        case .post, .put, .patch, .delete:
            if request.method != .post { set(shim_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, request.method.rawValue)) }
            // curl calls a body a form unless told otherwise.
            if !request.headers.contains("Content-Type") { lines.append("Content-Type:") }
            set(shim_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            request.body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies the bytes: nothing of ours must outlive the call.
                let empty: StaticString = ""
                let base = raw.baseAddress ?? UnsafeRawPointer(empty.utf8Start)
                set(shim_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base)))
            }
        }
        for line in lines {
            guard let appended = curl_slist_append(headerList, line) else {
                throw HTTPClientError(kind: .other, message: "curl_slist_append failed")
            }
            headerList = appended
        }
        set(shim_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, headerList))
        if failed != CURLE_OK {
            throw HTTPClientError(kind: .invalidRequest, message: "curl_easy_setopt: " + String(cString: curl_easy_strerror(failed)),
                                  curlCode: Int32(bitPattern: failed.rawValue))
        }
        return easy
    }

    /// Gives the easy handle back to the client (or frees it, without one) and frees what it
    /// pointed at, after the handle was reset. The caller removed it from the multi first.
    func releaseEasyHandle() {
        if let easy {
            if let client { client.recycle(easy) } else { curl_easy_cleanup(easy) }
        }
        easy = nil
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
        errorBuffer?.deallocate()
        errorBuffer = nil
    }

    // MARK: - curl's data callbacks (inside curl_multi_socket_action)

    /// A piece of the body; false (curl then fails with CURLE_WRITE_ERROR) past the limit.
    private func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= bodyLimit else {
            overLimit = "response body over \(bodyLimit) bytes"
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    /// One header line with its CRLF (curl calls once per line, status line included). Parsed as
    /// bytes: header names and the separators are ASCII, and walking the line as Characters
    /// (grapheme breaking) cost about a quarter of the agent's instructions per webhook call in
    /// the managed-sockets bench (#14).
    private func receiveHeader(_ line: UnsafeRawBufferPointer) -> Bool {
        headerBytes += line.count
        guard headerBytes <= headerLimit else {
            overLimit = "response headers over \(headerLimit) bytes"
            return false
        }
        var end = line.count
        while end > 0 && (line[end - 1] == 0x0D || line[end - 1] == 0x0A) { end -= 1 }
        guard end > 0 else { return true }        // the blank line after the headers
        let text = UnsafeRawBufferPointer(rebasing: line[..<end])
        if end >= 5 && text[0] == 0x48 && text[1] == 0x54 && text[2] == 0x54 && text[3] == 0x50 && text[4] == 0x2F {
            headers = HTTPHeaders()               // "HTTP/": a new response (after a 1xx); only the final one counts
        } else if (text[0] == 0x20 || text[0] == 0x09) && headers.count > 0 {
            var fields = headers.fields           // obsolete line folding: continues the previous value
            fields[fields.count - 1].value += " " + Self.trimmedString(text, from: 0, to: end)
            headers = HTTPHeaders(fields)
        } else if let colon = text.firstIndex(of: 0x3A) {
            headers.add(name: String(decoding: UnsafeRawBufferPointer(rebasing: text[..<colon]), as: UTF8.self),
                        value: Self.trimmedString(text, from: colon + 1, to: end))
        }
        return true
    }

    /// `bytes[from..<to]` without leading and trailing spaces and tabs, decoded as UTF-8.
    private static func trimmedString(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> String {
        var start = from, end = to
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    // MARK: - The outcome

    /// The response, or the error, for curl's result `code`. Call before `releaseEasyHandle`.
    func result(_ code: CURLcode) -> Result<HTTPResponse, HTTPClientError> {
        guard code == CURLE_OK, let easy else { return .failure(error(code)) }
        var status = 0
        var connects = 0
        shim_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        shim_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
        let response = HTTPResponse(status: status, headers: headers, body: body, reusedConnection: connects == 0)
        body = []
        return .success(response)
    }

    private func error(_ code: CURLcode) -> HTTPClientError {
        var detail: String
        if let errorBuffer, errorBuffer[0] != 0 {
            detail = String(cString: errorBuffer)
        } else {
            detail = String(cString: curl_easy_strerror(code))
        }
        var osErrno = 0
        if let easy { shim_easy_getinfo_long(easy, CURLINFO_OS_ERRNO, &osErrno) }
        if osErrno != 0 { detail += " (" + String(cString: strerror(Int32(osErrno))) + ")" }
        let curlCode = Int32(bitPattern: code.rawValue)
        if let overLimit, code == CURLE_WRITE_ERROR || code == CURLE_FILESIZE_EXCEEDED {
            return HTTPClientError(kind: .responseTooLarge, message: overLimit, curlCode: curlCode)
        }
        let kind = Self.kind(of: code)
        if kind == .responseTooLarge {
            return HTTPClientError(kind: kind, message: "response body over \(bodyLimit) bytes (announced by Content-Length)",
                                   curlCode: curlCode)
        }
        return HTTPClientError(kind: kind, message: "\(request.url): \(detail)", curlCode: curlCode)
    }

    static func kind(of code: CURLcode) -> HTTPClientError.Kind {
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .dns
        case CURLE_COULDNT_CONNECT: return .connect
        case CURLE_OPERATION_TIMEDOUT: return .timeout
        case CURLE_FILESIZE_EXCEEDED: return .responseTooLarge
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
             CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CLIENTCERT:
            return .tls
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING: return .connectionLost
        case CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_BAD_CONTENT_ENCODING: return .badResponse
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT: return .invalidRequest
        default: return .other
        }
    }
}
