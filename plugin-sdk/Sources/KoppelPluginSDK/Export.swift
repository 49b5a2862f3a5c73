import CKoppelPlugin
import Foundation

/// Exports a `Connector` through the C ABI. A connector library needs one line:
///
/// ```swift
/// @_cdecl("koppel_plugin_entry") public func entry(_ r: UnsafePointer<koppel_entry_request>?) -> UnsafePointer<koppel_plugin>? { KoppelExport.entry(MyConnector.self, r) }
/// ```
///
/// Nothing Swift crosses the boundary: the descriptor is a C struct whose strings and
/// function pointers live as long as the library, and every call goes through C thunks
/// that translate JSON, statuses and errors.
public enum KoppelExport {
    /// Returns the static descriptor for `connector`, or nil with a reason when the host
    /// speaks another ABI major.
    public static func entry<C: Connector>(
        _ connector: C.Type, _ request: UnsafePointer<koppel_entry_request>?
    ) -> UnsafePointer<koppel_plugin>? {
        if let request, request.pointee.host_abi_major != KOPPEL_ABI_MAJOR {
            let reason = "\(C.manifest.name) was built for Koppel plugin ABI \(KOPPEL_ABI_MAJOR).\(KOPPEL_ABI_MINOR), "
                + "the host speaks \(request.pointee.host_abi_major).\(request.pointee.host_abi_minor)"
            if let buffer = request.pointee.reason, request.pointee.reason_capacity > 0 {
                let bytes = Array(reason.utf8.prefix(request.pointee.reason_capacity - 1))
                for (i, byte) in bytes.enumerated() { buffer[i] = CChar(bitPattern: byte) }
                buffer[bytes.count] = 0
            }
            return nil
        }
        return ExportedConnector.descriptor(for: C.self)
    }
}

/// The one piece of global state of the ABI bridge: the descriptor of the connector this
/// library exports, made once and kept until the library is unloaded.
private final class ExportedConnector: @unchecked Sendable {
    let manifest: Manifest
    let open: (Data, PluginHost) throws(ConnectorError) -> any Connector
    let descriptor: UnsafeMutablePointer<koppel_plugin>

    private static let lock = NSLock()
    nonisolated(unsafe) private static var exported: ExportedConnector?

    static var current: ExportedConnector? {
        lock.withLock { exported }
    }

    static func descriptor<C: Connector>(for type: C.Type) -> UnsafePointer<koppel_plugin>? {
        lock.withLock {
            if exported == nil { exported = ExportedConnector(type) }
            return exported.map { UnsafePointer($0.descriptor) }
        }
    }

    private init<C: Connector>(_ type: C.Type) {
        manifest = C.manifest
        open = { (json: Data, host: PluginHost) throws(ConnectorError) -> any Connector in
            let config: C.Config
            do {
                config = try JSONDecoder.koppel.decode(C.Config.self, from: json)
            } catch {
                throw .invalidData("config: \(describe(error))")
            }
            return try C(config: config, host: host)
        }
        let manifestJSON = (try? JSONEncoder.koppel.encode(C.manifest)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        descriptor = .allocate(capacity: 1)
        descriptor.initialize(to: koppel_plugin(
            struct_size: UInt32(MemoryLayout<koppel_plugin>.size),
            abi_major: UInt16(KOPPEL_ABI_MAJOR),
            abi_minor: UInt16(KOPPEL_ABI_MINOR),
            name: strdup(C.manifest.name),
            version: strdup(C.manifest.version),
            manifest_json: strdup(manifestJSON),
            open: openThunk,
            check: checkThunk,
            read: C.manifest.streams.read.isEmpty ? nil : readThunk,
            write: C.manifest.streams.write.isEmpty ? nil : writeThunk,
            close: closeThunk,
            webhook: C.manifest.webhooks == nil ? nil : webhookThunk,
            webhook_subscriptions: C.manifest.streams.read.contains { !($0.webhookTopics ?? []).isEmpty } ? subscriptionsThunk : nil
        ))
    }
}

/// One open connection: the connector and the manifest it was opened under.
private final class Instance {
    let connector: any Connector
    let manifest: Manifest
    init(connector: any Connector, manifest: Manifest) {
        self.connector = connector
        self.manifest = manifest
    }

    static func from(_ pointer: UnsafeMutableRawPointer?) -> Instance? {
        pointer.map { Unmanaged<Instance>.fromOpaque($0).takeUnretainedValue() }
    }
}

/// Runs `body`, turning a thrown error into its status after reporting its message.
private func guarded(_ table: UnsafePointer<koppel_host>?, _ body: (PluginHost) throws(ConnectorError) -> Void) -> koppel_status {
    guard let table else { return KOPPEL_INTERNAL }
    let host = PluginHost(table)
    do {
        try body(host)
        return KOPPEL_OK
    } catch {
        host.reportError(error.message)
        return error.status
    }
}

private func validJSON(_ data: Data) -> Bool {
    (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil
}

private func parseTime(_ str: koppel_str, _ name: String) throws(ConnectorError) -> Date? {
    guard str.len > 0 else { return nil }
    let text = String(decoding: str.data, as: UTF8.self)
    guard let date = RFC3339Time.date(text) else {
        throw .invalidData("\(name) \(text) is not an RFC 3339 time such as 2026-01-01T00:00:00Z")
    }
    return date
}

private let openThunk: @convention(c) (
    UnsafePointer<koppel_host>?, koppel_str, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> koppel_status = { table, config, instanceOut in
    guarded(table) { host throws(ConnectorError) in
        guard let exported = ExportedConnector.current else { throw .internal("the plugin was not initialised") }
        guard let instanceOut else { throw .internal("open was called without a place for the instance") }
        let json = config.data
        guard !json.isEmpty else { throw .invalidData("config is empty; expected a JSON object") }
        guard validJSON(json) else { throw .invalidData("config is not valid JSON") }
        let connector = try exported.open(json, host)
        instanceOut.pointee = Unmanaged.passRetained(Instance(connector: connector, manifest: exported.manifest)).toOpaque()
    }
}

private let checkThunk: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<koppel_host>?) -> koppel_status = {
    pointer, table in
    guarded(table) { host throws(ConnectorError) in
        guard let instance = Instance.from(pointer) else { throw .internal("check was called without an instance") }
        try instance.connector.check(host: host)
    }
}

private let readThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<koppel_host>?, UnsafePointer<koppel_read_args>?
) -> koppel_status = { pointer, table, args in
    guarded(table) { host throws(ConnectorError) in
        guard let instance = Instance.from(pointer) else { throw .internal("read was called without an instance") }
        guard let args = args?.pointee else { throw .invalidData("read was called without arguments") }
        let stream = String(decoding: args.stream.data, as: UTF8.self)
        guard instance.manifest.streams.read.contains(where: { $0.name == stream }) else {
            let known = instance.manifest.streams.read.map(\.name).joined(separator: ", ")
            throw .invalidData("\(instance.manifest.name) cannot read stream '\(stream)' (readable: \(known))")
        }
        let cursor = args.cursor_json.data
        if !cursor.isEmpty && !validJSON(cursor) {
            throw .invalidData("the cursor for stream \(stream) is not valid JSON")
        }
        // `options_json` arrived with ABI 1.1; an older host's struct ends before it.
        let optionsEnd = MemoryLayout<koppel_read_args>.offset(of: \koppel_read_args.options_json)! + MemoryLayout<koppel_str>.size
        let options = Int(args.struct_size) >= optionsEnd ? args.options_json.data : Data()
        if !options.isEmpty && !validJSON(options) {
            throw .invalidData("the read_options for stream \(stream) are not valid JSON")
        }
        let request = ReadRequest(
            stream: stream, cursorJSON: cursor.isEmpty ? nil : cursor,
            since: try parseTime(args.since, "since"), until: try parseTime(args.until, "until"),
            optionsJSON: options.isEmpty ? nil : options)
        try instance.connector.read(request, host: host)
    }
}

private let writeThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<koppel_host>?, UnsafePointer<koppel_write_args>?
) -> koppel_status = { pointer, table, args in
    guarded(table) { host throws(ConnectorError) in
        guard let instance = Instance.from(pointer) else { throw .internal("write was called without an instance") }
        guard let args = args?.pointee else { throw .invalidData("write was called without arguments") }
        let stream = String(decoding: args.stream.data, as: UTF8.self)
        guard instance.manifest.streams.write.contains(where: { $0.name == stream }) else {
            let known = instance.manifest.streams.write.map(\.name).joined(separator: ", ")
            throw .invalidData("\(instance.manifest.name) cannot write stream '\(stream)' (writable: \(known))")
        }
        let record = args.record_json.data
        guard (try? JSONSerialization.jsonObject(with: record)) is [String: Any] else {
            throw .invalidData("the \(stream) record is not a JSON object")
        }
        let key = String(decoding: args.idempotency_key.data, as: UTF8.self)
        guard !key.isEmpty else { throw .invalidData("the \(stream) record has no idempotency key") }
        let targetKey = String(decoding: args.target_key.data, as: UTF8.self)
        let request = WriteRequest(
            stream: stream, recordJSON: record, idempotencyKey: key,
            targetKey: targetKey.isEmpty ? nil : targetKey,
            reconcile: args.flags & KOPPEL_WRITE_RECONCILE != 0)
        let result = try instance.connector.write(request, host: host)
        try host.report(result)
    }
}

private let webhookThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<koppel_host>?, UnsafePointer<koppel_webhook_args>?
) -> koppel_status = { pointer, table, args in
    guarded(table) { host throws(ConnectorError) in
        guard let instance = Instance.from(pointer) else { throw .internal("webhook was called without an instance") }
        guard let args = args?.pointee else { throw .invalidData("webhook was called without arguments") }
        let stream = String(decoding: args.stream.data, as: UTF8.self)
        guard instance.manifest.streams.read.contains(where: { $0.name == stream }) else {
            throw .invalidData("\(instance.manifest.name) cannot read stream '\(stream)'")
        }
        let headers = (try? JSONSerialization.jsonObject(with: args.headers_json.data)) as? [String: String] ?? [:]
        let delivery = WebhookDelivery(
            stream: stream, headers: Dictionary(headers.map { ($0.key.lowercased(), $0.value) }) { a, _ in a },
            body: args.body.data, optionsJSON: args.options_json.len > 0 ? args.options_json.data : nil)
        try instance.connector.webhook(delivery, host: host)
    }
}

private let subscriptionsThunk: @convention(c) (
    UnsafeMutableRawPointer?, UnsafePointer<koppel_host>?, UnsafePointer<koppel_subscription_args>?
) -> koppel_status = { pointer, table, args in
    guarded(table) { host throws(ConnectorError) in
        guard let instance = Instance.from(pointer) else { throw .internal("webhook_subscriptions was called without an instance") }
        guard let args = args?.pointee else { throw .invalidData("webhook_subscriptions was called without arguments") }
        let text = { (str: koppel_str) in String(decoding: str.data, as: UTF8.self) }
        let connector = instance.connector
        switch text(args.action) {
        case "list":
            for subscription in try connector.subscriptions(host: host) { try host.emit(subscription) }
        case "create":
            let topic = text(args.topic)
            guard instance.manifest.streams.read.contains(where: { ($0.webhookTopics ?? []).contains(topic) }) else {
                throw .invalidData("\(instance.manifest.name) declares no webhook topic \(topic)")
            }
            try host.emit(try connector.subscribe(topic: topic, callbackURL: text(args.callback_url), host: host))
        case "enable":
            try host.emit(try connector.enableSubscription(id: text(args.id), host: host))
        case "delete":
            try connector.unsubscribe(id: text(args.id), host: host)
        case let other:
            throw .invalidData("webhook_subscriptions has no action \(other) (list, create, enable, delete)")
        }
    }
}

private let closeThunk: @convention(c) (UnsafeMutableRawPointer?) -> Void = { pointer in
    if let pointer { Unmanaged<Instance>.fromOpaque(pointer).release() }
}
