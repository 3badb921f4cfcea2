import Glibc
import Testing
@testable import FleetRuntime

/// Hashes cheap enough for tests; the default cost is exercised once.
private let fast = 1_000

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

struct PasswordHashTests {
    /// PBKDF2-HMAC-SHA512 vectors (dkLen 64), as published for RFC 6070's inputs with SHA-512
    /// (e.g. the table in https://stackoverflow.com/a/48406513; also reproduced by Python's
    /// hashlib.pbkdf2_hmac).
    @Test(arguments: [
        ("password", "salt", 1,
         "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"),
        ("password", "salt", 2,
         "e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53cf76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e"),
        ("passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096,
         "8c0511f4c6e597c6ac6315d8f0362e225f3c501495ba23b868c005174dc4ee71115b59f9e60cd9532fa33e0f75aefe30225c583a186cd82bd4daea9724a3d3b8"),
    ])
    func knownVector(_ password: String, _ salt: String, _ iterations: Int, _ expected: String) throws {
        let derived = try #require(PasswordHash.pbkdf2SHA512(password: bytes(password), salt: bytes(salt), iterations: iterations, keyLength: 64))
        #expect(hex(derived) == expected)
    }

    @Test func roundTripAtDefaultCost() {
        let stored = PasswordHash.make(password: bytes("correct horse"))
        #expect(stored.hasPrefix("$pbkdf2-sha512$100000$"))
        #expect(PasswordHash.verify(password: bytes("correct horse"), against: stored))
        #expect(!PasswordHash.verify(password: bytes("correct horsf"), against: stored))
    }

    @Test func roundTripAndWrongPasswords() {
        let stored = PasswordHash.make(password: bytes("s3cret"), iterations: fast)
        let fields = stored.split(separator: "$", omittingEmptySubsequences: false)
        #expect(fields.count == 5 && fields[1] == "pbkdf2-sha512" && fields[2] == "1000")
        #expect(PasswordHash.Base64.decode(fields[3].utf8)?.count == 16)
        #expect(PasswordHash.Base64.decode(fields[4].utf8)?.count == 64)
        #expect(PasswordHash.verify(password: bytes("s3cret"), against: stored))
        for wrong in ["", "s3cre", "s3cret ", "S3cret", "\0s3cret", "s3cret\0x"] {
            #expect(!PasswordHash.verify(password: bytes(wrong), against: stored), "\(wrong)")
        }
        // Binary and empty passwords.
        let binary: [UInt8] = [0, 255, 10, 13, 0]
        #expect(PasswordHash.verify(password: binary, against: PasswordHash.make(password: binary, iterations: fast)))
        let empty = PasswordHash.make(password: [], iterations: fast)
        #expect(PasswordHash.verify(password: [], against: empty))
        #expect(!PasswordHash.verify(password: [1], against: empty))
        // Known property of HMAC, not of this code (RFC 2104 §2): a key shorter than the block
        // (128 bytes for SHA-512) is zero-padded, so K and K followed by zero bytes are one key.
        // Harmless (guessing "pw\0" is no easier than guessing "pw"); pinned so a change shows.
        #expect(PasswordHash.verify(password: [0], against: empty))
        #expect(PasswordHash.verify(password: bytes("s3cret\0\0"), against: stored))
    }

    @Test func saltMakesHashesDiffer() {
        let a = PasswordHash.make(password: bytes("same"), iterations: fast)
        let b = PasswordHash.make(password: bytes("same"), iterations: fast)
        #expect(a != b)
        #expect(PasswordHash.Stored(a)!.salt != PasswordHash.Stored(b)!.salt)
    }

    @Test func tamperedHashesFail() throws {
        let stored = PasswordHash.make(password: bytes("pw"), iterations: fast)
        let parsed = try #require(PasswordHash.Stored(stored))
        func build(iterations: Int = parsed.iterations, salt: [UInt8] = parsed.salt, hash: [UInt8] = parsed.hash) -> String {
            "$pbkdf2-sha512$\(iterations)$\(PasswordHash.Base64.encode(salt))$\(PasswordHash.Base64.encode(hash))"
        }
        #expect(build() == stored)
        for i in [0, 31, 63] {
            var hash = parsed.hash
            hash[i] ^= 1
            #expect(!PasswordHash.verify(password: bytes("pw"), against: build(hash: hash)), "hash byte \(i)")
        }
        var salt = parsed.salt
        salt[0] ^= 0x80
        #expect(!PasswordHash.verify(password: bytes("pw"), against: build(salt: salt)))
        #expect(!PasswordHash.verify(password: bytes("pw"), against: build(iterations: fast + 1)))
        #expect(!PasswordHash.verify(password: bytes("pw"), against: build(iterations: fast - 1)))
    }

    @Test func malformedStoredStringsFail() throws {
        let good = PasswordHash.make(password: bytes("pw"), iterations: fast)
        let parsed = try #require(PasswordHash.Stored(good))
        let salt = PasswordHash.Base64.encode(parsed.salt), hash = PasswordHash.Base64.encode(parsed.hash)
        let malformed = [
            "", "$", "$$$$", "pw", good + "$", "$" + good, String(good.dropLast()), String(good.dropLast(4)),
            "$pbkdf2-sha256$1000$\(salt)$\(hash)",
            "$PBKDF2-SHA512$1000$\(salt)$\(hash)",
            "pbkdf2-sha512$1000$\(salt)$\(hash)",
            "$pbkdf2-sha512$0$\(salt)$\(hash)",
            "$pbkdf2-sha512$-1000$\(salt)$\(hash)",
            "$pbkdf2-sha512$+1000$\(salt)$\(hash)",
            "$pbkdf2-sha512$01000$\(salt)$\(hash)",
            "$pbkdf2-sha512$1e3$\(salt)$\(hash)",
            "$pbkdf2-sha512$99999999999999999999999$\(salt)$\(hash)",
            "$pbkdf2-sha512$10000001$\(salt)$\(hash)",
            "$pbkdf2-sha512$$\(salt)$\(hash)",
            "$pbkdf2-sha512$1000$$\(hash)",
            "$pbkdf2-sha512$1000$\(salt)$",
            "$pbkdf2-sha512$1000$\(salt)",
            "$pbkdf2-sha512$1000$\(salt)$\(hash)$",
            "$pbkdf2-sha512$1000$\(salt) $\(hash)",
            "$pbkdf2-sha512$1000$\(salt)$\(hash)\n",
            "$pbkdf2-sha512$1000$\(salt.dropLast(2))$\(hash)",           // bad padding
            "$pbkdf2-sha512$1000$\(salt)$\(hash.dropLast(4))",           // 63... bytes: short hash
            "$pbkdf2-sha512$1000$\(PasswordHash.Base64.encode([1, 2, 3]))$\(hash)",  // 3-byte salt
            "$pbkdf2-sha512$1000$\(salt)$\(PasswordHash.Base64.encode(parsed.hash + [0]))",  // 65 bytes
            "$pbkdf2-sha512$1000$\(salt)$*\(hash.dropFirst())",
            "$pbkdf2-sha512$1000$\(salt)$\(String(repeating: "=", count: hash.utf8.count))",
            "$pbkdf2-sha512$1000$\u{FF}\u{1F600}$\(hash)",
        ]
        for stored in malformed {
            #expect(!PasswordHash.verify(password: bytes("pw"), against: stored), "\(stored)")
            #expect(!PasswordHash.isWellFormed(stored), "\(stored)")
        }
    }

    @Test(arguments: [
        ([UInt8](), ""), ([0x66], "Zg=="), ([0x66, 0x6F], "Zm8="), ([0x66, 0x6F, 0x6F], "Zm9v"),
        (Array("foobar".utf8), "Zm9vYmFy"), ([0xFB, 0xFF, 0xBF], "+/+/"),
    ])
    func base64Vectors(_ raw: [UInt8], _ text: String) {
        // RFC 4648 §10 (and the two non-alphanumeric characters).
        #expect(PasswordHash.Base64.encode(raw) == text)
        #expect(PasswordHash.Base64.decode(text.utf8) == raw)
    }

    @Test func base64RejectsNonCanonical() {
        for text in ["Zg", "Zg=", "Zh==", "Zm9=", "Z===", "====", "Zg==Zg==", "Zm9v\n", " Zm9v", "Zm-v"] {
            #expect(PasswordHash.Base64.decode(text.utf8) == nil, "\(text)")
        }
        var rng = SystemRandomNumberGenerator()
        for n in 0..<70 {
            let raw = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(PasswordHash.Base64.decode(PasswordHash.Base64.encode(raw).utf8) == raw)
        }
    }
}

struct PasswordHashFileTests {
    static let alice = PasswordHash.make(password: Array("alice-pw".utf8), iterations: fast)
    static let bob = PasswordHash.make(password: Array("bob-pw".utf8), iterations: fast)

    @Test func parsesCommentsBlankLinesAndCRLF() throws {
        let text = "# users\n\nalice:\(Self.alice)\r\n   \n  # indented comment\r\nbob:\(Self.bob)"
        let file = try PasswordFile.parse(text, file: "pw")
        #expect(file.entries == ["alice": Self.alice, "bob": Self.bob])
        #expect(file.serialized() == "alice:\(Self.alice)\nbob:\(Self.bob)\n")
        #expect(try PasswordFile.parse(file.serialized(), file: "pw").entries == file.entries)
        #expect(file.verify(username: "alice", password: Array("alice-pw".utf8)))
        #expect(!file.verify(username: "alice", password: Array("bob-pw".utf8)))
        #expect(!file.verify(username: "carol", password: Array("alice-pw".utf8)))
        #expect(try PasswordFile.parse("", file: "pw").entries.isEmpty)
    }

    @Test(arguments: [
        ("alice:\(alice)\nnocolon\n", 2, "expected 'username:hash'"),
        ("# c\n\n:\(alice)\n", 3, "invalid username"),
        ("alice:\(alice)\nalice:\(bob)\n", 2, "user 'alice' already defined on line 1"),
        ("alice:$pbkdf2-sha512$1000$x$y\n", 1, "user 'alice': not a $pbkdf2-sha512$ hash"),
        ("alice:\(alice) \n", 1, "not a $pbkdf2-sha512$ hash"),
        ("alice:\n", 1, "not a $pbkdf2-sha512$ hash"),
        (" alice:\(alice)\n", 1, "invalid username"),
        ("bob:\(bob)\n\n\nal:ice:\(alice)\n", 4, "not a $pbkdf2-sha512$ hash"),
    ])
    func parseErrorsNameTheLine(_ text: String, _ line: Int, _ message: String) {
        #expect {
            try PasswordFile.parse(text, file: "/etc/fleet/passwd")
        } throws: { error in
            guard let error = error as? PasswordFileError else { return false }
            return error.file == "/etc/fleet/passwd" && error.line == line && error.message.contains(message)
                && error.description.hasPrefix("/etc/fleet/passwd:\(line): ")
        }
    }

    @Test func errorsNeverQuoteHashes() {
        do {
            _ = try PasswordFile.parse("alice:\(Self.alice)x\n", file: "pw")
            Issue.record("parsed a bad hash")
        } catch {
            #expect(!error.description.contains(Self.alice))
        }
    }

    @Test(arguments: ["", "a:b", "a\nb", "a\rb", "#a", " a", "a\t", "a\0b"])
    func invalidUsernamesAreRefused(_ name: String) {
        #expect(!PasswordFile.isValidUsername(name))
        var file = PasswordFile()
        #expect(throws: PasswordFileError.self) { try file.set(username: name, hash: Self.alice) }
        #expect(file.entries.isEmpty)
        // Entries set directly are checked when saving, before anything is written.
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        #expect(throws: PasswordFileError.self) { try PasswordFile(entries: [name: Self.alice]).save(path: dir + "/pw") }
        #expect(access(dir + "/pw", F_OK) != 0)
    }

    @Test func validUsernames() throws {
        var file = PasswordFile()
        for name in ["a", "a b", "a#b", "caf\u{E9}", "sensor-7.example", "a/b"] {
            #expect(PasswordFile.isValidUsername(name))
            try file.set(username: name, hash: Self.alice)
        }
        #expect(try PasswordFile.parse(file.serialized(), file: "pw").entries == file.entries)
    }

    @Test func saveLoadRoundTripWithMode0600() throws {
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/passwd"
        var file = PasswordFile()
        try file.set(username: "alice", hash: Self.alice)
        try file.set(username: "bob", hash: Self.bob)
        try file.save(path: path)
        #expect(try PasswordFile.load(path: path).entries == file.entries)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)

        // Replacing keeps 0600, even over a file that was world-readable, and leaves no temp file.
        #expect(chmod(path, 0o644) == 0)
        file.entries["bob"] = nil
        try file.save(path: path)
        #expect(try PasswordFile.load(path: path).entries == ["alice": Self.alice])
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(directoryEntries(dir) == ["passwd"])
    }

    @Test func loadAndSaveErrorsNameTheFile() throws {
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        #expect {
            try PasswordFile.load(path: dir + "/missing")
        } throws: { error in
            guard let error = error as? PasswordFileError else { return false }
            return error.file == dir + "/missing" && error.line == nil && error.message.contains("open failed")
        }
        #expect(throws: PasswordFileError.self) { try PasswordFile().save(path: dir + "/no/such/dir/pw") }

        let path = dir + "/pw"
        let text = "alice:\(Self.alice)\nbroken\n"
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        _ = text.utf8CString.withUnsafeBytes { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        #expect {
            try PasswordFile.load(path: path)
        } throws: { error in
            (error as? PasswordFileError)?.description.hasPrefix("\(path):2: ") == true
        }
    }

    func directoryEntries(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
