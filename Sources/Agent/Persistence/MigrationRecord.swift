import FleetCore
import FleetProtocol

/// A connection migration in progress at this agent, as stored (table `agent_migrations`), so a
/// kill -9 of the source or the target at any step loses none of it (issue #12; docs/STORAGE.md).
/// Written in the same transaction as the session change it goes with: the export (session kept,
/// now moving), the commit (session deleted, its hand-offs kept until the target is done), the
/// import and each hand-off applied.
enum MigrationRecord: Equatable {
    /// Source, after the export: the session waits here for the coordinator's decision.
    case exported(Exported)
    /// Source, after the commit: the session is gone; its hand-offs are kept for a re-send until
    /// the target is done.
    case released(migrationId: UInt64, clientId: String, frames: [[UInt8]])
    /// Target, after the import: how many hand-offs it applied, and the source's count once known.
    case importing(migrationId: UInt64, clientId: String, handoffsApplied: UInt64, releasedCount: UInt64?)

    struct Exported: Equatable {
        var migrationId: UInt64
        var clientId: String
        var target: String
        var serverReference: String
        var mode: MigrationMode
        var relaySecret: [UInt8]
        /// Messages with a session sequence from here on reached the session after the export.
        var exportedNextSeq: Int64
    }

    var migrationId: UInt64 {
        switch self {
        case .exported(let e): e.migrationId
        case .released(let id, _, _), .importing(let id, _, _, _): id
        }
    }

    static let formatVersion: UInt8 = 1

    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.writeU8(Self.formatVersion)
        switch self {
        case .exported(let e):
            w.writeU8(1)
            w.writeU64(e.migrationId)
            w.writeString(e.clientId)
            w.writeString(e.target)
            w.writeString(e.serverReference)
            w.writeU8(e.mode.rawValue)
            w.writeBinary(e.relaySecret)
            w.writeU64(UInt64(bitPattern: e.exportedNextSeq))
        case .released(let id, let clientId, let frames):
            w.writeU8(2)
            w.writeU64(id)
            w.writeString(clientId)
            w.writeU32(UInt32(frames.count))
            for f in frames {
                w.writeU32(UInt32(f.count))
                w.writeBytes(f)
            }
        case .importing(let id, let clientId, let applied, let released):
            w.writeU8(3)
            w.writeU64(id)
            w.writeString(clientId)
            w.writeU64(applied)
            w.writeU64(released.map { $0 &+ 1 } ?? 0)
        }
        return w.bytes
    }

    init(bytes: [UInt8]) throws(SessionCodecError) {
        let result: Result<MigrationRecord, SessionCodecError> = bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do throws(SessionCodecError) {
                guard try r.u8("migration record format") == Self.formatVersion else { throw SessionCodecError("migration record format unknown") }
                let kind = try r.u8("migration record kind")
                let id = try r.u64("migration id")
                let clientId = try r.string("client id")
                let record: MigrationRecord
                switch kind {
                case 1:
                    let target = try r.string("target"), reference = try r.string("server reference")
                    guard let mode = MigrationMode(rawValue: try r.u8("mode")) else { throw SessionCodecError("unknown migration mode") }
                    let secret: [UInt8]
                    do { secret = try r.readBinary() } catch { throw SessionCodecError("relay secret truncated") }
                    record = .exported(Exported(migrationId: id, clientId: clientId, target: target, serverReference: reference, mode: mode,
                                                relaySecret: secret, exportedNextSeq: Int64(bitPattern: try r.u64("exported next seq"))))
                case 2:
                    var frames: [[UInt8]] = []
                    for _ in 0..<(try r.u32("hand-off count")) {
                        let n = Int(try r.u32("hand-off length"))
                        do { frames.append(try r.readBytes(n)) } catch { throw SessionCodecError("hand-off truncated") }
                    }
                    record = .released(migrationId: id, clientId: clientId, frames: frames)
                case 3:
                    let applied = try r.u64("hand-offs applied"), released = try r.u64("released count")
                    record = .importing(migrationId: id, clientId: clientId, handoffsApplied: applied,
                                        releasedCount: released == 0 ? nil : released - 1)
                default:
                    throw SessionCodecError("migration record kind \(kind) unknown")
                }
                guard r.isAtEnd else { throw SessionCodecError("\(r.remaining) bytes after the migration record") }
                return .success(record)
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }
}
