internal import COpenSSL

/// An OpenSSL failure, built by ``TLSError/drainingQueue(_:)`` — the one place the OpenSSL error
/// queue is read and emptied. `message` names the call and carries the queue's text (reason, and
/// the data OpenSSL attached, such as the file it could not open).
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let message: String

    init(message: String) { self.message = message }

    public var description: String { message }

    /// "<what>: <queued errors, oldest first>", emptying this thread's OpenSSL error queue.
    static func drainingQueue(_ what: String) -> TLSError {
        let queued = openSSLErrorQueue()
        return TLSError(message: queued.isEmpty ? what : "\(what): \(queued.joined(separator: "; "))")
    }
}

/// Empties the calling thread's OpenSSL error queue, returning each entry as text
/// ("reason (data)", e.g. "No such file or directory (calling fopen(/x.pem, r))").
func openSSLErrorQueue() -> [String] {
    var entries: [String] = []
    while true {
        var data: UnsafePointer<CChar>?
        var flags: Int32 = 0
        let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
        if code == 0 { break }
        var text: String
        if let reason = ERR_reason_error_string(code) {
            text = String(cString: reason)
        } else {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        if let data, flags & ERR_TXT_STRING != 0, data.pointee != 0 {
            text += " (\(String(cString: data)))"
        }
        if entries.last != text { entries.append(text) }
    }
    return entries
}
