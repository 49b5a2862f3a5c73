import Foundation
import KoppelPluginSDK

/// A connector that costs nothing: its source emits `count` synthetic records and its
/// target accepts and discards whatever it is given. For measuring the host itself
/// (ABI, engine, ledger) and for smoke tests.
public final class NullConnector: Connector {
    public struct Config: Decodable {
        /// How many records the source emits.
        var count: Int?
    }

    public static let manifest = Manifest(
        name: "null",
        version: "1.0.0",
        description: "Synthetic records in, records discarded out: measures the host itself",
        streams: .init(
            read: [.init(name: "records", record: "any", incremental: true)],
            write: [.init(name: "records", record: "any", update: true)]),
        configSchema: [
            "type": "object",
            "properties": ["count": ["type": "integer", "minimum": 0]],
            "additionalProperties": false,
        ]
    )

    private let count: Int

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        count = config.count ?? 0
    }

    struct Record: Encodable {
        var source_key: String
        var updated_at: String
        var value: Int
    }

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        let start = (try request.cursor(as: Int.self) ?? 0) + 1
        guard start <= count else { return }
        for i in start...count {
            if i % 1000 == 0 { try host.checkCancellation() }
            try host.emit(Record(source_key: "r-\(i)", updated_at: "2026-01-01T00:00:00Z", value: i))
            if i % 100 == 0 || i == count { try host.checkpoint(i) }
        }
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        request.targetKey.map { .updated($0) } ?? .created("null-\(request.idempotencyKey)")
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(NullConnector.self, r) }
