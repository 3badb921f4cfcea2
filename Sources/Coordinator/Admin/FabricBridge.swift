import FleetRuntime

/// The only way from Swift concurrency (the HTTP API) into the fabric: a closure posted to the
/// loop's ``LoopMailbox`` runs on the loop thread and resumes a continuation with a Sendable copy.
///
/// Invariant: `fabric` is touched only inside mailbox jobs, i.e. on the loop thread. The mailbox
/// is closed only after the HTTP server stopped, so every posted read is answered.
public final class FabricBridge: Sendable {
    private let mailbox: LoopMailbox
    nonisolated(unsafe) private let fabric: Fabric

    public init(mailbox: LoopMailbox, fabric: Fabric) {
        self.mailbox = mailbox
        self.fabric = fabric
    }

    /// Runs `body`, which may change the fabric, on the loop thread and returns its result.
    public func write<T: Sendable>(_ body: @escaping @Sendable (Fabric) -> T) async -> T {
        await read(body)
    }

    /// Runs `body` on the loop thread and returns its result.
    public func read<T: Sendable>(_ body: @escaping @Sendable (Fabric) -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            mailbox.post { continuation.resume(returning: body(self.fabric)) }
        }
    }
}
