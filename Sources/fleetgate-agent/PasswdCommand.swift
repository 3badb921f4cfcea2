import ArgumentParser
import FleetRuntime
import Foundation

/// `fleetgate-agent passwd FILE add|remove USER`: salted PBKDF2-SHA512 hashes, never plaintext.
struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetgate-agent passwd",
        abstract: "Add or remove a user in a password file (PBKDF2-SHA512, salted).",
        discussion: "The password is read from the first line of standard input. Send SIGHUP to a running agent to reload the file.")

    enum Action: String, ExpressibleByArgument { case add, remove }

    @Argument(help: "The password file (created by 'add' if missing, mode 0600).")
    var file: String

    @Argument(help: "add or remove")
    var action: Action

    @Argument(help: "The user name.")
    var user: String

    func run() throws {
        var passwords = FileManager.default.fileExists(atPath: file) ? try PasswordFile.load(path: file) : PasswordFile()
        switch action {
        case .add:
            guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                throw ValidationError("no password on standard input")
            }
            try passwords.set(username: user, hash: PasswordHash.make(password: Array(line.utf8)), file: file)
        case .remove:
            guard passwords.entries.removeValue(forKey: user) != nil else {
                throw ValidationError("no user '\(user)' in \(file)")
            }
        }
        try passwords.save(path: file)
    }
}
