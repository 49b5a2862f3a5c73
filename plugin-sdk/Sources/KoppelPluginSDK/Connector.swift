import Foundation

/// A connector: the meaning of one remote API. One instance serves one connection
/// (one shop, one Exact division) and is called from one thread at a time.
///
/// Implement `read` for a source, `write` for a target, or both. The SDK checks the
/// stream name against the manifest before calling either, decodes the config, and turns
/// a thrown `ConnectorError` into the ABI status and message.
public protocol Connector: AnyObject {
    /// The connection settings, decoded from the config JSON.
    associatedtype Config: Decodable

    /// The manifest the host sees.
    static var manifest: Manifest { get }

    /// Opens a connection. Throw `.invalidData` naming the key for a bad setting.
    init(config: Config, host: PluginHost) throws(ConnectorError)

    /// Checks that the remote system answers and the credentials work.
    func check(host: PluginHost) throws(ConnectorError)

    /// Reads one stream from the request's cursor, emitting records through the host.
    func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError)

    /// Writes one record and says what happened.
    func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult

    /// Turns a verified webhook delivery into the records of `delivery.stream` it
    /// concerns, emitted through the host as `read` emits them. Fetch the record when the
    /// delivery names only its key or may be older than the record; emit nothing for a
    /// delivery the stream does not cover.
    func webhook(_ delivery: WebhookDelivery, host: PluginHost) throws(ConnectorError)

    /// Every webhook subscription the remote system holds for this connection, Koppel's
    /// and others'. Implemented by a connector whose read streams declare
    /// `webhookTopics`, with the three below.
    func subscriptions(host: PluginHost) throws(ConnectorError) -> [Subscription]

    /// Subscribes `callbackURL` to `topic` (one of a stream's `webhookTopics`); the
    /// secret, when the subscription carries one, is the connection's webhook secret.
    func subscribe(topic: String, callbackURL: String, host: PluginHost) throws(ConnectorError) -> Subscription

    /// Makes a subscription the sender stopped deliver again.
    func enableSubscription(id: String, host: PluginHost) throws(ConnectorError) -> Subscription

    /// Removes a subscription.
    func unsubscribe(id: String, host: PluginHost) throws(ConnectorError)
}

extension Connector {
    public func check(host: PluginHost) throws(ConnectorError) {}

    public func read(_ request: ReadRequest, host: PluginHost) throws(ConnectorError) {
        throw .invalidData("\(Self.manifest.name) has no readable stream \(request.stream)")
    }

    public func write(_ request: WriteRequest, host: PluginHost) throws(ConnectorError) -> WriteResult {
        throw .invalidData("\(Self.manifest.name) has no writable stream \(request.stream)")
    }

    public func webhook(_ delivery: WebhookDelivery, host: PluginHost) throws(ConnectorError) {
        throw .invalidData("\(Self.manifest.name) does not take webhooks")
    }

    public func subscriptions(host: PluginHost) throws(ConnectorError) -> [Subscription] {
        throw .invalidData("\(Self.manifest.name) cannot list webhook subscriptions")
    }

    public func subscribe(topic: String, callbackURL: String, host: PluginHost) throws(ConnectorError) -> Subscription {
        throw .invalidData("\(Self.manifest.name) cannot make webhook subscriptions; make them in the remote system by hand")
    }

    public func enableSubscription(id: String, host: PluginHost) throws(ConnectorError) -> Subscription {
        throw .invalidData("\(Self.manifest.name) cannot enable a webhook subscription; enable it in the remote system")
    }

    public func unsubscribe(id: String, host: PluginHost) throws(ConnectorError) {
        throw .invalidData("\(Self.manifest.name) cannot remove a webhook subscription; remove it in the remote system")
    }
}

/// One webhook subscription in the remote system.
public struct Subscription: Codable, Sendable, Equatable {
    /// The remote system's id for it, as `enableSubscription` and `unsubscribe` take it.
    public var id: String
    public var topic: String
    public var callbackURL: String
    /// "active", "disabled" (the sender stopped it after failed deliveries) or "paused".
    public var status: String

    public init(id: String, topic: String, callbackURL: String, status: String = "active") {
        self.id = id
        self.topic = topic
        self.callbackURL = callbackURL
        self.status = status
    }

    enum CodingKeys: String, CodingKey {
        case id, topic, status
        case callbackURL = "callback_url"
    }
}

/// One webhook delivery, its signature already verified by the host.
public struct WebhookDelivery: Sendable {
    /// The stream the flow reads.
    public var stream: String
    /// The HTTP headers, names in lowercase.
    public var headers: [String: String]
    /// The body exactly as it arrived.
    public var body: Data
    /// The flow's `read_options` (a JSON object), nil when the flow sets none.
    public var optionsJSON: Data?

    public init(stream: String, headers: [String: String], body: Data, optionsJSON: Data? = nil) {
        self.stream = stream
        self.headers = headers
        self.body = body
        self.optionsJSON = optionsJSON
    }

    /// The flow's `read_options` decoded as `Options`, or nil when the flow sets none.
    public func options<Options: Decodable>(as type: Options.Type) throws(ConnectorError) -> Options? {
        try ReadRequest(stream: stream, optionsJSON: optionsJSON).options(as: type)
    }

    /// The body decoded as `Payload`; a body that does not decode is `.invalidData`.
    public func payload<Payload: Decodable>(as type: Payload.Type) throws(ConnectorError) -> Payload {
        do {
            return try JSONDecoder.koppel.decode(Payload.self, from: body)
        } catch {
            throw .invalidData("the webhook delivery is not what was expected: \(describe(error))")
        }
    }
}

/// A connector without settings.
public struct NoConfig: Decodable, Sendable {}

/// What the host asks a source to read.
public struct ReadRequest: Sendable {
    /// The stream, one of the manifest's readable streams.
    public var stream: String
    /// The raw cursor from the last checkpoint, nil on a first read.
    public var cursorJSON: Data?
    /// Start of a backfill window: read nothing updated before it.
    public var since: Date?
    /// End of a backfill window.
    public var until: Date?
    /// The flow's `read_options` (a JSON object), nil when the flow sets none.
    public var optionsJSON: Data?

    /// The cursor decoded as `Cursor`, or nil on a first read. A cursor that does not
    /// decode is `.invalidData`.
    public func cursor<Cursor: Decodable>(as type: Cursor.Type) throws(ConnectorError) -> Cursor? {
        guard let cursorJSON else { return nil }
        do {
            return try JSONDecoder.koppel.decode(Cursor.self, from: cursorJSON)
        } catch {
            throw .invalidData("the cursor for stream \(stream) is not valid: \(describe(error))")
        }
    }

    /// The flow's `read_options` decoded as `Options`, or nil when the flow sets none.
    /// Options that do not decode are `.invalidData` naming the flow's `read_options`.
    public func options<Options: Decodable>(as type: Options.Type) throws(ConnectorError) -> Options? {
        guard let optionsJSON else { return nil }
        do {
            return try JSONDecoder.koppel.decode(Options.self, from: optionsJSON)
        } catch {
            throw .invalidData("read_options for stream \(stream): \(describe(error))")
        }
    }
}

/// What the host asks a target to write.
public struct WriteRequest: Sendable {
    /// The stream, one of the manifest's writable streams.
    public var stream: String
    /// The record as JSON.
    public var recordJSON: Data
    /// A stable key of the source record; store it remotely so a reconcile can find it.
    public var idempotencyKey: String
    /// The remote key of an earlier write of this record (an update), or nil.
    public var targetKey: String?
    /// An earlier attempt may have reached the remote system: look it up by
    /// `idempotencyKey` first and answer `.found` if it is there.
    public var reconcile: Bool

    /// The record is a deletion at the source (ABI 1.5), offered to a stream that
    /// declares `deletes` with `targetKey` set: remove or retire that record and answer
    /// `.deleted`.
    public var isDeletion: Bool {
        struct Marker: Decodable { var deleted: Bool? }
        return (try? JSONDecoder().decode(Marker.self, from: recordJSON))?.deleted == true
    }

    /// The record decoded as `Record`; a record that does not decode is `.invalidData`
    /// naming the field.
    public func record<Record: Decodable>(as type: Record.Type) throws(ConnectorError) -> Record {
        do {
            return try JSONDecoder.koppel.decode(Record.self, from: recordJSON)
        } catch {
            throw .invalidData("the \(stream) record \(idempotencyKey) is not valid: \(describe(error))")
        }
    }

    /// What the flow's mapping adds beside the record: `options` (handed over as
    /// `_options`) and `update` (`_update`: the fields an update may change).
    private struct MappingAdditions<Options: Decodable>: Decodable {
        var options: Options?
        var update: [String]?
        enum CodingKeys: String, CodingKey {
            case options = "_options"
            case update = "_update"
        }
    }

    /// The flow's `mapping: options:` decoded as `Options`, nil when the flow sets none.
    public func mappingOptions<Options: Decodable>(as type: Options.Type) throws(ConnectorError) -> Options? {
        do {
            return try JSONDecoder.koppel.decode(MappingAdditions<Options>.self, from: recordJSON).options
        } catch {
            throw .invalidData("the flow's mapping options for \(stream): \(describe(error))")
        }
    }

    /// The fields the flow's `mapping: update:` lets an update change; nil when the flow
    /// lists none (every field).
    public func updateFields() throws(ConnectorError) -> [String]? {
        do {
            return try JSONDecoder.koppel.decode(MappingAdditions<JSONValue>.self, from: recordJSON).update
        } catch {
            throw .invalidData("the flow's mapping update for \(stream): \(describe(error))")
        }
    }
}

/// The outcome of a write.
public struct WriteResult: Codable, Sendable, Equatable {
    /// What the write did.
    public enum Action: String, Codable, Sendable {
        case created, updated, unchanged, found
        /// The target cannot hold this record by design; `reason` says why (ABI 1.3).
        case skipped
        /// A deletion taken: the record written before is removed or retired (ABI 1.5).
        case deleted
    }
    /// The remote record's key (Exact's GUID, WooCommerce's id); empty when skipped.
    public var targetKey: String
    public var action: Action
    /// Why a record was skipped.
    public var reason: String?

    public init(targetKey: String, action: Action, reason: String? = nil) {
        self.targetKey = targetKey
        self.action = action
        self.reason = reason
    }

    public static func created(_ key: String) -> WriteResult { WriteResult(targetKey: key, action: .created) }
    public static func updated(_ key: String) -> WriteResult { WriteResult(targetKey: key, action: .updated) }
    public static func unchanged(_ key: String) -> WriteResult { WriteResult(targetKey: key, action: .unchanged) }
    public static func found(_ key: String) -> WriteResult { WriteResult(targetKey: key, action: .found) }
    /// The record is not one the target can hold (say why, so a person can act on it).
    public static func skipped(_ reason: String) -> WriteResult { WriteResult(targetKey: "", action: .skipped, reason: reason) }
    /// The record written before under `key` is removed or retired (a deletion).
    public static func deleted(_ key: String) -> WriteResult { WriteResult(targetKey: key, action: .deleted) }

    enum CodingKeys: String, CodingKey {
        case targetKey = "target_key"
        case action, reason
    }
}

/// A decoding error as one sentence naming the JSON path.
func describe(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ codingPath: [CodingKey]) -> String {
        let joined = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return "$" + joined
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "\(path(context.codingPath + [key])) is missing"
    case .typeMismatch(let type, let context):
        return "\(path(context.codingPath)) should be \(describeType(type)): \(context.debugDescription)"
    case .valueNotFound(let type, let context):
        return "\(path(context.codingPath)) should be \(describeType(type)), found null"
    case .dataCorrupted(let context):
        return context.codingPath.isEmpty
            ? "not valid JSON"
            : "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func describeType(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type, is Int64.Type: "an integer"
    case is Bool.Type: "true or false"
    default: "\(type)"
    }
}
