internal import CLibUV

/// An error from libuv or a C call made by FleetRuntime.
///
/// Every libuv/C failure is turned into a `RuntimeError` by ``RuntimeError/init(call:code:)``,
/// the single mapping point, which names the failing call. `Sendable`: plain values only.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    /// The C function that failed, e.g. `"uv_tcp_bind"`.
    public let call: String
    /// A negative libuv code (`UV_EADDRINUSE`, ...) or a positive C `errno`.
    public let code: Int32
    /// `uv_strerror` of the code.
    public let message: String

    /// The one mapping from a C/libuv return code to an error. A positive code is taken as an
    /// `errno`; on Unix libuv codes are `-errno`, so both go through `uv_strerror`.
    public init(call: String, code: Int32) {
        self.call = call
        self.code = code
        self.message = String(cString: uv_strerror(code < 0 ? code : -code))
    }

    /// For failures that are not a C return code alone (TLS): `message` says what happened.
    init(call: String, code: Int32, message: String) {
        self.call = call
        self.code = code
        self.message = message
    }

    /// The libuv error name, e.g. `"EADDRINUSE"`.
    public var name: String { String(cString: uv_err_name(code < 0 ? code : -code)) }

    public var description: String { "\(call) failed: \(name) (\(code)): \(message)" }
}

/// Throws when a libuv call returned a negative code; returns the (non-negative) result otherwise.
@discardableResult
func uvCheck(_ call: String, _ result: Int32) throws(RuntimeError) -> Int32 {
    if result < 0 { throw RuntimeError(call: call, code: result) }
    return result
}
