import Crypto
import Foundation

/// Keeps the webhook subscriptions a deployment needs in the remote systems, through
/// each plugin's `webhook_subscriptions` (ABI 1.5): every flow with `schedule: webhook`
/// needs its source connection's intake URL subscribed to each topic its stream declares.
///
/// A subscription is Koppel's own when its callback URL is this connection's intake
/// under `baseURL`; no other is ever changed or removed. `koppel webhooks` and
/// `koppel run` share this one policy.
public struct WebhookRegistry: Sendable {
    public let runtime: Runtime
    /// Where senders reach this Koppel (`server.public_url`, or its listen address).
    public let baseURL: String

    public init(runtime: Runtime, baseURL: String) {
        self.runtime = runtime
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
    }

    /// One topic of one connection: what the deployment wants and what the remote holds.
    public struct Entry: Sendable, Equatable {
        public var connection: String
        public var topic: String
        /// A flow of the deployment needs it.
        public var wanted: Bool
        /// The remote subscription, nil when it is missing.
        public var subscription: WebhookSubscription?
        /// The subscription delivers to this connection's intake here.
        public var ours: Bool

        /// "missing", or the subscription's status; "other" for one Koppel did not make.
        public var state: String {
            guard let subscription else { return "missing" }
            return ours ? subscription.status : "other"
        }
    }

    /// What `register` or `remove` changed.
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public enum Action: String, Sendable { case created, enabled, removed }
        public var connection: String
        public var topic: String
        public var action: Action
        public var id: String

        public var description: String { "\(connection): \(action.rawValue) the subscription to \(topic) (\(id))" }
    }

    /// Why subscriptions could not be kept, in words an operator can act on.
    public enum RegistryError: Error, CustomStringConvertible {
        case notSubscribable(connection: String, plugin: String)
        case httpsOnly(connection: String, plugin: String, url: String)
        case secretMissing(connection: String, setting: String)
        case unreachable(connection: String, url: String)

        public var description: String {
            switch self {
            case .notSubscribable(let connection, let plugin):
                "\(connection) (\(plugin)) cannot make its webhook subscriptions; create them in the remote system with the URL `koppel webhooks list` shows"
            case .httpsOnly(let connection, let plugin, let url):
                "\(connection) (\(plugin)) delivers webhooks only to https addresses, and \(url) is not one: set server.public_url to the https address this Koppel is reached at"
            case .unreachable(let connection, let url):
                "\(connection)'s system cannot reach \(url), an address of this machine only: set server.public_url to the address it reaches this Koppel at (or give --url)"
            case .secretMissing(let connection, let setting):
                "\(connection) needs the sender's webhook secret before subscribing: `koppel secrets set \(connection) \(setting)`"
            }
        }
    }

    /// The connections feeding webhook flows, each with the topics those flows need, in
    /// deployment order; only `connection` when given.
    public func wantedTopics(connection: String? = nil) throws -> [(connection: String, topics: [String])] {
        var result: [(connection: String, topics: [String])] = []
        for flow in runtime.deployment.flows {
            guard case .webhook = flow.schedule, connection == nil || flow.source.connection == connection else { continue }
            let (_, plugin) = try runtime.connection(flow.source.connection)
            let topics = plugin.manifest.readStreams.first { $0.name == flow.source.stream }?.webhookTopics ?? []
            if let index = result.firstIndex(where: { $0.connection == flow.source.connection }) {
                result[index].topics += topics.filter { !result[index].topics.contains($0) }
            } else {
                result.append((flow.source.connection, topics))
            }
        }
        if let connection, result.isEmpty { _ = try runtime.connection(connection) }
        return result
    }

    /// The intake URL of `connection`, with its secret last for a `url-token` sender.
    public func callbackURL(_ connection: String) throws -> String {
        let (_, plugin) = try runtime.connection(connection)
        let intake = "\(baseURL)/webhooks/\(connection)"
        guard let rule = plugin.manifest.webhooks, rule.scheme == "url-token" else { return intake }
        guard let secret = try runtime.vault().get(connection: connection, name: rule.secretSetting) else {
            throw RegistryError.secretMissing(connection: connection, setting: rule.secretSetting)
        }
        return "\(intake)/\(secret)"
    }

    /// What each wanted connection (or `connection`) holds remotely beside what the
    /// deployment wants: wanted topics first, then the remote's other subscriptions.
    public func list(connection: String? = nil) throws -> [Entry] {
        var entries: [Entry] = []
        for (name, topics) in try wantedTopics(connection: connection) {
            let remote = try subscriptions(name)
            var rest = remote
            for topic in topics {
                let index = rest.firstIndex { $0.topic == topic && isOurs($0, name) }
                entries.append(Entry(connection: name, topic: topic, wanted: true, subscription: index.map { rest[$0] }, ours: index != nil))
                if let index { rest.remove(at: index) }
            }
            entries += rest.map { Entry(connection: name, topic: $0.topic, wanted: false, subscription: $0, ours: isOurs($0, name)) }
        }
        return entries
    }

    /// What `register` or `remove` did: each change as it was made, and per connection
    /// what stopped it (the other connections were still done).
    public struct Outcome: Sendable {
        public var changes: [Change] = []
        public var failures: [(connection: String, reason: String)] = []

        public init(changes: [Change] = [], failures: [(connection: String, reason: String)] = []) {
            self.changes = changes
            self.failures = failures
        }
    }

    /// Creates the subscriptions that are missing and re-enables Koppel's own that the
    /// sender disabled (a paused one was paused by a person and is left).
    public func register(connection: String? = nil) throws -> Outcome {
        try eachConnection(connection) { name, topics, outcome in
            guard !topics.isEmpty else { return }
            let (_, plugin) = try runtime.connection(name)
            guard let rule = plugin.manifest.webhooks, plugin.manifest.subscribesWebhooks else {
                throw RegistryError.notSubscribable(connection: name, plugin: plugin.name)
            }
            // Whether the sender can reach this address at all, before any secret is made.
            let here = URLComponents(string: baseURL)
            if Self.isLoopback(here?.host), let remote = try runtime.baseURL(name).flatMap({ URLComponents(string: $0)?.host }), !Self.isLoopback(remote) {
                throw RegistryError.unreachable(connection: name, url: baseURL)
            }
            if rule.httpsOnly, here?.scheme != "https", !Self.isLoopback(here?.host) {
                throw RegistryError.httpsOnly(connection: name, plugin: plugin.name, url: baseURL)
            }
            let madeSecret = try ensureSecret(name, rule)
            if try runtime.vault().get(connection: name, name: rule.secretSetting) == nil {
                throw RegistryError.secretMissing(connection: name, setting: rule.secretSetting)
            }
            let url = try callbackURL(name)
            let plugins = try open(name)
            var ours = try plugins.subscriptions(.list).filter { isOurs($0, name) }
            if madeSecret {
                // Subscriptions made before with another secret would sign in vain.
                for old in ours {
                    try plugins.subscriptions(.delete(id: old.id))
                    outcome.changes.append(Change(connection: name, topic: old.topic, action: .removed, id: old.id))
                }
                ours = []
            }
            for topic in topics {
                if let existing = ours.first(where: { $0.topic == topic }) {
                    guard existing.status == "disabled" else { continue }
                    try plugins.subscriptions(.enable(id: existing.id))
                    outcome.changes.append(Change(connection: name, topic: topic, action: .enabled, id: existing.id))
                } else {
                    let made = try plugins.subscriptions(.create(topic: topic, callbackURL: url))
                    outcome.changes.append(Change(connection: name, topic: topic, action: .created, id: made.first?.id ?? "?"))
                }
            }
        }
    }

    /// Removes Koppel's own subscriptions of each wanted connection (or `connection`).
    public func remove(connection: String? = nil) throws -> Outcome {
        try eachConnection(connection) { name, _, outcome in
            let plugins = try open(name)
            for subscription in try plugins.subscriptions(.list) where isOurs(subscription, name) {
                try plugins.subscriptions(.delete(id: subscription.id))
                outcome.changes.append(Change(connection: name, topic: subscription.topic, action: .removed, id: subscription.id))
            }
        }
    }

    /// Runs `body` for each wanted connection, going on past one that fails.
    private func eachConnection(
        _ connection: String?, _ body: (String, [String], inout Outcome) throws -> Void
    ) throws -> Outcome {
        var outcome = Outcome()
        for (name, topics) in try wantedTopics(connection: connection) {
            do {
                try body(name, topics, &outcome)
            } catch {
                outcome.failures.append((name, runtime.redactor.redact("\(error)")))
            }
        }
        return outcome
    }

    private func subscriptions(_ connection: String) throws -> [WebhookSubscription] {
        try open(connection).subscriptions(.list)
    }

    private func open(_ connection: String) throws -> PluginConnection {
        let (_, plugin) = try runtime.connection(connection)
        guard plugin.manifest.subscribesWebhooks else { throw RegistryError.notSubscribable(connection: connection, plugin: plugin.name) }
        return try runtime.open(connection: connection)
    }

    /// The subscription delivers to this connection's intake here (with or without a
    /// URL token after it).
    func isOurs(_ subscription: WebhookSubscription, _ connection: String) -> Bool {
        let intake = "\(baseURL)/webhooks/\(connection)"
        return subscription.callbackURL == intake || subscription.callbackURL.hasPrefix(intake + "/")
    }

    /// Makes and stores the webhook secret when the plugin's subscriptions carry one and
    /// the vault has none; true when it made one.
    private func ensureSecret(_ connection: String, _ rule: PluginManifest.WebhookRule) throws -> Bool {
        guard rule.generateSecret, try runtime.vault().get(connection: connection, name: rule.secretSetting) == nil else { return false }
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }.hexString
        try runtime.vault().set(connection: connection, name: rule.secretSetting, value: secret)
        return true
    }

    /// A host of this machine only (the sandbox, tests).
    static func isLoopback(_ host: String?) -> Bool {
        guard let host else { return false }
        return ServerSettings.loopbackNames.contains(host) || host == "[::1]" || host.hasPrefix("127.")
    }
}
