import Foundation
import Glibc
import Testing
@testable import FleetRuntime

// ChildProcess with real processes: /bin/sh scripts written to a temp dir at test time. Each test
// ends with the loop closed and no handle left.

/// Runs `body` with SIGCHLD unblocked on this thread: libuv learns of a child's exit from
/// SIGCHLD, and Swift Testing's worker threads block signals (a pending SIGCHLD is delivered as
/// soon as a thread unblocks it).
func withChildSignals<T>(_ body: () throws -> T) rethrows -> T {
    var unblock = sigset_t()
    var saved = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGCHLD)
    pthread_sigmask(SIG_UNBLOCK, &unblock, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    return try body()
}

/// A temp dir with executable scripts.
final class ScriptDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "fleetgate-child-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    /// Writes `#!/bin/sh` + `body` to `name`, mode 0755; returns its path. Run it as
    /// `sh(path)`: exec'ing a freshly written file races with other tests' forks (a child forked
    /// while the file was open for writing holds it until its exec: ETXTBSY).
    func script(_ name: String, _ body: String) throws -> String {
        let file = path + "/" + name
        try ("#!/bin/sh\n" + body + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o755)
        return file
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The argv running `script` with /bin/sh.
func sh(_ script: String, _ args: String...) -> [String] { ["/bin/sh", script] + args }

/// Collects what a child reports.
final class ChildRecord {
    var lines: [(ChildProcess.Output, String)] = []
    var exits: [ChildProcess.Exit] = []
}

@Suite struct ChildProcessTests {
    /// Runs `argv` to its end; returns the record (one exit expected) and the time it took.
    private func run(_ argv: [String], timeoutMs: UInt64? = nil, tailBytes: Int = 4_096,
                     maxTicks: Int = 1_000) throws -> (ChildRecord, ChildProcess, ms: UInt64) {
        let loop = try EventLoop()
        let record = ChildRecord()
        let started = loop.now
        let child = try ChildProcess(loop: loop, argv: argv, timeoutMilliseconds: timeoutMs, tailBytes: tailBytes,
                                     onLine: { record.lines.append(($0, $1)) }, onExit: { record.exits.append($0) })
        let done = withChildSignals { spin(loop, maxTicks: maxTicks) { !record.exits.isEmpty } }
        #expect(done, "the child was reported")
        let elapsed = loop.now - started
        turn(loop, 3)
        #expect(loop.aliveHandleCount == 0, "the process and pipe handles are closed")
        #expect(loop.shutdown() == 0)
        return (record, child, elapsed)
    }

    @Test func exitStatusAndOutputLines() throws {
        let dir = try ScriptDir()
        let script = try dir.script("three.sh", """
            echo "first line"
            echo "to stderr" >&2
            printf 'no newline at the end'
            exit 3
            """)
        let (record, child, _) = try run(sh(script, "unused-arg"))
        let exit = try #require(record.exits.first)
        #expect(record.exits.count == 1)
        #expect(exit.status == 3)
        #expect(exit.signal == 0 && !exit.timedOut && exit.spawnFailure == nil)
        #expect(exit.reason == "exited with status 3")
        #expect(child.pid > 0)
        #expect(record.lines.filter { $0.0 == .stdout }.map(\.1) == ["first line", "no newline at the end"])
        #expect(record.lines.filter { $0.0 == .stderr }.map(\.1) == ["to stderr"])
        // stdout and stderr are two pipes: their lines interleave in arrival order, not write order.
        #expect(Set(exit.outputTail.split(separator: "\n")) == ["first line", "to stderr", "no newline at the end"])
    }

    @Test func argvIsNotAShellString() throws {
        let dir = try ScriptDir()
        let script = try dir.script("args.sh", #"for a in "$@"; do echo "[$a]"; done"#)
        let (record, _, _) = try run(sh(script, "two words", "$HOME;", "*"))
        #expect(record.exits.first?.status == 0)
        #expect(record.exits.first?.reason == "")
        #expect(record.lines.map(\.1) == ["[two words]", "[$HOME;]", "[*]"])
    }

    @Test func outputTailKeepsTheLastLinesWithinItsBound() throws {
        let dir = try ScriptDir()
        // 2,000 numbered lines of ~30 bytes (60 KB), then a last one with 3-byte characters.
        let script = try dir.script("many.sh", """
            i=1
            while [ $i -le 2000 ]; do echo "line $i of the maintenance output"; i=$((i+1)); done
            echo "€€€€ the end"
            """)
        let (record, _, _) = try run(sh(script), tailBytes: 100)
        let exit = try #require(record.exits.first)
        #expect(record.lines.count == 2001, "every line reached the caller")
        #expect(exit.outputTail.utf8.count <= 100)
        #expect(exit.outputTail.utf8.count >= 90, "the budget is used, not just the last line")
        #expect(exit.outputTail.hasSuffix("line 2000 of the maintenance output\n€€€€ the end"))
        #expect(!exit.outputTail.contains("line 1998 "), "older lines were dropped")
        #expect(!exit.outputTail.hasPrefix("line 1999 "), "the oldest line kept lost its start to the budget")
    }

    @Test func tailIsCutAtACharacterBoundary() throws {
        let dir = try ScriptDir()
        // One line of 40 three-byte characters (120 bytes) into a 100-byte tail: 33 characters fit.
        let script = try dir.script("wide.sh", #"printf '€%.0s' $(seq 1 40); echo"#)
        let (record, _, _) = try run(sh(script), tailBytes: 100)
        let tail = try #require(record.exits.first?.outputTail)
        #expect(tail == String(repeating: "€", count: 33))
        #expect(!tail.contains("\u{FFFD}"))
    }

    @Test func timeoutKillsTheWholeProcessGroup() throws {
        let dir = try ScriptDir()
        let pidFile = dir.path + "/grandchild.pid"
        // The grandchild inherits stdout: its death is also what ends the output.
        let script = try dir.script("hang.sh", """
            sleep 30 &
            echo $! > \(pidFile)
            echo "waiting"
            wait
            """)
        let (record, _, elapsed) = try run(sh(script), timeoutMs: 300)
        let exit = try #require(record.exits.first)
        #expect(exit.timedOut)
        #expect(exit.status == -1)
        #expect(exit.signal == SIGKILL)
        #expect(exit.reason == "timed out after 300 ms")
        #expect(exit.outputTail == "waiting")
        #expect(elapsed < ChildProcess.outputGraceMilliseconds, "reported at the kill, not after the output grace")
        let grandchild = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // It closed its end of the pipe while exiting; give its exit a moment to complete.
        var waited = 0
        while isAlive(grandchild) && waited < 100 { usleep(10_000); waited += 1 }
        #expect(!isAlive(grandchild), "the grandchild sleep died with the group")
    }

    @Test func timeoutInSecondsIsReportedInSeconds() throws {
        let loop = try EventLoop()
        let record = ChildRecord()
        let child = try ChildProcess(loop: loop, argv: ["/bin/sleep", "30"], timeoutMilliseconds: 1_000,
                                     onExit: { record.exits.append($0) })
        #expect(withChildSignals { spin(loop) { !record.exits.isEmpty } })
        #expect(record.exits.first?.reason == "timed out after 1 s")
        #expect(!child.isRunning)
        #expect(loop.shutdown() == 0)
    }

    @Test func aMissingExecutableIsAResult() throws {
        let (record, child, _) = try run(["/nonexistent/fleetgate-no-such-tool", "--flag"])
        let exit = try #require(record.exits.first)
        #expect(record.exits.count == 1)
        #expect(exit.status == 127)
        #expect(exit.spawnFailure != nil)
        #expect(exit.reason.hasPrefix("cannot start /nonexistent/fleetgate-no-such-tool: "))
        #expect(child.pid == 0)
    }

    @Test func aNonExecutableFileIsAResult() throws {
        let dir = try ScriptDir()
        let file = try dir.script("plain.sh", "echo hi")
        chmod(file, 0o644)
        let (record, _, _) = try run([file])
        #expect(record.exits.first?.status == 126)
        #expect(record.exits.first?.spawnFailure != nil)
    }

    @Test func killReachesTheGroupAndIsReportedAsASignal() throws {
        let loop = try EventLoop()
        let record = ChildRecord()
        let child = try ChildProcess(loop: loop, argv: ["/bin/sh", "-c", "echo up; sleep 30"],
                                     onLine: { record.lines.append(($0, $1)) }, onExit: { record.exits.append($0) })
        #expect(withChildSignals { spin(loop) { !record.lines.isEmpty } })
        child.kill(signal: SIGTERM)
        #expect(withChildSignals { spin(loop) { !record.exits.isEmpty } })
        #expect(record.exits.first?.status == -1)
        #expect(record.exits.first?.signal == SIGTERM)
        #expect(record.exits.first?.reason == "killed by signal \(SIGTERM)")
        #expect(loop.shutdown() == 0)
    }

    @Test func shutdownWhileRunningClosesTheHandles() throws {
        let loop = try EventLoop()
        let record = ChildRecord()
        let child = try ChildProcess(loop: loop, argv: ["/bin/sleep", "30"], onExit: { record.exits.append($0) })
        let pid = child.pid
        turn(loop, 2)
        #expect(loop.aliveHandleCount == 3, "the process and its two pipes")
        child.kill()  // the test's own cleanup; shutdown itself leaves a child running
        #expect(loop.shutdown() == 3)
        #expect(record.exits.isEmpty, "shutdown reports nothing")
        waitpid(pid, nil, 0)
    }

    @Test func lineSplitterBoundsLongLines() {
        var splitter = LineSplitter(maxLineBytes: 8)
        var lines: [String] = []
        let input = Array("abcdefghij\r\nxyz€€€".utf8)
        input.withUnsafeBytes { splitter.feed($0) { lines.append($0) } }
        splitter.finish { lines.append($0) }
        #expect(lines == ["abcdefgh", "ij", "xyz€", "€€"])
    }

    private func isAlive(_ pid: Int32) -> Bool {
        // Killed and reparented, it may linger as a zombie of init: that is not alive.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }
}
