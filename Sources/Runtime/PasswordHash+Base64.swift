extension PasswordHash {
    /// Standard base64 (RFC 4648 §4) with '=' padding, strict on decode: no whitespace, length a
    /// multiple of 4, padding only at the end, unused bits zero (one spelling per byte string).
    enum Base64 {
        static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

        /// 6-bit values by byte; 0xFF: not in the alphabet.
        static let values: [UInt8] = {
            var table = [UInt8](repeating: 0xFF, count: 256)
            for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
            return table
        }()

        static func encode(_ bytes: [UInt8]) -> String {
            var out: [UInt8] = []
            out.reserveCapacity((bytes.count + 2) / 3 * 4)
            var i = 0
            while i < bytes.count {
                let b0 = UInt32(bytes[i])
                let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
                let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
                let n = b0 << 16 | b1 << 8 | b2
                out.append(alphabet[Int(n >> 18 & 63)])
                out.append(alphabet[Int(n >> 12 & 63)])
                out.append(i + 1 < bytes.count ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
                out.append(i + 2 < bytes.count ? alphabet[Int(n & 63)] : UInt8(ascii: "="))
                i += 3
            }
            return String(decoding: out, as: UTF8.self)
        }

        /// nil for anything but canonical padded base64.
        static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
            let chars = Array(text)
            guard chars.count % 4 == 0 else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(chars.count / 4 * 3)
            var i = 0
            while i < chars.count {
                let last = i + 4 == chars.count
                let padding = last ? (chars[i + 3] == UInt8(ascii: "=") ? (chars[i + 2] == UInt8(ascii: "=") ? 2 : 1) : 0) : 0
                var n: UInt32 = 0
                for j in 0..<(4 - padding) {
                    let v = values[Int(chars[i + j])]
                    guard v != 0xFF else { return nil }
                    n |= UInt32(v) << UInt32(18 - 6 * j)
                }
                out.append(UInt8(n >> 16 & 0xFF))
                switch padding {
                case 0:
                    out.append(UInt8(n >> 8 & 0xFF))
                    out.append(UInt8(n & 0xFF))
                case 1:
                    guard n & 0xFF == 0 else { return nil }
                    out.append(UInt8(n >> 8 & 0xFF))
                default:
                    guard n & 0xFFFF == 0 else { return nil }
                }
                i += 4
            }
            return out
        }
    }
}
