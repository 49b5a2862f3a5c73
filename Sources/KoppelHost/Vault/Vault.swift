import Crypto
import Foundation

/// Credentials of connections, sealed with AES-256-GCM under the master key before they
/// reach the state store. Every value read or written is registered with the redactor so
/// that it never appears in a log line, error or activity row.
public final class Vault: Sendable {
    let store: any StateStore
    public let key: MasterKey
    public let redactor: SecretRedactor

    public init(store: any StateStore, key: MasterKey, redactor: SecretRedactor) {
        self.store = store
        self.key = key
        self.redactor = redactor
    }

    /// Seals and stores a secret.
    public func set(connection: String, name: String, value: String) throws {
        redactor.register(value)
        let sealed = try Self.seal(value, connection: connection, name: name, key: key)
        try store.putSealedSecret(SealedSecret(connection: connection, name: name, keyID: key.id, sealed: sealed, updatedAt: Date()))
    }

    /// The secret in clear text, or nil when none is stored.
    public func get(connection: String, name: String) throws -> String? {
        guard let secret = try store.sealedSecret(connection: connection, name: name) else { return nil }
        let value = try Self.open(secret, key: key)
        redactor.register(value)
        return value
    }

    /// The secret, or an error telling how to store it.
    public func require(connection: String, name: String) throws -> String {
        guard let value = try get(connection: connection, name: name) else {
            throw VaultError.missingSecret(connection: connection, name: name)
        }
        return value
    }

    /// Removes a secret; true when it existed.
    @discardableResult
    public func delete(connection: String, name: String) throws -> Bool {
        try store.deleteSecret(connection: connection, name: name)
    }

    /// Connection and name of every stored secret; never the values.
    public func list() throws -> [(connection: String, name: String, updatedAt: Date)] {
        try store.sealedSecrets().map { ($0.connection, $0.name, $0.updatedAt) }
    }

    /// Opens every secret with the current key and seals it again with `newKey`, in one
    /// transaction: afterwards every secret is readable with `newKey` only.
    public func reseal(with newKey: MasterKey) throws -> Int {
        let resealed = try store.sealedSecrets().map { secret in
            let value = try Self.open(secret, key: key)
            return SealedSecret(
                connection: secret.connection, name: secret.name, keyID: newKey.id,
                sealed: try Self.seal(value, connection: secret.connection, name: secret.name, key: newKey), updatedAt: Date())
        }
        try store.replaceSealedSecrets(resealed)
        return resealed.count
    }

    /// The sealed form binds the ciphertext to its slot: a secret copied to another
    /// connection or name does not open.
    private static func associatedData(_ connection: String, _ name: String) -> Data {
        Data("koppel-vault-v1\u{0}\(connection)\u{0}\(name)".utf8)
    }

    static func seal(_ value: String, connection: String, name: String, key: MasterKey) throws -> Data {
        let box = try AES.GCM.seal(Data(value.utf8), using: key.key, authenticating: associatedData(connection, name))
        guard let combined = box.combined else { throw VaultError.corrupt(connection: connection, name: name) }
        return combined
    }

    static func open(_ secret: SealedSecret, key: MasterKey) throws(VaultError) -> String {
        guard secret.keyID == key.id else {
            throw .wrongMasterKey(connection: secret.connection, name: secret.name, sealedWith: secret.keyID, current: key.id)
        }
        do {
            let box = try AES.GCM.SealedBox(combined: secret.sealed)
            let data = try AES.GCM.open(box, using: key.key, authenticating: associatedData(secret.connection, secret.name))
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw .corrupt(connection: secret.connection, name: secret.name)
        }
    }
}
