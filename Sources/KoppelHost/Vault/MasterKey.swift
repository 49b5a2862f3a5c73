import Crypto
import Foundation

/// The key that seals every secret in the vault (AES-256). It comes from the environment
/// (`KOPPEL_MASTER_KEY`) or from a key file that only its owner can read; it is never
/// stored in the state database.
public struct MasterKey: Sendable {
    let key: SymmetricKey
    /// A short fingerprint naming the key in messages and beside each sealed secret.
    public let id: String
    /// Where the key came from, for messages.
    public let source: String

    init(bytes: Data, source: String) {
        key = SymmetricKey(data: bytes)
        id = SHA256.hash(data: bytes).prefix(6).hexString
        self.source = source
    }

    /// A new random key.
    public static func generate() -> MasterKey {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return MasterKey(bytes: bytes, source: "a new key")
    }

    /// Parses 32 bytes given as base64 or hex.
    public static func parse(_ text: String, source: String) throws(VaultError) -> MasterKey {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let data = Data(base64Encoded: trimmed), data.count == 32 { return MasterKey(bytes: data, source: source) }
        if trimmed.count == 64, let data = Data(hex: trimmed) { return MasterKey(bytes: data, source: source) }
        throw .malformedMasterKey(source: source)
    }

    /// The key from `KOPPEL_MASTER_KEY`, else from `keyFile` (which must be mode 0600).
    public static func load(environment: [String: String], keyFile: String) throws(VaultError) -> MasterKey {
        if let value = environment["KOPPEL_MASTER_KEY"], !value.isEmpty {
            return try parse(value, source: "KOPPEL_MASTER_KEY")
        }
        var info = stat()
        guard stat(keyFile, &info) == 0 else { throw .noMasterKey(keyFile: keyFile) }
        let mode = UInt16(info.st_mode & 0o777)
        guard mode & 0o077 == 0 else { throw .keyFileTooOpen(path: keyFile, mode: mode) }
        let text: String
        do {
            text = try String(contentsOfFile: keyFile, encoding: .utf8)
        } catch {
            throw .keyFileUnreadable(path: keyFile, reason: (error as NSError).localizedDescription)
        }
        return try parse(text, source: keyFile)
    }

    /// Writes the key (base64) to a new file readable only by its owner; replaces an
    /// existing file only through an atomic rename.
    public func write(to path: String) throws {
        let temporary = "\(path).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw VaultError.keyFileUnreadable(path: temporary, reason: String(cString: strerror(errno))) }
        let text = key.withUnsafeBytes { Data($0).base64EncodedString() } + "\n"
        let written = text.withCString { Foundation.write(fd, $0, strlen($0)) }
        fsync(fd)
        close(fd)
        guard written == text.utf8.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw VaultError.keyFileUnreadable(path: path, reason: "could not write the key file")
        }
    }
}

extension MasterKey {
    /// The key as base64, for putting it in `KOPPEL_MASTER_KEY`.
    public func base64() throws -> String {
        key.withUnsafeBytes { Data($0).base64EncodedString() }
    }
}

/// Replaces the master key in a key file without a moment where the file and the sealed
/// secrets disagree for good: the new key is written to `<file>.new` first, the secrets
/// are re-sealed in one transaction, then the new file replaces the old. If the process
/// dies between the last two steps, `MasterKey.load(matching:)` finishes the job.
public struct KeyRotation {
    public let keyFile: String

    public init(keyFile: String) {
        self.keyFile = keyFile
    }

    var pendingFile: String { keyFile + ".new" }

    /// Rotates and returns how many secrets were re-sealed.
    public func rotate(vault: Vault, to newKey: MasterKey) throws -> Int {
        try newKey.write(to: pendingFile)
        let count = try vault.reseal(with: newKey)
        guard rename(pendingFile, keyFile) == 0 else {
            throw VaultError.keyFileUnreadable(path: keyFile, reason: "the new key is in \(pendingFile) but could not replace \(keyFile)")
        }
        return count
    }

    /// Completes a rotation that stopped after the re-seal: when the secrets were sealed
    /// with the pending key, it becomes the key file.
    public func completeIfInterrupted(sealedWith keyID: String?) throws {
        guard let keyID, FileManager.default.fileExists(atPath: pendingFile),
            let pending = try? MasterKey.load(environment: [:], keyFile: pendingFile), pending.id == keyID
        else { return }
        if rename(pendingFile, keyFile) != 0 {
            throw VaultError.keyFileUnreadable(path: keyFile, reason: "an interrupted key rotation left \(pendingFile); move it over \(keyFile)")
        }
    }
}
