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
        id = SHA256.hash(data: bytes).prefix(6).map { String(format: "%02x", $0) }.joined()
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

extension Data {
    /// Bytes from hex text, or nil.
    init?(hex: String) {
        var bytes: [UInt8] = []
        var iterator = hex.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let byte = UInt8(String([high, low]), radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.init(bytes)
    }
}
