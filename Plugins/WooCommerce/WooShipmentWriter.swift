import Foundation
import KoppelPluginSDK

/// Marks a WooCommerce order shipped: the status `completed` and an order note with the
/// carrier, the track-and-trace code and its page, written only when missing, so sending
/// a shipment again changes nothing. WooCommerce e-mails the buyer its "order completed"
/// message when the status changes, and a customer note when one is added (this one is
/// private).
struct WooShipmentWriter {
    let api: WooCommerceAPI

    func write(_ shipment: Shipment, knownID: String?) throws(ConnectorError) -> WriteResult {
        let order = try find(shipment.orderNumber)
        guard case .int(let id)? = order["id"] else { throw .internal("WooCommerce returned an order without id") }
        var changed = false
        if order["status"]?.stringValue != "completed" {
            try api.host.http(api.root.request("orders/\(id)", method: "PUT", body: #"{"status":"completed"}"#))
                .requireSuccess("completing WooCommerce order \(shipment.orderNumber)")
            changed = true
        }
        let note = Self.note(shipment)
        let notes = try api.host.http(api.root.request("orders/\(id)/notes")).requireSuccess("WooCommerce order notes")
            .decode([[String: JSONValue]].self, "WooCommerce order notes")
        if !note.isEmpty, !notes.contains(where: { $0["note"]?.stringValue == note }) {
            let body = JSONValue.object(["note": .string(note), "customer_note": .bool(false)]).jsonText
            try api.host.http(api.root.request("orders/\(id)/notes", method: "POST", body: body, idempotent: false))
                .requireSuccess("noting the shipment of WooCommerce order \(shipment.orderNumber)")
            changed = true
        }
        guard changed else { return .unchanged(String(id)) }
        return knownID == nil ? .created(String(id)) : .updated(String(id))
    }

    /// "Verzonden met PostNL: 3SABC123 (https://…)".
    static func note(_ shipment: Shipment) -> String {
        guard let code = shipment.trackingCode, !code.isEmpty else { return "" }
        let carrier = shipment.carrier.map { " met \($0)" } ?? ""
        return "Verzonden\(carrier): \(code)" + (shipment.trackingURL.map { " (\($0))" } ?? "")
    }

    /// The order with this number: WooCommerce's number is its id unless a plugin numbers
    /// orders otherwise, when the shop's search finds it.
    private func find(_ number: String) throws(ConnectorError) -> [String: JSONValue] {
        if let id = Int(number), let order = try api.one("orders", id, as: [String: JSONValue].self), order["number"]?.stringValue == number {
            return order
        }
        let found = try api.host.http(api.root.request("orders", query: ["search": number])).requireSuccess("WooCommerce orders")
            .decode([[String: JSONValue]].self, "WooCommerce orders")
        guard let order = found.first(where: { $0["number"]?.stringValue == number }) else {
            throw .notFound("WooCommerce has no order \(number) to mark shipped")
        }
        return order
    }
}
