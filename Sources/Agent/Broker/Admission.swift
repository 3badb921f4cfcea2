import FleetCore
import FleetRuntime
import Foundation

/// What unauthenticated connections may cost the broker (issue #10 §3.3, §3.4): the bounded queue
/// of password verifications in front of the worker threads, the per-address failure delays, and
/// the bytes of partial packets held before CONNECT completes. Loop-thread only.
final class Admission {
    let limits: BrokerLimits
    var failures: LoginFailureTable
    var checks: VerificationQueue<PasswordCheck>
    /// Sum of the partial-packet bytes of connections that have not completed CONNECT
    /// (`MQTTConnection.preAuthBytes`), bounded by `limits.maxPreAuthBytes`.
    var preAuthBytes = 0

    init(limits: BrokerLimits) {
        self.limits = limits
        var policy = LoginFailureTable.Policy()
        policy.freeFailures = limits.authFailuresBeforeDelay
        policy.baseDelayMs = limits.authFailureDelayMs
        policy.maxDelayMs = limits.authFailureMaxDelayMs
        policy.decayMs = limits.authFailureDecayMs
        policy.capacity = limits.authFailureTableSize
        failures = LoginFailureTable(policy: policy)
        let cores = limits.maxConcurrentPasswordChecks > 0 ? limits.maxConcurrentPasswordChecks
                                                            : ProcessInfo.processInfo.activeProcessorCount
        checks = VerificationQueue(bounds: .init(running: cores, queued: limits.maxQueuedPasswordChecks,
                                                 perAddress: limits.maxPasswordChecksPerAddress))
    }

    /// Charges a connection's change of held pre-authentication bytes; false when it grew and the
    /// total is now past the budget (the caller closes it, which gives the bytes back).
    func chargePreAuth(from old: Int, to new: Int) -> Bool {
        preAuthBytes += new - old
        return new <= old || preAuthBytes <= limits.maxPreAuthBytes
    }
}

/// The answer to one password check.
enum PasswordCheckResult {
    case verified
    case wrong
    /// Not checked: the queue (or this address's share of it) is full.
    case busy
}

/// One admitted password verification, waiting for its delay or a worker.
struct PasswordCheck {
    /// Weak: an abandoned login must not keep its connection alive; a check whose connection is
    /// gone (or no longer authenticating) is skipped before it costs a PBKDF2.
    weak var connection: MQTTConnection?
    let username: String
    let password: [UInt8]
    let passwords: PasswordFile
    let done: (PasswordCheckResult) -> Void

    var isAbandoned: Bool { connection?.phase != .authenticating }
}
