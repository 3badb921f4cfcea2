import Testing
@testable import FleetCore

/// `ExactString ==` compares the UTF-8 bytes (eight at a time): every length, every position.
@Suite struct ExactStringTests {
    @Test func equalityIsByteEquality() {
        for length in 0...40 {
            let base = String((0..<length).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
            #expect(ExactString(base) == ExactString(String(base.utf8.map { Character(UnicodeScalar($0)) })))
            for position in 0..<length {
                var bytes = Array(base.utf8)
                bytes[position] = UInt8(ascii: "#")
                let other = String(decoding: bytes, as: UTF8.self)
                #expect(ExactString(base) != ExactString(other), "\(base) vs \(other)")
            }
        }
        #expect(ExactString("caf\u{E9}") != ExactString("cafe\u{301}"))     // equal as String, not as bytes
        #expect(ExactString("a") != ExactString("ab"))
    }
}
