import Foundation
import Logging

/// Writes to the activity log: redacts every line first, and never lets a failure to
/// record stop the work being recorded (it is logged instead).
public struct ActivityRecorder: Sendable {
    let store: any StateStore
    let redactor: SecretRedactor
    let logger: Logger

    public init(store: any StateStore, redactor: SecretRedactor, logger: Logger) {
        self.store = store
        self.redactor = redactor
        self.logger = logger
    }

    /// Records one entry, redacted.
    public func record(_ entry: ActivityEntry) {
        var entry = entry
        entry.message = redactor.redact(entry.message)
        entry.detail = entry.detail.map(redactor.redact)
        do {
            try store.appendActivity(entry)
        } catch {
            logger.error("could not write the activity log: \(error)")
        }
    }
}
