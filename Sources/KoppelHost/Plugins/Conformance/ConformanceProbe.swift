import Foundation
import KoppelPluginABI
import Logging

/// Runs one conformance case in this process. `koppel plugins validate` starts a child
/// process per case that calls this, so that a crash is contained and reported.
public struct ConformanceProbe {
    public let path: String
    /// The developer's working config for the plugin, as JSON, if given.
    public let config: Data?
    /// A deployment file and one of its connections, for the live cases.
    public let live: LiveConnection?

    /// A connection of a deployment: the live cases open the plugin with its settings,
    /// vault, auth and transport.
    public struct LiveConnection: Sendable {
        public var deployment: String
        public var connection: String

        public init(deployment: String, connection: String) {
            self.deployment = deployment
            self.connection = connection
        }
    }

    public init(path: String, config: Data?, live: LiveConnection? = nil) {
        self.path = path
        self.config = config
        self.live = live
    }

    /// A value planted in inputs; a plugin that repeats it in an error or log line leaks
    /// what it was given.
    static let canary = "koppel-canary-7f3a9c"

    public func run(_ testCase: ConformanceCase) -> ConformanceResult {
        let name = testCase.description
        let plugin: LoadedPlugin
        do {
            plugin = try PluginLoader(directories: []).load(path: path)
        } catch {
            return ConformanceResult(name: name, verdict: .fail, detail: error.description)
        }
        let logs = LogCollector()
        var secrets = [Self.canary]
        if let config, let object = try? JSONSerialization.jsonObject(with: config) as? [String: Any] {
            secrets += plugin.manifest.secretSettings.compactMap { object[$0] as? String }.filter { !$0.isEmpty }
        }
        let context = Context(plugin: plugin, logs: logs, secrets: secrets, hasConfig: config != nil, live: live)
        let (verdict, detail) = context.evaluate(testCase, config: config)
        if verdict == .pass, let leak = context.leak() {
            return ConformanceResult(name: name, verdict: .fail, detail: leak)
        }
        return ConformanceResult(name: name, verdict: verdict, detail: detail)
    }

    private struct Context {
        let plugin: LoadedPlugin
        let logs: LogCollector
        let secrets: [String]
        let hasConfig: Bool
        let live: LiveConnection?
        private let messages = MessageLog()

        init(plugin: LoadedPlugin, logs: LogCollector, secrets: [String], hasConfig: Bool, live: LiveConnection?) {
            self.plugin = plugin
            self.logs = logs
            self.secrets = secrets
            self.hasConfig = hasConfig
            self.live = live
        }

        /// The plugin opened on the deployment's connection, or why it could not be.
        func liveInstance() -> (connection: PluginConnection?, problem: String) {
            guard let live else { return (nil, "no connection given (--connection)") }
            do {
                let logs = self.logs
                var logger = Logger(label: "conformance") { _ in logs }
                logger.logLevel = .trace
                let runtime = try Runtime.open(configFile: live.deployment, logger: logger)
                let (_, configured) = try runtime.connection(live.connection)
                guard configured.name == plugin.name else {
                    return (nil, "connection \(live.connection) uses plugin \(configured.name), not \(plugin.name)")
                }
                return (try runtime.open(connection: live.connection, using: plugin), "")
            } catch {
                messages.add("\(error)")
                return (nil, "\(error)")
            }
        }

        func open(_ json: Data) -> Result<PluginConnection, PluginCallError> {
            let logs = self.logs
            var logger = Logger(label: "conformance") { _ in logs }
            logger.logLevel = .trace
            do throws(PluginCallError) {
                return .success(try plugin.open(configJSON: json, logger: logger))
            } catch {
                messages.add(error.message)
                return .failure(error)
            }
        }

        /// An instance to run stream cases against: from the given config, else `{}`.
        func instance(_ config: Data?) -> PluginConnection? {
            try? open(config ?? Data("{}".utf8)).get()
        }

        func leak() -> String? {
            for text in messages.all + logs.lines {
                if let secret = secrets.first(where: { text.contains($0) }) {
                    let what = secret == ConformanceProbe.canary ? "text it was given" : "a secret setting"
                    return "leaked \(what) into an error or log line: \"\(text)\""
                }
            }
            return nil
        }

        /// Checks a call's outcome against the statuses the contract allows.
        func expect(_ outcome: Result<Void, PluginCallError>, allowed: Set<String>, _ what: String) -> (ConformanceResult.Verdict, String) {
            switch outcome {
            case .success:
                return allowed.contains("ok")
                    ? (.pass, "\(what): ok")
                    : (.fail, "\(what): returned ok, expected \(allowed.sorted().joined(separator: " or "))")
            case .failure(let error):
                messages.add(error.message)
                if case .unknown(let code) = error.status {
                    return (.fail, "\(what): returned status \(code), which the ABI does not define")
                }
                if error.message.hasSuffix("without a message") {
                    return (.fail, "\(what): returned \(error.status) without reporting an error message")
                }
                return allowed.contains(error.status.description)
                    ? (.pass, "\(what): \(error.status) (\(error.message))")
                    : (.fail, "\(what): returned \(error.status) (\(error.message)), expected \(allowed.sorted().joined(separator: " or "))")
            }
        }

        static let anyStatus: Set<String> = [
            "ok", "transient", "rate-limited", "auth", "invalid-data", "not-found", "conflict", "internal", "cancelled",
        ]

        func evaluate(_ testCase: ConformanceCase, config: Data?) -> (ConformanceResult.Verdict, String) {
            switch testCase {
            case .load:
                let m = plugin.manifest
                return (.pass, "\(m.name) \(m.version), ABI \(plugin.abiMajor).\(plugin.abiMinor), \(m.readStreams.count) readable and \(m.writeStreams.count) writable streams")
            case .closeNull:
                plugin.descriptor.pointee.close?(nil)
                return (.pass, "close(NULL) returned")
            case .openMalformedConfig:
                let field = plugin.manifest.secretSettings.first ?? "password"
                let text = Data("{\"\(field)\": \"\(ConformanceProbe.canary)\", ".utf8)
                return expect(open(text).map { _ in () }, allowed: ["invalid-data"], "open with malformed JSON")
            case .openEmptyConfig:
                return expect(open(Data()).map { _ in () }, allowed: ["invalid-data"], "open with an empty config")
            case .openEmptyObject:
                return expect(open(Data("{}".utf8)).map { _ in () }, allowed: ["ok", "invalid-data"], "open with {}")
            case .openGivenConfig:
                return expect(open(config ?? Data("{}".utf8)).map { _ in () }, allowed: ["ok"], "open with the given config")
            case .check:
                guard let connection = instance(config) else { return notRun() }
                return expect(Result { () throws(PluginCallError) in try connection.check() }, allowed: Self.anyStatus, "check")
            case .readUnknownStream:
                guard let connection = instance(config) else { return notRun() }
                return expect(read(connection, stream: "no-such-stream"), allowed: ["invalid-data"], "read of an undeclared stream")
            case .readMalformedCursor(let stream):
                guard let connection = instance(config) else { return notRun() }
                return expect(read(connection, stream: stream, cursor: Data("{\"at\":".utf8)), allowed: ["invalid-data"], "read \(stream) with a malformed cursor")
            case .read(let stream):
                guard let connection = instance(config) else { return notRun() }
                var count = 0
                let outcome = read(connection, stream: stream) { count += 1 }
                let (verdict, detail) = expect(outcome, allowed: Self.anyStatus, "first read of \(stream)")
                return (verdict, "\(detail); \(count) valid records emitted")
            case .writeUnknownStream:
                guard let connection = instance(config) else { return notRun() }
                return expect(write(connection, stream: "no-such-stream", record: Data("{}".utf8)), allowed: ["invalid-data"], "write to an undeclared stream")
            case .writeMalformedRecord(let stream):
                guard let connection = instance(config) else { return notRun() }
                return expect(write(connection, stream: stream, record: Data("{\"source_key\":".utf8)), allowed: ["invalid-data"], "write \(stream) with a malformed record")
            case .writeEmptyRecord(let stream, let anyRecord):
                guard let connection = instance(config) else { return notRun() }
                return expect(write(connection, stream: stream, record: Data("{}".utf8)),
                              allowed: anyRecord ? ["ok", "invalid-data"] : ["invalid-data"], "write \(stream) with {}")
            case .liveCheck, .liveRead, .liveWrite:
                return evaluateLive(testCase)
            }
        }

        /// The live cases: the real service behind a deployment's connection.
        func evaluateLive(_ testCase: ConformanceCase) -> (ConformanceResult.Verdict, String) {
            let opened = liveInstance()
            guard let connection = opened.connection else { return (.fail, "could not open the connection: \(opened.problem)") }
            defer { connection.close() }
            switch testCase {
            case .liveCheck:
                return expect(Result { () throws(PluginCallError) in _ = try connection.check() }, allowed: ["ok"], "check through \(live!.connection)")
            case .liveRead(let stream):
                struct Enough: Error {}
                var count = 0, unreadable = 0
                let outcome = Result { () throws(PluginCallError) in
                    try connection.read(
                        stream: stream,
                        onRecord: { _ in
                            count += 1
                            if count >= ConformanceCase.liveReadLimit { throw Enough() }
                        },
                        onUnreadable: { _ in unreadable += 1 })
                    return ()
                }
                if count >= ConformanceCase.liveReadLimit { return (.pass, "first read of \(stream): the first \(count) records are well formed; stopped there") }
                let (verdict, detail) = expect(outcome, allowed: ["ok"], "first read of \(stream)")
                return (verdict, "\(detail); \(count) records, well formed\(unreadable > 0 ? ", \(unreadable) the plugin could not read (parked in a run)" : "")")
            case .liveWrite(let stream, let kind):
                guard let record = ConformanceSample.record(kind: kind) else { return (.notRun, "no sample \(kind) record") }
                let first: WriteOutcome, retry: WriteOutcome
                do throws(PluginCallError) {
                    first = try connection.write(stream: stream, record: record, idempotencyKey: ConformanceSample.key)
                } catch {
                    messages.add(error.message)
                    return (.fail, "write of a sample \(kind) to \(stream): \(error.status) (\(error.message))")
                }
                if first.action == .skipped { return (.pass, "write of a sample \(kind) to \(stream): skipped (\(first.reason ?? ""))") }
                do throws(PluginCallError) {
                    retry = try connection.write(stream: stream, record: record, idempotencyKey: ConformanceSample.key, reconcile: true)
                } catch {
                    messages.add(error.message)
                    return (.fail, "\(first.action.rawValue) \(first.targetKey), but the retry failed: \(error.status) (\(error.message))")
                }
                guard retry.targetKey == first.targetKey, retry.action != .created else {
                    return (.fail, "\(first.action.rawValue) \(first.targetKey), and the retry (reconcile) \(retry.action.rawValue) \(retry.targetKey): a retry after a lost answer would make a second record")
                }
                return (.pass, "sample \(kind) \(ConformanceSample.key) \(first.action.rawValue) as \(first.targetKey) in \(stream); a retry found it (\(retry.action.rawValue)), nothing made twice")
            default:
                return (.notRun, "not a live case")
            }
        }

        func notRun() -> (ConformanceResult.Verdict, String) {
            hasConfig
                ? (.notRun, "no instance could be opened with the given config (see open-given-config)")
                : (.notRun, "no instance could be opened with {}; pass --config with working settings")
        }

        func read(_ connection: PluginConnection, stream: String, cursor: Data? = nil, counted: @escaping () -> Void = {}) -> Result<Void, PluginCallError> {
            Result { () throws(PluginCallError) in
                try connection.read(stream: stream, cursor: cursor, onRecord: { _ in counted() })
                return ()
            }
        }

        func write(_ connection: PluginConnection, stream: String, record: Data) -> Result<Void, PluginCallError> {
            Result { () throws(PluginCallError) in
                _ = try connection.write(stream: stream, record: record, idempotencyKey: "conformance-1")
                return ()
            }
        }
    }
}

/// Error messages seen during a case.
private final class MessageLog: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []
    func add(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}

/// A log handler that keeps every line a plugin logs, to look for leaks.
final class LogCollector: LogHandler, @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.withLock { collected.append("\(event.message)") }
    }

    var lines: [String] { lock.withLock { collected } }
}
