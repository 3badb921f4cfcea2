internal import CLibUV
internal import Glibc

// Handle ownership, shared by every loop type (PLATFORM-NOTES §1, STYLE "The C boundary"):
// - a handle is malloc'ed by its Swift owner and lives until libuv's close callback;
// - `handle.data` holds `Unmanaged.passRetained(owner)`, released only in that close callback,
//   so the owner outlives every callback libuv can still make for the handle;
// - the close callback below is the only place handle memory is freed.

/// A Swift object that owns one libuv handle. Loop-thread only.
protocol LoopHandleOwner: AnyObject {
    /// Called from the close callback, after libuv is done with the handle (its memory is freed
    /// right after this returns) and before the owner's retain is dropped.
    func handleDidClose()
    /// Called by `EventLoop.shutdown()` for a handle that is not closing yet: begin closing now.
    func closeForShutdown()
    /// The owner was asked to close and is finishing on its own (a stream writing its last bytes
    /// or lingering for the peer's EOF, and that stream's deadline timer): `shutdown()` closes it
    /// but does not count it as left open.
    var isClosingGracefully: Bool { get }
}

extension LoopHandleOwner {
    var isClosingGracefully: Bool { false }
}

/// malloc'ed, zeroed memory for one libuv handle or request; freed with `free`.
func allocateUV<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
    let size = MemoryLayout<T>.size
    guard let raw = calloc(1, size) else { fatalError("FleetRuntime: out of memory allocating \(T.self)") }
    return raw.bindMemory(to: T.self, capacity: 1)
}

/// The generic handle view of a concrete handle (`uv_tcp_t`, `uv_timer_t`, ...).
@inline(__always)
func uvHandle<T>(_ pointer: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<uv_handle_t> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_handle_t.self)
}

/// The stream view of a `uv_tcp_t`.
@inline(__always)
func uvStream(_ pointer: UnsafeMutablePointer<uv_tcp_t>) -> UnsafeMutablePointer<uv_stream_t> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: uv_stream_t.self)
}

/// Stores the retained owner in `handle.data`. Balanced by the close callback of `closeLoopHandle`.
func retainOwner<T>(_ owner: some LoopHandleOwner, in handle: UnsafeMutablePointer<T>) {
    uvHandle(handle).pointee.data = Unmanaged.passRetained(owner as AnyObject).toOpaque()
}

/// Closes a handle with the one close callback: it releases the owner in `data` (if any, after
/// calling `handleDidClose`) and frees the handle memory. Handles with `data == nil` (the loop's own,
/// or ones whose setup failed) are just freed.
func closeLoopHandle(_ handle: UnsafeMutablePointer<uv_handle_t>) {
    if uv_is_closing(handle) != 0 { return }
    uv_close(handle) { handle in
        guard let handle else { return }
        if let data = handle.pointee.data {
            handle.pointee.data = nil
            let owner = Unmanaged<AnyObject>.fromOpaque(data).takeRetainedValue()
            loopHandleOwner(owner)?.handleDidClose()
        }
        free(handle)
    }
}

/// `object` as a `LoopHandleOwner`. The owners closed once per connection (a stream and its
/// deadline timer) are tried first as their final classes: a class cast compares the type, while
/// `as? LoopHandleOwner` is a runtime conformance lookup (~500 instructions each).
@inline(__always)
func loopHandleOwner(_ object: AnyObject) -> LoopHandleOwner? {
    if let stream = object as? TCPStream { return stream }
    if let timer = object as? LoopTimer { return timer }
    return object as? LoopHandleOwner
}

/// The `EventLoop` that owns a libuv loop (`loop.data` is set, unretained, by `EventLoop.init`).
@inline(__always)
func eventLoop(of loop: UnsafeMutablePointer<uv_loop_t>) -> EventLoop {
    Unmanaged<EventLoop>.fromOpaque(loop.pointee.data!).takeUnretainedValue()
}
