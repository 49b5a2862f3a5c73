import CKoppelPlugin
import Foundation

/// The host's services during one call into the connector: logging, HTTP through the
/// host's transport, persistent key/value state, the clock and cancellation.
///
/// A `PluginHost` is valid only during the call that received it; do not store it.
public struct PluginHost {
    let table: UnsafePointer<koppel_host>

    init(_ table: UnsafePointer<koppel_host>) {
        self.table = table
    }

    /// Log levels of the host's log.
    public enum LogLevel: Int32, Sendable {
        case trace, debug, info, warning, error
    }

    /// Writes a line to the host's log. Never log secrets.
    public func log(_ level: LogLevel, _ message: String) {
        guard let log = table.pointee.log else { return }
        withKoppelStr(message) { log(table.pointee.ctx, level.rawValue, $0) }
    }

    /// Performs an HTTP request through the host's transport (base URL, credentials,
    /// pacing and safe retries are the host's job). Any HTTP status is returned; only a
    /// request that got no usable answer throws.
    public func http(_ request: HTTPRequest) throws(ConnectorError) -> HTTPResponse {
        guard let http = table.pointee.http_request else {
            throw .internal("the host offers no HTTP transport")
        }
        let requestJSON: Data
        do {
            requestJSON = try JSONEncoder.koppel.encode(request)
        } catch {
            throw .internal("could not encode the HTTP request: \(error)")
        }
        var received: Data?
        let status = requestJSON.withKoppelStr { str in
            withReceiver({ received = $0 }) { fn, user in http(table.pointee.ctx, str, fn, user) }
        }
        guard status == KOPPEL_OK else {
            let detail = received.flatMap { try? JSONDecoder().decode([String: String].self, from: $0) }?["error"]
            throw ConnectorError(status: status, message: detail ?? "HTTP \(request.method) \(request.path) failed")
        }
        guard let received else { throw .internal("the host returned no HTTP response") }
        do {
            return try JSONDecoder().decode(HTTPResponse.self, from: received)
        } catch {
            throw .internal("the host's HTTP response could not be read: \(error)")
        }
    }

    /// The connection's persistent key/value state.
    public var state: State { State(table: table) }

    /// Persistent key/value state scoped to this connection.
    public struct State {
        let table: UnsafePointer<koppel_host>

        /// The value stored under `key`, or nil.
        public func get(_ key: String) throws(ConnectorError) -> String? {
            guard let get = table.pointee.state_get else { throw .internal("the host offers no state") }
            var received: Data?
            let status = withKoppelStr(key) { keyStr in
                withReceiver({ received = $0 }) { fn, user in get(table.pointee.ctx, keyStr, fn, user) }
            }
            if status == KOPPEL_NOT_FOUND { return nil }
            guard status == KOPPEL_OK else {
                throw ConnectorError(status: status, message: "reading state \(key) failed")
            }
            return received.map { String(decoding: $0, as: UTF8.self) }
        }

        /// Stores `value` under `key`.
        public func set(_ key: String, _ value: String) throws(ConnectorError) {
            guard let set = table.pointee.state_set else { throw .internal("the host offers no state") }
            let status = withKoppelStr(key) { k in withKoppelStr(value) { v in set(table.pointee.ctx, k, v) } }
            guard status == KOPPEL_OK else {
                throw ConnectorError(status: status, message: "writing state \(key) failed")
            }
        }

        /// Removes `key`.
        public func delete(_ key: String) throws(ConnectorError) {
            guard let delete = table.pointee.state_delete else { throw .internal("the host offers no state") }
            let status = withKoppelStr(key) { delete(table.pointee.ctx, $0) }
            guard status == KOPPEL_OK || status == KOPPEL_NOT_FOUND else {
                throw ConnectorError(status: status, message: "deleting state \(key) failed")
            }
        }
    }

    /// The host's clock, UTC.
    public var now: Date {
        guard let nowMs = table.pointee.now_ms else { return Date() }
        return Date(timeIntervalSince1970: Double(nowMs(table.pointee.ctx)) / 1000)
    }

    /// True once the host wants the current call to stop.
    public var isCancelled: Bool {
        guard let isCancelled = table.pointee.is_cancelled else { return false }
        return isCancelled(table.pointee.ctx) != 0
    }

    /// Throws `.cancelled` when the host wants the current call to stop. Call it
    /// between pages of a long read.
    public func checkCancellation() throws(ConnectorError) {
        if isCancelled { throw .cancelled }
    }

    /// Hands one record to the host during a read.
    public func emit<Record: Encodable>(_ record: Record) throws(ConnectorError) {
        try send(record, through: table.pointee.emit, what: "record")
    }

    /// Hands the host a deletion at the source (ABI 1.5): the record `key` is gone since
    /// `at`. The host passes it on to targets that take deletions, and notes it for others.
    public func emitDeletion(key: String, at: Date) throws(ConnectorError) {
        struct Deletion: Encodable {
            var source_key: String
            var updated_at: Date
            var deleted = true
        }
        try emit(Deletion(source_key: key, updated_at: at))
    }

    /// Records the cursor a later read continues from, after the records it covers
    /// were emitted.
    public func checkpoint<Cursor: Encodable>(_ cursor: Cursor) throws(ConnectorError) {
        try send(cursor, through: table.pointee.checkpoint, what: "cursor")
    }

    func report(_ result: WriteResult) throws(ConnectorError) {
        try send(result, through: table.pointee.write_result, what: "write result")
    }

    func reportError(_ message: String) {
        guard let report = table.pointee.report_error else { return }
        withKoppelStr(message) { report(table.pointee.ctx, $0) }
    }

    private func send<Value: Encodable>(
        _ value: Value,
        through callback: (@convention(c) (UnsafeMutableRawPointer?, koppel_str) -> koppel_status)?,
        what: String
    ) throws(ConnectorError) {
        guard let callback else { throw .internal("the host does not accept a \(what) here") }
        let data: Data
        do {
            data = try JSONEncoder.koppel.encode(value)
        } catch {
            throw .invalidData("could not encode the \(what): \(error)")
        }
        let status = data.withKoppelStr { callback(table.pointee.ctx, $0) }
        guard status == KOPPEL_OK else {
            throw ConnectorError(status: status, message: "the host refused the \(what)")
        }
    }
}

/// An HTTP request executed by the host's transport.
public struct HTTPRequest: Codable, Sendable {
    public var method: String
    /// The path below the connection's base URL, or an absolute URL on the same host.
    public var path: String
    public var query: [String: String]
    public var headers: [String: String]
    public var body: String?
    /// Whether sending it twice is harmless. Defaults to true for GET, HEAD, PUT, DELETE.
    public var idempotent: Bool?

    public init(
        method: String = "GET", path: String, query: [String: String] = [:],
        headers: [String: String] = [:], body: String? = nil, idempotent: Bool? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.idempotent = idempotent
    }
}

/// The answer to an `HTTPRequest`.
public struct HTTPResponse: Codable, Sendable {
    public var status: Int
    /// Header names in lowercase.
    public var headers: [String: String]
    public var body: String

    public init(status: Int, headers: [String: String] = [:], body: String = "") {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// RFC 3339 times as they cross the ABI: whole seconds as `2026-03-01T10:15:00Z`, a
/// time with a fraction to the millisecond (`...:00.250Z`), so that a cursor taken from
/// a millisecond timestamp (Exact's `Modified`) does not fall back to its whole second.
enum RFC3339Time {
    static let whole = Date.ISO8601FormatStyle()
    static let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func string(_ date: Date) -> String {
        date.timeIntervalSince1970.rounded(.down) == date.timeIntervalSince1970 ? whole.format(date) : fractional.format(date)
    }

    static func date(_ text: String) -> Date? {
        (try? whole.parse(text)) ?? (try? fractional.parse(text))
    }
}

extension JSONEncoder {
    /// The encoder for everything that crosses the ABI: RFC 3339 dates, sorted keys.
    static var koppel: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339Time.string(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

extension JSONDecoder {
    /// The decoder for everything that crosses the ABI: RFC 3339 dates.
    static var koppel: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339Time.date(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not an RFC 3339 time")
            }
            return date
        }
        return decoder
    }
}

func withKoppelStr<R>(_ string: String, _ body: (koppel_str) -> R) -> R {
    var string = string
    return string.withUTF8 { buffer in
        body(koppel_str(ptr: UnsafeRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self), len: buffer.count))
    }
}

extension Data {
    func withKoppelStr<R>(_ body: (koppel_str) -> R) -> R {
        withUnsafeBytes { raw in
            body(koppel_str(ptr: raw.baseAddress?.assumingMemoryBound(to: CChar.self), len: raw.count))
        }
    }
}

extension koppel_str {
    /// Copies the bytes out.
    var data: Data {
        guard let ptr, len > 0 else { return Data() }
        return Data(bytes: ptr, count: len)
    }
}

/// Calls `body` with a C receiver that copies what the host hands it into `store`.
private func withReceiver(
    _ store: @escaping (Data) -> Void,
    _ body: (koppel_receive_fn, UnsafeMutableRawPointer) -> koppel_status
) -> koppel_status {
    final class Box { let store: (Data) -> Void; init(_ store: @escaping (Data) -> Void) { self.store = store } }
    let box = Box(store)
    return withExtendedLifetime(box) {
        body({ user, data in
            guard let user else { return }
            Unmanaged<Box>.fromOpaque(user).takeUnretainedValue().store(data.data)
        }, Unmanaged.passUnretained(box).toOpaque())
    }
}

extension HTTPResponse {
    /// Returns the response when its status is 2xx; otherwise throws the error class the
    /// status stands for, with `what` and the server's message.
    @discardableResult
    public func requireSuccess(_ what: String) throws(ConnectorError) -> HTTPResponse {
        guard !(200..<300).contains(status) else { return self }
        let message = "\(what): HTTP \(status)" + (body.isEmpty ? "" : ": \(body.prefix(300))")
        switch status {
        case 401, 403: throw .auth(message)
        case 404, 410: throw .notFound(message)
        case 409: throw .conflict(message)
        case 429: throw .rateLimited(message)
        case 400..<500: throw .invalidData(message)
        default: throw .transient(message)
        }
    }

    /// The body decoded as JSON into `T`; a body that does not decode is `.internal`.
    public func decode<T: Decodable>(_ type: T.Type, _ what: String) throws(ConnectorError) -> T {
        do {
            return try JSONDecoder.koppel.decode(T.self, from: Data(body.utf8))
        } catch {
            throw .internal("\(what): the answer could not be read: \(describe(error))")
        }
    }
}
