import Foundation

/// Whether a webhook flow is fed by deliveries or, while none come, by polling. Kept in
/// the state store, so every process sharing it and the dashboard agree.
public struct WebhookMode: Sendable {
    let store: any StateStore

    public init(store: any StateStore) {
        self.store = store
    }

    /// Since when the flow polls because its webhook went silent; nil in webhook mode.
    public func pollingSince(flow: String) -> Date? {
        (try? store.flowValue(flow: flow, key: "polling_since")).flatMap { $0 }.flatMap(RFC3339.date)
    }

    /// Switches the flow to polling; false when it already polled.
    @discardableResult
    func switchToPolling(flow: String, at date: Date = Date()) throws -> Bool {
        guard pollingSince(flow: flow) == nil else { return false }
        try store.setFlowValue(RFC3339.string(date), flow: flow, key: "polling_since")
        return true
    }

    /// Switches the flow back to webhook mode; false when it was in it already.
    @discardableResult
    func switchToWebhook(flow: String) throws -> Bool {
        guard pollingSince(flow: flow) != nil else { return false }
        try store.setFlowValue(nil, flow: flow, key: "polling_since")
        return true
    }

    /// How long a webhook flow waits between polls: its safety interval while deliveries
    /// come, at most a minute while it polls in their place.
    func pollInterval(flow: String, safety: TimeInterval) -> TimeInterval {
        pollingSince(flow: flow) == nil ? safety : min(safety, 60)
    }
}
