import Foundation
import KoppelPluginSDK

/// An example connector in Swift that moves canonical orders between files:
///
/// - source stream `orders` reads a JSON-lines file of canonical orders, emitting those
///   updated after the cursor (the last `updated_at` seen);
/// - target stream `orders` writes each order as `<outbox>/<idempotency key>.json`,
///   refusing an order whose lines do not add up to its totals.
public final class OrderFilesConnector: Connector {
    public struct Config: Decodable {
        /// The JSON-lines file the source reads.
        var ordersFile: String?
        /// The directory the target writes into.
        var outbox: String?

        enum CodingKeys: String, CodingKey {
            case ordersFile = "orders_file"
            case outbox
        }
    }

    public static let manifest = Manifest(
        name: "example-swift",
        version: "1.0.0",
        description: "Example connector in Swift: canonical orders from a JSON-lines file to a folder",
        streams: .init(
            read: [.init(name: "orders", record: "order", incremental: true)],
            write: [.init(name: "orders", record: "order", update: true)]),
        configSchema: [
            "type": "object",
            "properties": [
                "orders_file": ["type": "string"],
                "outbox": ["type": "string"],
            ],
            "additionalProperties": false,
        ]
    )

    private let config: Config

    public init(config: Config, host: PluginHost) throws(ConnectorError) {
        guard config.ordersFile != nil || config.outbox != nil else {
            throw .invalidData("config: set orders_file to read, outbox to write, or both")
        }
        self.config = config
    }

    public func check(host: PluginHost) throws(ConnectorError) {
        if let file = config.ordersFile, !FileManager.default.isReadableFile(atPath: file) {
            throw .notFound("orders_file \(file) cannot be read")
        }
    }

    /// The source's cursor: the newest `updated_at` emitted and the keys emitted at it.
    struct Cursor: Codable {
        var updatedAt: Date
        var keys: [String]
    }

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        guard let file = config.ordersFile else { throw .invalidData("config: orders_file is needed to read orders") }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw .notFound("orders_file \(file) cannot be read")
        }
        var cursor = try request.cursor(as: Cursor.self)
        var orders: [Order] = []
        for (number, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            do {
                orders.append(try JSONDecoder.iso8601.decode(Order.self, from: Data(line.utf8)))
            } catch {
                throw .invalidData("\(file) line \(number + 1) is not a canonical order: \(error)")
            }
        }
        for order in orders.sorted(by: { ($0.updatedAt, $0.sourceKey) < ($1.updatedAt, $1.sourceKey) }) {
            if let since = request.since, order.updatedAt < since { continue }
            if let until = request.until, order.updatedAt > until { continue }
            if let cursor, order.updatedAt < cursor.updatedAt
                || (order.updatedAt == cursor.updatedAt && cursor.keys.contains(order.sourceKey))
            {
                continue
            }
            try host.checkCancellation()
            try host.emit(order)
            if cursor?.updatedAt == order.updatedAt {
                cursor?.keys.append(order.sourceKey)
            } else {
                cursor = Cursor(updatedAt: order.updatedAt, keys: [order.sourceKey])
            }
            try host.checkpoint(cursor)
        }
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        guard let outbox = config.outbox else { throw .invalidData("config: outbox is needed to write orders") }
        let order = try request.record(as: Order.self)
        let lines = order.lines.reduce(Money.zero) { $0 + $1.total }
        guard lines == order.totals.lines else {
            throw .invalidData("order \(order.number): lines add up to \(lines), totals.lines says \(order.totals.lines)")
        }
        let safeName = request.idempotencyKey.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        let path = "\(outbox)/\(String(safeName)).json"
        let exists = FileManager.default.fileExists(atPath: path)
        if request.reconcile && exists { return .found(path) }
        do {
            let data = try JSONEncoder.sorted.encode(order)
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw .transient("could not write \(path): \(error.localizedDescription)")
        }
        host.log(.info, "wrote order \(order.number) to \(path)")
        return exists ? .updated(path) : .created(path)
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }
}

@_cdecl("koppel_plugin_entry")
public func koppelPluginEntry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(OrderFilesConnector.self, r) }
