import Foundation
import KoppelPluginABI
import Logging

/// The host side of one call into a plugin: it owns the `koppel_host` table handed to
/// the plugin, receives what the plugin calls back with, and copies it out. This file is
/// the ABI bridge; the C callbacks below are its only global state (constant tables).
final class PluginCall {
    let services: PluginServices
    let logger: Logger
    let cancellation: CancellationFlag
    /// Called for each emitted record during a read; returns the status for the plugin.
    var onRecord: ((Data) -> koppel_status)?
    /// Called for each checkpoint during a read.
    var onCheckpoint: ((Data) -> koppel_status)?
    /// Called for each record the plugin reports it cannot read (ABI 1.4).
    var onUnreadable: ((Data) -> koppel_status)?
    /// When set, the plugin's log lines at info level and above are kept here too (what
    /// `check` found out, for the person who asked).
    var notes: [String]?
    private(set) var errorMessage: String?
    private(set) var writeResult: Data?

    init(services: PluginServices, logger: Logger, cancellation: CancellationFlag) {
        self.services = services
        self.logger = logger
        self.cancellation = cancellation
    }

    /// Runs `body` with a host table whose context is this call.
    func run(_ body: (UnsafePointer<koppel_host>) -> koppel_status) -> PluginStatus {
        errorMessage = nil
        writeResult = nil
        let status = withExtendedLifetime(self) { () -> koppel_status in
            var table = koppel_host(
                struct_size: UInt32(MemoryLayout<koppel_host>.size),
                abi_major: UInt16(KOPPEL_ABI_MAJOR), abi_minor: UInt16(KOPPEL_ABI_MINOR),
                ctx: Unmanaged.passUnretained(self).toOpaque(),
                log: hostLog, report_error: hostReportError, http_request: hostHTTP,
                state_get: hostStateGet, state_set: hostStateSet, state_delete: hostStateDelete,
                now_ms: hostNow, is_cancelled: hostIsCancelled, emit: hostEmit,
                checkpoint: hostCheckpoint, write_result: hostWriteResult, emit_unreadable: hostEmitUnreadable)
            return withUnsafePointer(to: &table) { body($0) }
        }
        return PluginStatus(code: status)
    }

    /// Turns a status into a thrown error carrying the plugin's (redacted) message.
    func check(_ status: PluginStatus, _ what: String) throws(PluginCallError) {
        guard status != .ok else { return }
        let message = errorMessage ?? "\(what) returned \(status) without a message"
        throw PluginCallError(status, message)
    }

    fileprivate static func from(_ ctx: UnsafeMutableRawPointer?) -> PluginCall? {
        ctx.map { Unmanaged<PluginCall>.fromOpaque($0).takeUnretainedValue() }
    }

    fileprivate func setError(_ message: String) {
        errorMessage = services.redact(message)
    }

    fileprivate func setWriteResult(_ data: Data) -> koppel_status {
        guard WriteOutcome(json: data) != nil else {
            setError("the write result is not {\"target_key\": \"...\", \"action\": created|updated|unchanged|found} or {\"action\": \"skipped\", \"reason\": \"...\"}")
            return KOPPEL_INVALID_DATA
        }
        writeResult = data
        return KOPPEL_OK
    }
}

extension koppel_str {
    /// Copies the bytes out of a borrowed ABI string.
    var data: Data {
        guard let ptr, len > 0 else { return Data() }
        return Data(bytes: ptr, count: len)
    }

    var string: String { String(decoding: data, as: UTF8.self) }
}

extension Data {
    /// Lends the bytes as an ABI string for the duration of `body`.
    func withKoppelStr<R>(_ body: (koppel_str) -> R) -> R {
        withUnsafeBytes { raw in
            body(koppel_str(ptr: raw.baseAddress?.assumingMemoryBound(to: CChar.self), len: raw.count))
        }
    }
}

extension String {
    /// Lends the UTF-8 bytes as an ABI string for the duration of `body`.
    func withKoppelStr<R>(_ body: (koppel_str) -> R) -> R {
        Data(utf8).withKoppelStr(body)
    }
}

// MARK: - The C callbacks of the host table

private let hostLog: @convention(c) (UnsafeMutableRawPointer?, Int32, koppel_str) -> Void = { ctx, level, message in
    guard let call = PluginCall.from(ctx) else { return }
    let text = call.services.redact(message.string)
    let levels: [Logger.Level] = [.trace, .debug, .info, .warning, .error]
    let chosen = levels[Int(min(max(level, 0), 4))]
    call.logger.log(level: chosen, "\(text)")
    if chosen >= .info { call.notes?.append(text) }
}

private let hostReportError: @convention(c) (UnsafeMutableRawPointer?, koppel_str) -> Void = { ctx, message in
    PluginCall.from(ctx)?.setError(message.string)
}

private let hostHTTP: @convention(c) (
    UnsafeMutableRawPointer?, koppel_str, koppel_receive_fn?, UnsafeMutableRawPointer?
) -> koppel_status = { ctx, request, receive, user in
    guard let call = PluginCall.from(ctx) else { return KOPPEL_INTERNAL }
    if call.cancellation.isCancelled { return KOPPEL_CANCELLED }
    let body = request.data
    guard (try? JSONSerialization.jsonObject(with: body)) is [String: Any] else {
        call.setError("the HTTP request is not a JSON object")
        return KOPPEL_INVALID_DATA
    }
    switch call.services.http(body) {
    case .success(let response):
        response.withKoppelStr { receive?(user, $0) }
        return KOPPEL_OK
    case .failure(let error):
        let message = call.services.redact(error.message)
        let json = (try? JSONSerialization.data(withJSONObject: ["error": message])) ?? Data()
        json.withKoppelStr { receive?(user, $0) }
        return error.status.code
    }
}

private let hostStateGet: @convention(c) (
    UnsafeMutableRawPointer?, koppel_str, koppel_receive_fn?, UnsafeMutableRawPointer?
) -> koppel_status = { ctx, key, receive, user in
    guard let call = PluginCall.from(ctx) else { return KOPPEL_INTERNAL }
    do {
        guard let value = try call.services.state.value(for: key.string) else { return KOPPEL_NOT_FOUND }
        value.withKoppelStr { receive?(user, $0) }
        return KOPPEL_OK
    } catch {
        call.logger.error("state read failed: \(error)")
        return KOPPEL_TRANSIENT
    }
}

private let hostStateSet: @convention(c) (UnsafeMutableRawPointer?, koppel_str, koppel_str) -> koppel_status = {
    ctx, key, value in
    guard let call = PluginCall.from(ctx) else { return KOPPEL_INTERNAL }
    do {
        try call.services.state.setValue(value.string, for: key.string)
        return KOPPEL_OK
    } catch {
        call.logger.error("state write failed: \(error)")
        return KOPPEL_TRANSIENT
    }
}

private let hostStateDelete: @convention(c) (UnsafeMutableRawPointer?, koppel_str) -> koppel_status = { ctx, key in
    guard let call = PluginCall.from(ctx) else { return KOPPEL_INTERNAL }
    do {
        try call.services.state.removeValue(for: key.string)
        return KOPPEL_OK
    } catch {
        call.logger.error("state delete failed: \(error)")
        return KOPPEL_TRANSIENT
    }
}

private let hostNow: @convention(c) (UnsafeMutableRawPointer?) -> Int64 = { ctx in
    let now = PluginCall.from(ctx)?.services.now() ?? Date()
    return Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
}

private let hostIsCancelled: @convention(c) (UnsafeMutableRawPointer?) -> Int32 = { ctx in
    PluginCall.from(ctx)?.cancellation.isCancelled == true ? 1 : 0
}

private let hostEmit: @convention(c) (UnsafeMutableRawPointer?, koppel_str) -> koppel_status = { ctx, record in
    guard let call = PluginCall.from(ctx) else { return KOPPEL_INTERNAL }
    guard let onRecord = call.onRecord else {
        call.setError("emit was called outside a read")
        return KOPPEL_INTERNAL
    }
    return onRecord(record.data)
}

private let hostEmitUnreadable: @convention(c) (UnsafeMutableRawPointer?, koppel_str) -> koppel_status = { ctx, report in
    guard let call = PluginCall.from(ctx) else { return KOPPEL_INTERNAL }
    guard let onUnreadable = call.onUnreadable else {
        call.setError("emit_unreadable was called outside a read")
        return KOPPEL_INTERNAL
    }
    return onUnreadable(report.data)
}

private let hostCheckpoint: @convention(c) (UnsafeMutableRawPointer?, koppel_str) -> koppel_status = { ctx, cursor in
    guard let call = PluginCall.from(ctx) else { return KOPPEL_INTERNAL }
    guard let onCheckpoint = call.onCheckpoint else {
        call.setError("checkpoint was called outside a read")
        return KOPPEL_INTERNAL
    }
    return onCheckpoint(cursor.data)
}

private let hostWriteResult: @convention(c) (UnsafeMutableRawPointer?, koppel_str) -> koppel_status = { ctx, result in
    PluginCall.from(ctx)?.setWriteResult(result.data) ?? KOPPEL_INTERNAL
}
