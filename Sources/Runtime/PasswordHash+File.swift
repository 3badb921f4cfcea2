internal import Glibc

/// A problem with a password file, naming the file and, when parsing, the line (1-based).
/// Messages name users, never hashes.
public struct PasswordFileError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int?
    public let message: String

    public init(file: String, line: Int? = nil, message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// A mosquitto-style password file: one "username:hash" per line, '#' comments, blank lines
/// ignored. Hashes are `PasswordHash` strings.
public struct PasswordFile: Sendable {
    /// username -> stored hash.
    public var entries: [String: String]

    /// Larger files are refused by `load` (a password file is small; this is not a database).
    public static let maxFileBytes = 16 << 20

    public init(entries: [String: String] = [:]) {
        self.entries = entries
    }

    /// A username the file format can hold: non-empty, no ':', no line break, no leading or
    /// trailing space or tab, and not starting with '#' (it would read back as a comment).
    public static func isValidUsername(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        let blank: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t")]
        if first == UInt8(ascii: "#") || blank.contains(first) || blank.contains(last) { return false }
        return !bytes.contains { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") || $0 == 0 }
    }

    /// Adds or replaces a user (usernames: `isValidUsername`; hashes: `PasswordHash.isWellFormed`).
    public mutating func set(username: String, hash: String, file: String = "<memory>") throws(PasswordFileError) {
        if let problem = Self.problem(username: username, hash: hash) { throw PasswordFileError(file: file, message: problem) }
        entries[username] = hash
    }

    /// Whether `username` exists and `password` matches its hash. An unknown user costs the same
    /// work as a known one, so timing does not tell which usernames exist.
    public func verify(username: String, password: [UInt8]) -> Bool {
        guard let stored = entries[username] else {
            _ = PasswordHash.verify(password: password, against: Self.decoy)
            return false
        }
        return PasswordHash.verify(password: password, against: stored)
    }

    /// A well-formed hash of nothing anyone knows, at the default cost, for unknown users.
    static let decoy = PasswordHash.make(password: SecureRandom.bytes(16))

    static func problem(username: String, hash: String) -> String? {
        if !isValidUsername(username) {
            return "invalid username '\(username)' (empty, ':', line break, leading/trailing blank or leading '#')"
        }
        if !PasswordHash.isWellFormed(hash) { return "user '\(username)': not a $pbkdf2-sha512$ hash" }
        return nil
    }

    /// Parses `text`; `file` names it in errors. Lines end with "\n" or "\r\n". A line whose first
    /// non-blank character is '#' is a comment. Every other non-blank line is "username:hash",
    /// split at the first ':'; the hash must be well-formed and a username may appear once.
    public static func parse(_ text: String, file: String) throws(PasswordFileError) -> PasswordFile {
        var result = PasswordFile()
        var firstLine: [String: Int] = [:]
        let lines = Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let number = index + 1
            var line = rawLine
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            guard let firstNonBlank = line.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }),
                  firstNonBlank != UInt8(ascii: "#") else { continue }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw PasswordFileError(file: file, line: number, message: "expected 'username:hash'")
            }
            let username = String(decoding: line[..<colon], as: UTF8.self)
            let hash = String(decoding: line[(colon + 1)...], as: UTF8.self)
            if let problem = problem(username: username, hash: hash) {
                throw PasswordFileError(file: file, line: number, message: problem)
            }
            if let first = firstLine[username] {
                throw PasswordFileError(file: file, line: number, message: "user '\(username)' already defined on line \(first)")
            }
            firstLine[username] = number
            result.entries[username] = hash
        }
        return result
    }

    /// "username:hash\n" per user, sorted by username (stable diffs).
    public func serialized() -> String {
        var text = ""
        for username in entries.keys.sorted() { text += "\(username):\(entries[username]!)\n" }
        return text
    }

    public static func load(path: String) throws(PasswordFileError) -> PasswordFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError(path, "open") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw systemError(path, "read")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
            if bytes.count > maxFileBytes { throw PasswordFileError(file: path, message: "larger than \(maxFileBytes) bytes") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw PasswordFileError(file: path, message: "not valid UTF-8")
        }
        return try parse(text, file: path)
    }

    /// Writes the file atomically: a temporary file beside it (mode 0600) is written, synced and
    /// renamed over `path`, then the directory is synced. Readers see the old or the new file,
    /// never a part. Refuses entries the format cannot hold.
    public func save(path: String) throws(PasswordFileError) {
        for username in entries.keys.sorted() {
            if let problem = Self.problem(username: username, hash: entries[username]!) {
                throw PasswordFileError(file: path, message: problem)
            }
        }
        let temp = path + ".tmp-" + SecureRandom.bytes(8).map { String($0, radix: 16) }.joined()
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.systemError(temp, "open") }
        var ok = false
        defer { if !ok { unlink(temp) } }
        do {
            defer { close(fd) }
            // The umask can only clear bits; set 0600 explicitly anyway (and in case of ACL defaults).
            guard fchmod(fd, 0o600) == 0 else { throw Self.systemError(temp, "fchmod") }
            let bytes = Array(serialized().utf8)
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Self.systemError(temp, "write")
                }
                written += n
            }
            guard fsync(fd) == 0 else { throw Self.systemError(temp, "fsync") }
        }
        guard rename(temp, path) == 0 else { throw Self.systemError(path, "rename") }
        ok = true
        // Make the rename durable. Best effort: the file itself is already complete.
        let slash = path.utf8.lastIndex(of: UInt8(ascii: "/"))
        let directory = slash.map { $0 == path.utf8.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// The error for a failed C call, with errno's text.
    static func systemError(_ file: String, _ call: String) -> PasswordFileError {
        let code = errno
        return PasswordFileError(file: file, message: "\(call) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}
