import ArgumentParser
import Foundation
import Testing

@testable import FleetCLI

/// The command line itself: global options before the noun, validation, and where the endpoint
/// and token come from.
@Suite struct ArgumentTests {
    @Test func globalOptionsBeforeTheNounMoveBehindIt() {
        #expect(ArgumentOrder.hoistGlobalOptions(["--json", "gateways", "list"]) == ["gateways", "list", "--json"])
        #expect(ArgumentOrder.hoistGlobalOptions(["--coordinator", "h:1", "--token-file=t", "graph"])
                == ["graph", "--coordinator", "h:1", "--token-file=t"])
        // After the noun nothing moves; `--` keeps what follows positional.
        #expect(ArgumentOrder.hoistGlobalOptions(["interest", "--json", "a/b"]) == ["interest", "--json", "a/b"])
        #expect(ArgumentOrder.hoistGlobalOptions(["--json", "interest", "--", "-odd"]) == ["interest", "--json", "--", "-odd"])
        #expect(ArgumentOrder.hoistGlobalOptions(["--version"]) == ["--version"])
        #expect(ArgumentOrder.hoistGlobalOptions(["--coordinator"]) == ["--coordinator"])
    }

    @Test func parsesToTheLeafWithItsGlobalOptions() throws {
        let parsed = try FleetgateCommand.parseAsRoot(ArgumentOrder.hoistGlobalOptions(
            ["--json", "--coordinator", "10.0.0.2:8080", "gateways", "drain", "gw-2", "--rate", "50"]))
        let drain = try #require(parsed as? Gateways.Drain)
        #expect(drain.id == "gw-2" && drain.rate == 50 && drain.global.json && drain.global.coordinator == "10.0.0.2:8080")
        // `gateways` alone lists.
        #expect(try FleetgateCommand.parseAsRoot(["gateways"]) is Gateways.List)
        let top = try #require(try FleetgateCommand.parseAsRoot(["top", "--iterations", "2"]) as? Top)
        #expect(top.iterations == 2 && top.interval == 1)
    }

    @Test(arguments: [
        ["gateways", "drain", "gw-1", "--rate", "0"],
        ["top", "--iterations", "0"],
        ["top", "--interval", "0"],
        ["migrations", "list", "--limit", "0"],
        ["gateways", "show"],
        ["interest"],
        ["maintenance", "create"],
        ["nothing"],
    ])
    func badArgumentsAreUsageErrors(_ arguments: [String]) {
        #expect(throws: (any Error).self) { try FleetgateCommand.parseAsRoot(arguments) }
    }

    @Test func endpointFromFlagsThenEnvironmentThenDefault() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fleetcli-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path, empty = dir.appendingPathComponent("e").path
        try " token-a \n".write(toFile: a, atomically: true, encoding: .utf8)
        try "token-b".write(toFile: b, atomically: true, encoding: .utf8)
        try "\n".write(toFile: empty, atomically: true, encoding: .utf8)
        let env = ["FLEETGATE_COORDINATOR": "https://co.example:8443/", "FLEETGATE_TOKEN_FILE": b]

        #expect(try GlobalOptions.endpoint(coordinator: nil, tokenFile: nil, environment: [:])
                == AdminEndpoint(base: "http://127.0.0.1:8080", token: nil))
        #expect(try GlobalOptions.endpoint(coordinator: nil, tokenFile: nil, environment: env)
                == AdminEndpoint(base: "https://co.example:8443", token: "token-b"))
        #expect(try GlobalOptions.endpoint(coordinator: "127.0.0.1:9000", tokenFile: a, environment: env)
                == AdminEndpoint(base: "http://127.0.0.1:9000", token: "token-a"))
        // Empty variables count as unset.
        #expect(try GlobalOptions.endpoint(coordinator: nil, tokenFile: nil, environment: ["FLEETGATE_COORDINATOR": "", "FLEETGATE_TOKEN_FILE": ""])
                == AdminEndpoint(base: "http://127.0.0.1:8080", token: nil))
        for (coordinator, file) in [("ftp://x", a), ("http://", a), ("h:1", empty), ("h:1", dir.appendingPathComponent("missing").path)] {
            #expect(throws: CLIFailure.self) { try GlobalOptions.endpoint(coordinator: coordinator, tokenFile: file, environment: [:]) }
        }
    }
}
