import Foundation

/// A connection's map from the keys Koppel writes by (a source key, an SKU) to the ids a
/// target system gave those records, kept in the connection's state. For a target that
/// cannot be asked "which record has my key?" (Optiply reads show a `remoteIdMap` but
/// filter on none): each id is remembered when the record is made, and a map that was
/// never filled, or was lost with the state, is rebuilt once from a listing of the target
/// before anything is looked up, never guessed.
public struct IdentityMap {
    /// Names the map in the state (`optiply.sellOrders`).
    public let name: String
    let state: PluginHost.State

    public init(_ name: String, host: PluginHost) {
        self.name = name
        state = host.state
    }

    private func entry(_ key: String) -> String { "\(name):\(key)" }
    private var builtMarker: String { "\(name)#built" }

    /// The target's id for `key`, or nil when it has none. When the map was never
    /// filled, `listing` is called first to list every record the target has as pairs of
    /// key and id, and the map is filled from it.
    public func id(_ key: String, listing: () throws(ConnectorError) -> [(key: String, id: String)]) throws(ConnectorError) -> String? {
        if let id = try state.get(entry(key)) { return id }
        if try state.get(builtMarker) != nil { return nil }
        // Writes run side by side: one fills the map, the others wait for it.
        Self.filling.lock()
        defer { Self.filling.unlock() }
        if try state.get(builtMarker) == nil {
            for pair in try listing() { try state.set(entry(pair.key), pair.id) }
            try state.set(builtMarker, ISO8601DateFormatter().string(from: Date()))
        }
        return try state.get(entry(key))
    }

    private static let filling = NSLock()

    /// The remembered id of `key`, without filling the map.
    public func remembered(_ key: String) throws(ConnectorError) -> String? {
        try state.get(entry(key))
    }

    /// Remembers the id a record made for `key` was given.
    public func remember(_ key: String, _ id: String) throws(ConnectorError) {
        try state.set(entry(key), id)
    }

    /// Forgets `key` (its record is gone from the target).
    public func forget(_ key: String) throws(ConnectorError) {
        try state.delete(entry(key))
    }
}
