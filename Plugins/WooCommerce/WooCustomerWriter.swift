import Foundation
import KoppelPluginSDK

/// Creates or updates a WooCommerce customer from a canonical customer, matched by its
/// earlier id or by email. A field the canonical customer leaves out is left alone; of
/// the others only what differs is sent, and nothing when nothing does, so a change that
/// came from WooCommerce does not travel back. WooCommerce e-mails every customer it
/// creates; with `create` false only customers the shop has are updated.
struct WooCustomerWriter {
    let api: WooCommerceAPI
    let create: Bool
    var host: PluginHost { api.host }

    func write(_ customer: Customer, knownID: String?) throws(ConnectorError) -> WriteResult {
        guard let email = customer.email?.lowercased(), !email.isEmpty else {
            throw .invalidData("customer \(customer.sourceKey) has no email address; WooCommerce needs one")
        }
        let wanted = Self.fields(customer, email: email)
        guard let existing = try find(id: knownID, email: email) else {
            guard create else {
                return .skipped("not in the shop, and create_customers is false (WooCommerce would e-mail the customer an account)")
            }
            let response = try host.http(api.root.request("customers", method: "POST", body: JSONValue.object(wanted).jsonText, idempotent: false))
            if response.status == 400, response.body.contains("email-exists"), let again = try find(id: nil, email: email) {
                return try update(again, wanted)
            }
            try response.requireSuccess("creating WooCommerce customer \(email)")
            guard let id = try response.decode([String: JSONValue].self, "WooCommerce customer")["id"], case .int(let number) = id else {
                throw .internal("WooCommerce returned a customer without id")
            }
            return .created(String(number))
        }
        return try update(existing, wanted)
    }

    /// The customer's fields as WooCommerce names them; absent values are left out.
    static func fields(_ customer: Customer, email: String) -> [String: JSONValue] {
        var top: [String: JSONValue] = ["email": .string(email)]
        if let first = customer.firstName { top["first_name"] = .string(first) }
        if let last = customer.lastName { top["last_name"] = .string(last) }
        func address(_ address: Address?, contact: Bool) -> [String: JSONValue] {
            var fields: [String: JSONValue] = [:]
            if let first = customer.firstName { fields["first_name"] = .string(first) }
            if let last = customer.lastName { fields["last_name"] = .string(last) }
            if let company = address?.company ?? customer.companyName { fields["company"] = .string(company) }
            if let address {
                let number = [address.houseNumber, address.houseNumberSuffix].compactMap { $0 }.joined()
                fields["address_1"] = .string([address.street ?? "", number].filter { !$0.isEmpty }.joined(separator: " "))
                fields["address_2"] = .string(address.line2 ?? "")
                fields["city"] = .string(address.city ?? "")
                fields["postcode"] = .string(address.postcode ?? "")
                fields["country"] = .string(address.country)
                if let region = address.region { fields["state"] = .string(region) }
            }
            if contact {
                fields["email"] = .string(email)
                if let phone = customer.phone { fields["phone"] = .string(phone) }
            }
            return fields
        }
        top["billing"] = .object(address(customer.billingAddress, contact: true))
        if let shipping = customer.shippingAddress { top["shipping"] = .object(address(shipping, contact: false)) }
        return top
    }

    private func update(_ existing: [String: JSONValue], _ wanted: [String: JSONValue]) throws(ConnectorError) -> WriteResult {
        guard case .int(let number)? = existing["id"] else { throw .internal("WooCommerce returned a customer without id") }
        let id = String(number)
        let patch = JSONValue.differing(wanted, from: existing, caseInsensitive: ["email"])
        guard !patch.isEmpty else { return .unchanged(id) }
        try host.http(api.root.request("customers/\(id)", method: "PUT", body: JSONValue.object(patch).jsonText))
            .requireSuccess("updating WooCommerce customer \(id)")
        return .updated(id)
    }

    private func find(id: String?, email: String) throws(ConnectorError) -> [String: JSONValue]? {
        if let id {
            let response = try host.http(api.root.request("customers/\(id)"))
            if response.status != 404 {
                return try response.requireSuccess("WooCommerce customer \(id)").decode([String: JSONValue].self, "WooCommerce customer \(id)")
            }
        }
        let response = try host.http(api.root.request("customers", query: ["email": email, "role": "all"]))
        return try response.requireSuccess("WooCommerce customers by email").decode([[String: JSONValue]].self, "WooCommerce customers").first
    }
}
