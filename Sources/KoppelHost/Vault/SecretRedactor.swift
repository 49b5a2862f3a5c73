import Foundation
import Logging

/// The secrets this process has seen (vault values, tokens) and the replacement of each
/// by `[redacted]` in any text bound for a log, an error or the activity log.
public final class SecretRedactor: @unchecked Sendable {
    private let lock = NSLock()
    private var secrets: Set<String> = []

    public init() {}

    /// Secrets shorter than this are not redacted: they would mangle ordinary text, and
    /// are not secrets worth the name.
    public static let minimumLength = 6

    /// Remembers a secret to redact from now on.
    public func register(_ secret: String) {
        guard secret.count >= Self.minimumLength else { return }
        lock.withLock { _ = secrets.insert(secret) }
    }

    /// `text` with every known secret replaced.
    public func redact(_ text: String) -> String {
        let known = lock.withLock { secrets }
        guard !known.isEmpty else { return text }
        // Longest first, so a secret containing another is replaced whole.
        return known.sorted { $0.count > $1.count }.reduce(text) { $0.replacingOccurrences(of: $1, with: "[redacted]") }
    }
}

/// A log handler that redacts known secrets from messages and metadata before passing
/// them on.
public struct RedactingLogHandler: LogHandler {
    private var inner: any LogHandler
    private let redactor: SecretRedactor

    public init(wrapping inner: any LogHandler, redactor: SecretRedactor) {
        self.inner = inner
        self.redactor = redactor
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = "\(redactor.redact("\(event.message)"))"
        event.metadata = event.metadata?.mapValues { .string(redactor.redact("\($0)")) }
        inner.log(event: event)
    }
}
