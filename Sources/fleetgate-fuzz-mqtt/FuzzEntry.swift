// # fleetgate-fuzz-mqtt
//
// libFuzzer target for the MQTT codec and the agent-coordinator frame codec (`FleetProtocol`), the
// managed-socket handshake line (`FleetCore`) and the agent's /metrics request head
// (`FleetObservability`). The first input byte picks the codec (mod 4: 0 MQTT, 1 fleet frames,
// 2 socket handshake, 3 HTTP request head). Oracle (`FuzzOracle.swift`): decode every packet in
// the rest of the input (MQTT: with a 3.1.1 and a 5.0 decoder) or every frame, or read the handshake
// or request head whole and a byte at a time; nothing may trap, and everything decoded must
// re-encode to bytes that decode to the same value (a request head: read the same however split).
//
// Normal build (`swift build`): a corpus replayer, so the target links and findings reproduce
// without the sanitizer toolchain:
//
//     .build/debug/fleetgate-fuzz-mqtt crash-<hash> ...      # replay inputs (traps on a finding)
//     .build/debug/fleetgate-fuzz-mqtt --write-seeds DIR      # seed corpus: one packet per type and version, one frame per kind
//
// `make fuzz` (bounded; the corpus lives in the git-ignored `fuzz-corpus/`):
//
//     swift build --product fleetgate-fuzz-mqtt && mkdir -p fuzz-corpus \
//       && ./.build/debug/fleetgate-fuzz-mqtt --write-seeds fuzz-corpus \
//       && swift build --scratch-path .build-fuzz -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --product fleetgate-fuzz-mqtt \
//       && ./.build-fuzz/debug/fleetgate-fuzz-mqtt -max_total_time=60 -max_len=4096 -timeout=10 fuzz-corpus
//
// (This lives here, not in a README.md, because SwiftPM warns about unhandled files in a target
// and Package.swift is not ours to change.)

#if FUZZING
import FleetProtocol

/// libFuzzer entry point; built with `-sanitize=fuzzer,address -DFUZZING` (see README.md).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzOracle.check(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

/// libFuzzer's driver, for when we own `main` (below).
@_silgen_name("LLVMFuzzerRunDriver")
private func llvmFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// SwiftPM links debug executables with `--defsym main=<module>_main` (testable executables), which
/// hides libFuzzer's own `main`; this is that symbol, and it hands over to libFuzzer's driver.
@_cdecl("fleetgate_fuzz_mqtt_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return llvmFuzzerRunDriver(&argc, &argv, fuzzTestOneInput)
}
#endif
