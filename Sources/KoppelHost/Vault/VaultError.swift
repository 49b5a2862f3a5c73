/// Why a secret could not be stored or read. Each message says what to do.
public enum VaultError: Error, Equatable, Sendable, CustomStringConvertible {
    case noMasterKey(keyFile: String)
    case malformedMasterKey(source: String)
    case keyFileTooOpen(path: String, mode: UInt16)
    case keyFileUnreadable(path: String, reason: String)
    case wrongMasterKey(connection: String, name: String, sealedWith: String, current: String)
    case corrupt(connection: String, name: String)
    case missingSecret(connection: String, name: String)

    public var description: String {
        switch self {
        case .noMasterKey(let keyFile):
            "no master key: set KOPPEL_MASTER_KEY (32 bytes, base64 or hex) or create \(keyFile) with `koppel secrets init-key`"
        case .malformedMasterKey(let source):
            "the master key in \(source) is not 32 bytes of base64 or hex"
        case .keyFileTooOpen(let path, let mode):
            "refusing the key file \(path): its mode is \(String(mode, radix: 8)), which lets other users read it; run chmod 600 \(path)"
        case .keyFileUnreadable(let path, let reason):
            "the key file \(path) cannot be read: \(reason)"
        case .wrongMasterKey(let connection, let name, let sealedWith, let current):
            "secret \(name) of connection \(connection) was sealed with master key \(sealedWith), but the current master key is \(current); use the key it was sealed with"
        case .corrupt(let connection, let name):
            "secret \(name) of connection \(connection) does not decrypt with the master key; it was damaged or sealed with another key"
        case .missingSecret(let connection, let name):
            "connection \(connection) needs the secret \(name): run `koppel secrets set \(connection) \(name)` and type it on stdin"
        }
    }
}
