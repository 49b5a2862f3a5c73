import Foundation

/// What the host offers a plugin through the ABI's service table, per connection. The
/// bridge translates the C calls into these; the engine supplies the implementations
/// (the libcurl transport, the state store).
public struct PluginServices: Sendable {
    /// Executes one HTTP request given as the ABI's request JSON and returns the
    /// response JSON, or a classified failure.
    public var http: @Sendable (Data) -> Result<Data, PluginCallError>
    /// Plugin-scoped key/value state of the connection.
    public var state: any PluginStateStore
    /// The clock.
    public var now: @Sendable () -> Date
    /// Removes secrets from a message taken from the plugin (its errors and log lines).
    public var redact: @Sendable (String) -> String

    public init(
        http: @escaping @Sendable (Data) -> Result<Data, PluginCallError> = { _ in
            .failure(PluginCallError(.internal, "this connection has no HTTP transport"))
        },
        state: any PluginStateStore = MemoryPluginState(),
        now: @escaping @Sendable () -> Date = { Date() },
        redact: @escaping @Sendable (String) -> String = { $0 }
    ) {
        self.http = http
        self.state = state
        self.now = now
        self.redact = redact
    }
}

/// Key/value state a plugin keeps per connection (identity maps, remote webhook ids).
public protocol PluginStateStore: Sendable {
    func value(for key: String) throws -> String?
    func setValue(_ value: String, for key: String) throws
    func removeValue(for key: String) throws
}

/// State that lives as long as the process: for inspecting and validating plugins,
/// where nothing should persist.
public final class MemoryPluginState: PluginStateStore, @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String: String] = [:]

    public init() {}

    public func value(for key: String) -> String? { lock.withLock { values[key] } }
    public func setValue(_ value: String, for key: String) { lock.withLock { values[key] = value } }
    public func removeValue(for key: String) { lock.withLock { _ = values.removeValue(forKey: key) } }
}

/// A flag the host raises to ask the plugin call in flight to stop.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false

    public init() {}

    /// Asks the call in flight to stop.
    public func cancel() { lock.withLock { raised = true } }
    public var isCancelled: Bool { lock.withLock { raised } }
}
