import Crypto
import Foundation

/// Receives webhook deliveries for a connection: checks the signature its plugin
/// declares, stores the delivery durably for every webhook flow reading from that
/// connection, and wakes those flows. It never writes anything anywhere else: the flow
/// delivers the records through the same engine path as a poll, so exactly-once holds.
public struct WebhookIntake: Sendable {
    /// What became of a delivery, and what the sender is answered.
    public enum Outcome: Sendable, Equatable {
        /// Stored for this many flows.
        case accepted(flows: Int)
        /// The same delivery id came before; absorbed.
        case duplicate
        /// The sender's test ping when a webhook is created, or its validation POST with
        /// an empty body.
        case ping
        /// Bad or missing signature, or no secret to check it with (401).
        case refused(String)
        /// No such connection, or its plugin takes no webhooks (404).
        case unknown(String)

        /// The HTTP status the sender gets.
        public var httpStatus: Int {
            switch self {
            case .accepted, .duplicate, .ping: 200
            case .refused: 401
            case .unknown: 404
            }
        }
    }

    let runtime: Runtime
    let wake: @Sendable (String) -> Void
    /// Refused deliveries are counted (metrics) on every request, but each kind of
    /// refusal is noted in the activity log and the log at most once a minute per
    /// connection: anyone can send unsigned requests, and they must not fill the disk or
    /// drown the log.
    let refusals = RefusalNotes(interval: 60)

    /// `wake` is called with each flow's name that has a new delivery waiting.
    public init(runtime: Runtime, wake: @escaping @Sendable (String) -> Void) {
        self.runtime = runtime
        self.wake = wake
    }

    /// Handles one delivery; `headers` with lowercase names, `body` as it arrived,
    /// `urlToken` the URL's segment after the connection, if it has one.
    public func receive(connection name: String, headers: [String: String], body: Data, urlToken: String? = nil) -> Outcome {
        let outcome = handle(connection: name, headers: headers, body: body, urlToken: urlToken)
        let label: String
        switch outcome {
        case .accepted: label = "accepted"
        case .duplicate: label = "duplicate"
        case .ping: label = "ping"
        case .refused: label = "refused"
        case .unknown: label = "unknown"
        }
        runtime.metrics.webhookDelivery(connection: name, outcome: label)
        return outcome
    }

    private func handle(connection name: String, headers: [String: String], body: Data, urlToken: String?) -> Outcome {
        guard let (_, plugin) = try? runtime.connection(name) else {
            note(name, "refused a webhook delivery for unknown connection \(name)")
            return .unknown("no connection named \(name)")
        }
        guard let rule = plugin.manifest.webhooks else {
            note(name, "refused a webhook delivery: \(plugin.name) sends no webhooks")
            return .unknown("\(plugin.name) sends no webhooks")
        }
        // An empty body carries nothing to verify or deliver: it is a sender checking that
        // the URL answers, as Exact does about a second after a subscription is made, and
        // drops the subscription unless it gets a 2xx (R-HOOK-2).
        if body.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            if refusals.shouldNote(name + "\nempty") != nil {
                note(name, "webhook validation answered: an empty POST, as a sender makes when a subscription is created")
            }
            return .ping
        }
        let signed = rule.header.map { headers[$0.lowercased()] != nil } ?? true
        if !signed, let prefix = rule.pingBodyPrefix, body.count < 100, String(decoding: body, as: UTF8.self).hasPrefix(prefix) {
            note(name, "webhook ping answered (\(String(decoding: body, as: UTF8.self)))")
            return .ping
        }
        let secret: String?
        do {
            secret = try runtime.credential(rule.secretSetting, of: name)
        } catch {
            note(name, "refused a webhook delivery: the vault could not be opened: \(error)", kind: .warning)
            return .refused("the webhook secret is not available")
        }
        guard let secret, !secret.isEmpty else {
            noteRefusal(name, "refused a webhook delivery: no webhook secret is stored; run koppel secrets set \(name) \(rule.secretSetting)", headers, body)
            return .refused("no webhook secret is configured")
        }
        do {
            try WebhookSignature(rule: rule, secret: secret).verify(headers: headers, body: body, urlToken: urlToken)
        } catch {
            noteRefusal(name, "refused a webhook delivery (401): \(error.description)", headers, body)
            return .refused(error.description)
        }
        let flows = runtime.deployment.flows.filter {
            guard $0.source.connection == name, case .webhook = $0.schedule else { return false }
            return true
        }
        guard !flows.isEmpty else {
            note(name, "webhook delivery accepted, but no flow with schedule webhook reads from \(name)")
            return .accepted(flows: 0)
        }
        // A delivery is what it carries: WooCommerce gives every delivery of a webhook
        // within one second the same id, so the id alone would take different orders for
        // one redelivery; the id with the body's hash absorbs only a true redelivery.
        let deliveryID = rule.deliveryIDHeader.flatMap { headers[$0.lowercased()] }.map { id in
            id + ":" + SHA256.hash(data: body).prefix(8).map { String(format: "%02x", $0) }.joined()
        }
        let delivery = WebhookInboxEntry(connection: name, deliveryID: deliveryID, receivedAt: Date(), headers: headers, body: body)
        do {
            guard try runtime.store.enqueueWebhook(delivery, flows: flows.map(\.name)) else {
                note(name, "webhook delivery \(deliveryID ?? "") came again; absorbed")
                return .duplicate
            }
        } catch {
            // Not stored, so not acknowledged: the sender delivers it again.
            runtime.logger.error("could not store a webhook delivery for \(name): \(error)")
            return .unknown("the delivery could not be stored")
        }
        let mode = WebhookMode(store: runtime.store)
        for flow in flows {
            if (try? mode.switchToWebhook(flow: flow.name)) == true {
                runtime.activity.record(ActivityEntry(
                    at: Date(), kind: .info, flow: flow.name, connection: name,
                    message: "webhook deliveries arrive again; \(flow.name) is back on webhooks"))
            }
            wake(flow.name)
        }
        return .accepted(flows: flows.count)
    }

    private func note(_ connection: String, _ message: String, kind: ActivityEntry.Kind = .webhook, detail: String? = nil) {
        runtime.activity.record(ActivityEntry(at: Date(), kind: kind, connection: connection, message: message, detail: detail))
        if kind == .warning { runtime.logger.warning("\(connection): \(message)") }
    }

    /// Notes a refused delivery, unless the same refusal was noted for this connection
    /// within the interval; the next note says how many came meanwhile.
    private func noteRefusal(_ connection: String, _ message: String, _ headers: [String: String], _ body: Data) {
        guard let unnoted = refusals.shouldNote(connection + "\n" + message) else { return }
        let more = unnoted > 0 ? " (and \(unnoted) more refused since the last note)" : ""
        note(connection, message + more, kind: .warning, detail: summary(headers, body))
    }

    /// What a refused delivery was, for the activity row (never its signature or body;
    /// the sender's header values cut short).
    private func summary(_ headers: [String: String], _ body: Data) -> String? {
        let picked = headers.filter { ["user-agent", "content-type", "x-wc-webhook-topic", "x-wc-webhook-delivery-id"].contains($0.key) }
        var detail: [String: Any] = picked.mapValues { String($0.prefix(120)) }
        detail["bytes"] = body.count
        return (try? JSONSerialization.data(withJSONObject: detail, options: .sortedKeys)).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Per kind of refusal (a connection and a reason): whether to note it now, at most
/// once per interval.
final class RefusalNotes: @unchecked Sendable {
    private let interval: TimeInterval
    private let lock = NSLock()
    private var lastNoted: [String: Date] = [:]
    private var unnoted: [String: Int] = [:]

    init(interval: TimeInterval) {
        self.interval = interval
    }

    /// Nil when this refusal is only counted; else how many went unnoted before it.
    func shouldNote(_ kind: String, now: Date = Date()) -> Int? {
        lock.withLock {
            if let last = lastNoted[kind], now.timeIntervalSince(last) < interval {
                unnoted[kind, default: 0] += 1
                return nil
            }
            lastNoted[kind] = now
            return unnoted.removeValue(forKey: kind) ?? 0
        }
    }
}
