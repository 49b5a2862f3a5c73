import Foundation
import KoppelPluginABI

/// An open plugin instance for one connection. Calls are synchronous and must not
/// overlap; the engine gives each connection its own thread of work. Closed on deinit.
public final class PluginConnection {
    public let plugin: LoadedPlugin
    private var instance: UnsafeMutableRawPointer?
    private let call: PluginCall

    init(plugin: LoadedPlugin, instance: UnsafeMutableRawPointer?, call: PluginCall) {
        self.plugin = plugin
        self.instance = instance
        self.call = call
    }

    deinit { close() }

    private var functions: koppel_plugin { plugin.descriptor.pointee }

    /// Asks the remote system whether it answers and the credentials work; returns what
    /// the plugin logged at info level or above while it checked (what it found out).
    @discardableResult
    public func check() throws(PluginCallError) -> [String] {
        guard let check = functions.check else { return [] }
        let instance = instance
        call.notes = []
        defer { call.notes = nil }
        try call.check(call.run { check(instance, $0) }, "check")
        return call.notes ?? []
    }

    /// What a read produced besides its records.
    public struct ReadSummary: Sendable, Equatable {
        /// How many records were emitted.
        public var records: Int
        /// The last cursor the plugin checkpointed, if any.
        public var lastCursor: Data?
        /// How many records the plugin reported it could not read.
        public var unreadable = 0
    }

    /// Reads a stream (`options`: the flow's read options as a JSON object). Each record
    /// (a JSON object with `source_key` and `updated_at`) is handed to `onRecord` as it
    /// arrives; each checkpoint to `onCheckpoint`; each record the plugin could not read
    /// (ABI 1.4) to `onUnreadable`. A record the host refuses, or an error thrown by a
    /// handler, stops the read.
    @discardableResult
    public func read(
        stream: String, cursor: Data? = nil, since: Date? = nil, until: Date? = nil, options: Data? = nil,
        onRecord: (Data) throws -> Void, onCheckpoint: (Data) throws -> Void = { _ in },
        onUnreadable: (UnreadableRecord) throws -> Void = { _ in }
    ) throws(PluginCallError) -> ReadSummary {
        guard let read = functions.read else {
            throw PluginCallError(.invalidData, "\(plugin.name) cannot read stream '\(stream)': it has no readable streams")
        }
        let instance = instance
        return try receiving(stream, "read \(stream)", onRecord: onRecord, onCheckpoint: onCheckpoint, onUnreadable: onUnreadable) { host in
            stream.withKoppelStr { streamStr in
                (cursor ?? Data()).withKoppelStr { cursorStr in
                    RFC3339.string(since).withKoppelStr { sinceStr in
                        RFC3339.string(until).withKoppelStr { untilStr in
                            (options ?? Data()).withKoppelStr { optionsStr in
                                var args = koppel_read_args(
                                    struct_size: UInt32(MemoryLayout<koppel_read_args>.size),
                                    stream: streamStr, cursor_json: cursorStr, since: sinceStr, until: untilStr,
                                    options_json: optionsStr)
                                return read(instance, host, &args)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Hands a verified webhook delivery to the plugin; each record of `stream` it
    /// concerns goes to `onRecord`, as a read's would.
    @discardableResult
    public func webhook(
        stream: String, headers: [String: String], body: Data, options: Data? = nil, onRecord: (Data) throws -> Void,
        onUnreadable: (UnreadableRecord) throws -> Void = { _ in }
    ) throws(PluginCallError) -> ReadSummary {
        guard let webhook = plugin.webhookFunction else {
            throw PluginCallError(.invalidData, "\(plugin.name) does not take webhooks")
        }
        let headersJSON = (try? JSONSerialization.data(withJSONObject: headers, options: .sortedKeys)) ?? Data("{}".utf8)
        let instance = instance
        return try receiving(stream, "webhook for \(stream)", onRecord: onRecord, onCheckpoint: { _ in }, onUnreadable: onUnreadable) { host in
            stream.withKoppelStr { streamStr in
                headersJSON.withKoppelStr { headersStr in
                    body.withKoppelStr { bodyStr in
                        (options ?? Data()).withKoppelStr { optionsStr in
                            var args = koppel_webhook_args(
                                struct_size: UInt32(MemoryLayout<koppel_webhook_args>.size),
                                stream: streamStr, headers_json: headersStr, body: bodyStr, options_json: optionsStr)
                            return webhook(instance, host, &args)
                        }
                    }
                }
            }
        }
    }

    /// What to do with the remote system's webhook subscriptions (ABI 1.5).
    public enum SubscriptionAction: Sendable, Equatable {
        case list
        case create(topic: String, callbackURL: String)
        case enable(id: String)
        case delete(id: String)

        var name: String {
            switch self {
            case .list: "list"
            case .create: "create"
            case .enable: "enable"
            case .delete: "delete"
            }
        }
    }

    /// Lists, creates, re-enables or deletes webhook subscriptions in the remote system;
    /// returns the subscriptions the plugin reported (all of them for `.list`).
    @discardableResult
    public func subscriptions(_ action: SubscriptionAction) throws(PluginCallError) -> [WebhookSubscription] {
        guard let function = plugin.subscriptionsFunction else {
            throw PluginCallError(.invalidData, "\(plugin.name) cannot keep webhook subscriptions; make them in the remote system by hand")
        }
        var (topic, callbackURL, id) = ("", "", "")
        switch action {
        case .list: break
        case .create(let t, let url): (topic, callbackURL) = (t, url)
        case .enable(let i), .delete(let i): id = i
        }
        var reported: [WebhookSubscription] = []
        var malformed = false
        call.onRecord = { data in
            guard let subscription = WebhookSubscription(json: data) else {
                malformed = true
                return KOPPEL_INVALID_DATA
            }
            reported.append(subscription)
            return KOPPEL_OK
        }
        defer { call.onRecord = nil }
        let instance = instance
        let status = call.run { host in
            action.name.withKoppelStr { actionStr in
                topic.withKoppelStr { topicStr in
                    callbackURL.withKoppelStr { urlStr in
                        id.withKoppelStr { idStr in
                            var args = koppel_subscription_args(
                                struct_size: UInt32(MemoryLayout<koppel_subscription_args>.size),
                                action: actionStr, topic: topicStr, callback_url: urlStr, id: idStr)
                            return function(instance, host, &args)
                        }
                    }
                }
            }
        }
        if malformed {
            throw PluginCallError(.internal, "\(plugin.name) reported a webhook subscription without {\"id\", \"topic\", \"callback_url\", \"status\"}")
        }
        try call.check(status, "\(action.name) webhook subscriptions")
        return reported
    }

    /// Runs a call that emits records (and checkpoints), checking each before handing it on.
    private func receiving(
        _ stream: String, _ what: String, onRecord: (Data) throws -> Void, onCheckpoint: (Data) throws -> Void,
        onUnreadable: (UnreadableRecord) throws -> Void, _ body: (UnsafePointer<koppel_host>) -> koppel_status
    ) throws(PluginCallError) -> ReadSummary {
        var summary = ReadSummary(records: 0, lastCursor: nil)
        var refusal: PluginCallError?
        let outcome: Result<Void, PluginCallError> = withoutActuallyEscaping(onRecord) { onRecord in
          withoutActuallyEscaping(onUnreadable) { onUnreadable in
            withoutActuallyEscaping(onCheckpoint) { onCheckpoint in
                /// Hands on what the plugin handed over; a handler's error stops the call.
                func handOn(_ body: () throws -> Void) -> koppel_status {
                    do {
                        try body()
                        return KOPPEL_OK
                    } catch {
                        refusal = PluginCallError(.cancelled, "the \(what) was stopped: \(error)")
                        return KOPPEL_CANCELLED
                    }
                }
                func refuse(_ message: String) -> koppel_status {
                    refusal = PluginCallError(.internal, message)
                    return KOPPEL_INVALID_DATA
                }
                call.onUnreadable = { data in
                    guard let report = UnreadableRecord(json: data) else {
                        return refuse("\(self.plugin.name) reported an unreadable \(stream) record without {\"source_key\", \"reason\"}")
                    }
                    return handOn {
                        try onUnreadable(report)
                        summary.unreadable += 1
                    }
                }
                call.onRecord = { data in
                    if let problem = RecordEnvelope.problem(in: data) {
                        return refuse("\(self.plugin.name) emitted an invalid \(stream) record: \(problem)")
                    }
                    return handOn {
                        try onRecord(data)
                        summary.records += 1
                    }
                }
                call.onCheckpoint = { data in
                    guard (try? JSONSerialization.jsonObject(with: data, options: .fragmentsAllowed)) != nil else {
                        return refuse("\(self.plugin.name) checkpointed a cursor that is not JSON")
                    }
                    return handOn {
                        try onCheckpoint(data)
                        summary.lastCursor = data
                    }
                }
                defer {
                    call.onRecord = nil
                    call.onCheckpoint = nil
                    call.onUnreadable = nil
                }
                let status = call.run(body)
                if let refusal, status != .ok { return .failure(refusal) }
                return Result { () throws(PluginCallError) in try call.check(status, what) }
            }
          }
        }
        try outcome.get()
        return summary
    }

    /// Writes one record and returns the target's key and what it did.
    public func write(
        stream: String, record: Data, idempotencyKey: String, targetKey: String? = nil, reconcile: Bool = false
    ) throws(PluginCallError) -> WriteOutcome {
        guard let write = functions.write else {
            throw PluginCallError(.invalidData, "\(plugin.name) cannot write stream '\(stream)': it has no writable streams")
        }
        let instance = instance
        let status = call.run { host in
            stream.withKoppelStr { streamStr in
                record.withKoppelStr { recordStr in
                    idempotencyKey.withKoppelStr { keyStr in
                        (targetKey ?? "").withKoppelStr { targetStr in
                            var args = koppel_write_args(
                                struct_size: UInt32(MemoryLayout<koppel_write_args>.size),
                                stream: streamStr, record_json: recordStr, idempotency_key: keyStr,
                                target_key: targetStr, flags: reconcile ? KOPPEL_WRITE_RECONCILE : 0)
                            return write(instance, host, &args)
                        }
                    }
                }
            }
        }
        try call.check(status, "write \(stream)")
        guard let result = call.writeResult, let outcome = WriteOutcome(json: result) else {
            throw PluginCallError(.internal, "\(plugin.name) returned ok from write without reporting a write result")
        }
        return outcome
    }

    /// Closes the instance; further calls fail.
    public func close() {
        guard let instance else { return }
        functions.close?(instance)
        self.instance = nil
    }
}

/// One webhook subscription in a remote system (ABI 1.5), as its plugin reports it.
public struct WebhookSubscription: Sendable, Equatable {
    public var id: String
    public var topic: String
    public var callbackURL: String
    /// "active", "disabled" (the sender stopped it after failed deliveries) or "paused".
    public var status: String

    public init(id: String, topic: String, callbackURL: String, status: String) {
        self.id = id
        self.topic = topic
        self.callbackURL = callbackURL
        self.status = status
    }

    init?(json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let id = object["id"] as? String, !id.isEmpty, let topic = object["topic"] as? String,
            let url = object["callback_url"] as? String, let status = object["status"] as? String
        else { return nil }
        self.init(id: id, topic: topic, callbackURL: url, status: status)
    }
}

/// A source record the plugin could not read (ABI 1.4): its key and why.
public struct UnreadableRecord: Sendable, Equatable {
    public var sourceKey: String
    public var reason: String

    public init(sourceKey: String, reason: String) {
        self.sourceKey = sourceKey
        self.reason = reason
    }

    init?(json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let key = object["source_key"] as? String, !key.isEmpty,
            let reason = object["reason"] as? String, !reason.isEmpty
        else { return nil }
        self.init(sourceKey: key, reason: reason)
    }
}

/// The outcome of a write as the target plugin reported it.
public struct WriteOutcome: Sendable, Equatable {
    public enum Action: String, Sendable {
        case created, updated, unchanged, found
        /// A deletion taken by a target that declares `deletes` (ABI 1.5).
        case deleted
        /// The target declined the record by design (ABI 1.3); `reason` says why.
        case skipped
    }
    public var targetKey: String
    public var action: Action
    public var reason: String?

    public init(targetKey: String, action: Action, reason: String? = nil) {
        self.targetKey = targetKey
        self.action = action
        self.reason = reason
    }

    init?(json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any],
            let action = (object["action"] as? String).flatMap(Action.init(rawValue:))
        else { return nil }
        let key = object["target_key"] as? String
        let reason = object["reason"] as? String
        if action == .skipped ? (reason ?? "").isEmpty : (key ?? "").isEmpty { return nil }
        self.targetKey = key ?? ""
        self.action = action
        self.reason = reason
    }
}

/// The fields every emitted record must carry.
enum RecordEnvelope {
    /// Nil when `data` is a JSON object with a non-empty `source_key` and an RFC 3339
    /// `updated_at`; otherwise what is wrong.
    static func problem(in data: Data) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return "not a JSON object"
        }
        guard let key = object["source_key"] as? String, !key.isEmpty else { return "$.source_key is missing" }
        guard let updated = object["updated_at"] as? String else { return "$.updated_at is missing (record \(key))" }
        guard RFC3339.date(updated) != nil else {
            return "$.updated_at \"\(updated)\" is not an RFC 3339 time (record \(key))"
        }
        return nil
    }
}

/// RFC 3339 times as they cross the ABI.
enum RFC3339 {
    private static let style = Date.ISO8601FormatStyle()
    private static let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func string(_ date: Date?) -> String {
        guard let date else { return "" }
        return style.format(date)
    }

    /// Parses `2026-01-01T00:00:00Z`, with an offset or fractional seconds.
    static func date(_ text: String) -> Date? {
        (try? style.parse(text)) ?? (try? fractional.parse(text))
    }
}
