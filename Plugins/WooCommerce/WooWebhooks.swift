import Foundation
import KoppelPluginSDK

/// The shop's webhooks (`/webhooks`), as Koppel keeps them: one per topic, signed with
/// the connection's webhook secret. WooCommerce disables a webhook whose deliveries
/// keep failing and shows it in `status`, which `PUT` sets back to `active` (reference
/// README, auto-disable).
struct WooWebhooks {
    let api: WooCommerceAPI
    /// The secret WooCommerce signs deliveries with; Koppel made it.
    let secret: String?

    private struct Webhook: Decodable {
        var id: Int
        var topic: String
        var delivery_url: String
        var status: String

        var subscription: Subscription { Subscription(id: String(id), topic: topic, callbackURL: delivery_url, status: status) }
    }

    func list() throws(ConnectorError) -> [Subscription] {
        var found: [Subscription] = []
        try api.all("webhooks") { (hook: PageRecord<Webhook>) throws(ConnectorError) in
            if case .record(let webhook) = hook { found.append(webhook.subscription) }
        }
        return found
    }

    func create(topic: String, callbackURL: String) throws(ConnectorError) -> Subscription {
        guard let secret, !secret.isEmpty else { throw .invalidData("webhook_secret is not set: WooCommerce signs deliveries with it") }
        let body: JSONValue = ["name": .string("Koppel \(topic)"), "topic": .string(topic), "delivery_url": .string(callbackURL),
                               "secret": .string(secret), "status": "active"]
        return try send(api.root.request("webhooks", method: "POST", body: body.jsonText, idempotent: false), "creating the WooCommerce webhook for \(topic)")
    }

    func enable(id: String) throws(ConnectorError) -> Subscription {
        try send(api.root.request("webhooks/\(id)", method: "PUT", body: JSONValue.object(["status": "active"]).jsonText), "enabling WooCommerce webhook \(id)")
    }

    /// Webhooks cannot be trashed, only deleted (`force=true`).
    func delete(id: String) throws(ConnectorError) {
        let response = try api.host.http(api.root.request("webhooks/\(id)", method: "DELETE", query: ["force": "true"]))
        if response.status == 404 { return }
        _ = try response.requireSuccess("deleting WooCommerce webhook \(id)")
    }

    private func send(_ request: HTTPRequest, _ what: String) throws(ConnectorError) -> Subscription {
        try api.host.http(request).requireSuccess(what).decode(Webhook.self, what).subscription
    }
}
