import ArgumentParser
import Foundation
import KoppelHost

/// `koppel secrets ...`: the encrypted credentials of connections.
struct SecretsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secrets",
        abstract: "Store, list and re-key the encrypted credentials of connections.",
        discussion: """
            Secrets are sealed with AES-256-GCM under the master key, taken from \
            $KOPPEL_MASTER_KEY (32 bytes, base64 or hex) or from the deployment's key file, \
            which must be readable by its owner only (mode 600).
            """,
        subcommands: [Set.self, List.self, Delete.self, InitKey.self, RotateKey.self]
    )

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a secret; the value is read from standard input, never from the command line.")

        @Argument(help: "The connection.") var connection: String
        @Argument(help: "The secret's name, e.g. client_secret.") var name: String
        @OptionGroup var deployment: DeploymentOptions

        func run() throws {
            let runtime = try deployment.runtime()
            try reporting {
                let (_, plugin) = try runtime.connection(connection)
                let value = try readSecret(prompt: "\(name) for \(connection): ")
                guard !value.isEmpty else { throw CLIError(message: "no value on standard input; nothing stored", code: .validationFailure) }
                if case VaultError.noMasterKey? = (Result { try runtime.masterKey() }).error {
                    try createMasterKey(runtime)
                }
                try runtime.vault().set(connection: connection, name: name, value: value)
                let known = plugin.manifest.secretSettings + ["oauth2_tokens"]
                let note = known.contains(name) ? "" : " (note: \(plugin.name) declares no secret named \(name); it declares \(plugin.manifest.secretSettings.joined(separator: ", ")))"
                print("stored \(name) for \(connection)\(note)")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List stored secrets by name; values are never shown.")

        @Argument(help: "Only this connection.") var connection: String?
        @OptionGroup var deployment: DeploymentOptions

        func run() throws {
            let runtime = try deployment.runtime()
            try reporting {
                let formatter = ISO8601DateFormatter()
                let rows = try runtime.vault().list().filter { connection == nil || $0.connection == connection }
                    .map { [$0.connection, $0.name, formatter.string(from: $0.updatedAt)] }
                print(Table(header: ["CONNECTION", "NAME", "UPDATED"], rows: rows).rendered)
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a secret.")

        @Argument var connection: String
        @Argument var name: String
        @OptionGroup var deployment: DeploymentOptions

        func run() throws {
            let runtime = try deployment.runtime()
            try reporting {
                guard try runtime.vault().delete(connection: connection, name: name) else {
                    throw CLIError(message: "no secret \(name) for \(connection)", code: .failure)
                }
                print("deleted \(name) of \(connection)")
            }
        }
    }

    struct InitKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init-key", abstract: "Create the master key file (mode 600) if there is none.")

        @OptionGroup var deployment: DeploymentOptions

        func run() throws {
            let runtime = try deployment.runtime()
            try reporting {
                let path = runtime.deployment.vault.keyFile
                guard !FileManager.default.fileExists(atPath: path) else {
                    throw CLIError(message: "\(path) exists already; it was left as it is", code: .failure)
                }
                try createMasterKey(runtime)
            }
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Seal every secret with a new master key.",
            discussion: """
                With a key file: writes the new key beside it, re-seals every secret in one \
                transaction, then puts the new key in place of the old. With KOPPEL_MASTER_KEY: \
                prints the new key once; put it in KOPPEL_MASTER_KEY before the next run.
                """)

        @OptionGroup var deployment: DeploymentOptions

        func run() throws {
            let runtime = try deployment.runtime()
            try reporting {
                let vault = try runtime.vault()
                let newKey = MasterKey.generate()
                if vault.key.source == "KOPPEL_MASTER_KEY" {
                    let count = try vault.reseal(with: newKey)
                    print("re-sealed \(count) secrets with the new master key \(newKey.id).")
                    print("Set KOPPEL_MASTER_KEY to this value now; the old key no longer opens them:")
                    print(try newKey.base64())
                } else {
                    let count = try KeyRotation(keyFile: runtime.deployment.vault.keyFile).rotate(vault: vault, to: newKey)
                    print("re-sealed \(count) secrets with the new master key \(newKey.id) in \(runtime.deployment.vault.keyFile)")
                }
            }
        }
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

/// Reads a secret: without echo from a terminal, else all of standard input (one
/// trailing newline dropped).
func readSecret(prompt: String) throws -> String {
    if isatty(STDIN_FILENO) == 1 {
        guard let value = getpass(prompt) else { return "" }
        return String(cString: value)
    }
    var text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    if text.hasSuffix("\n") { text.removeLast() }
    if text.hasSuffix("\r") { text.removeLast() }
    return text
}

/// Creates the deployment's master key file, unless the vault already holds secrets
/// sealed with another key: a new key over them would leave the vault with two keys,
/// the old secrets unreadable and no rotation possible.
func createMasterKey(_ runtime: Runtime) throws {
    let keyFile = runtime.deployment.vault.keyFile
    let sealed = try runtime.store.sealedSecrets()
    if let first = sealed.first {
        throw CLIError(
            message: "the master key file \(keyFile) is missing, but the vault holds \(sealed.count) secret(s) sealed with key \(first.keyID); restore that key file (or set KOPPEL_MASTER_KEY to that key). Nothing was stored and no new key was made",
            code: .validationFailure)
    }
    let key = MasterKey.generate()
    try key.write(to: keyFile)
    print("created the master key \(key.id) in \(keyFile); back it up: without it the secrets cannot be read")
}
