import Foundation
import KoppelPluginSDK

/// The record a flow hands to the `orders` stream: a canonical order, plus the
/// `payment_term` a value map of the flow's mapping added (`payment_method` is the
/// order's own field, which a value map may rewrite).
struct WinstoreOrderRecord: Decodable {
    var order: Order
    var paymentTerm: String?

    enum CodingKeys: String, CodingKey {
        case paymentTerm = "payment_term"
    }

    init(from decoder: Decoder) throws {
        order = try Order(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // A value map may give a term as a number (`30`) or as text.
        if let days = try? container.decodeIfPresent(Int.self, forKey: .paymentTerm) {
            paymentTerm = String(days)
        } else {
            paymentTerm = try container.decodeIfPresent(String.self, forKey: .paymentTerm)
        }
    }
}

/// Places an order in Winstore the way the shop expects it: an order Winstore already
/// has (same reference) is left alone; every SKU must be a Winstore product, else the
/// order is refused naming the missing ones (parked, and replayable once they exist);
/// then the customer is found by email and brought up to date, or created (a company
/// with its contact person, or a person); then the order is placed.
struct WinstoreOrderWriter {
    let api: WinstoreAPI
    /// Place every order on this Winstore customer number instead of one per buyer.
    let defaultCustomer: String?

    private struct Identified: Decodable {
        var id: Int
    }

    func write(_ record: WinstoreOrderRecord) throws(ConnectorError) -> WriteResult {
        let order = record.order
        let existing: [Identified] = try api.all("orders", query: ["reference": order.number])
        if let found = existing.first { return .found(String(found.id)) }
        try requireProducts(order)
        let customer = try customerID(for: order)
        var body: [String: JSONValue] = [
            "reference": .string(order.number),
            "customer_id": .int(Int64(customer)),
            "order_date": .string(Date.ISO8601FormatStyle().format(order.createdAt)),
            "currency": .string(order.currency),
            "billing_address": Self.address(order.billingAddress, fallback: order.customer),
            "shipping_address": Self.address(order.shippingAddress ?? order.billingAddress, fallback: order.customer),
            "lines": .array(order.lines.map { line in
                .object([
                    "sku": .string(line.sku ?? ""), "name": .string(line.name), "quantity": .decimal(line.quantity.description),
                    "price": .string(line.unitPrice.rounded(4).description), "vat_rate": .string(line.vatRate.description),
                ])
            }),
        ]
        if let method = order.paymentMethod { body["payment_method"] = .string(method) }
        if let term = record.paymentTerm { body["payment_term"] = .string(term) }
        if let note = order.note { body["note"] = .string(note) }
        let created = try api.send("POST", "orders", body, as: Identified.self)
        return .created(String(created.id))
    }

    /// Refuses the order when a line has no SKU or a SKU Winstore does not know.
    private func requireProducts(_ order: Order) throws(ConnectorError) {
        if let line = order.lines.first(where: { ($0.sku ?? "").isEmpty }) {
            throw .invalidData("order \(order.number): line \"\(line.name)\" has no SKU to find a Winstore product by")
        }
        let skus = Array(Set(order.lines.compactMap(\.sku))).sorted()
        var known: Set<String> = []
        for start in stride(from: 0, to: skus.count, by: 50) {
            let chunk = skus[start..<min(skus.count, start + 50)]
            let found: [WinstoreProduct] = try api.all("products", query: ["sku": chunk.joined(separator: ",")])
            known.formUnion(found.map { $0.sku.lowercased() })
        }
        let missing = skus.filter { !known.contains($0.lowercased()) }
        guard missing.isEmpty else {
            throw .invalidData("order \(order.number): Winstore has no product with SKU \(missing.joined(separator: ", ")); create it in Winstore, then replay the order")
        }
    }

    // MARK: Customers

    private struct WinstoreCustomer: Decodable {
        var id: Int
        var fields: [String: JSONValue]
        init(from decoder: Decoder) throws {
            fields = try [String: JSONValue](from: decoder)
            guard case .int(let id)? = fields["id"] else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "a customer without id"))
            }
            self.id = Int(id)
        }
    }

    /// The Winstore customer the order is placed for.
    private func customerID(for order: Order) throws(ConnectorError) -> Int {
        if let number = defaultCustomer {
            let found: [WinstoreCustomer] = try api.all("customers", query: ["number": number])
            guard let customer = found.first else {
                throw .invalidData("the default customer \(number) does not exist in Winstore; check default_customer")
            }
            return customer.id
        }
        guard let email = order.customer.email?.lowercased(), !email.isEmpty else {
            throw .invalidData("order \(order.number): the buyer has no email address to find a Winstore customer by; set default_customer in the flow's options")
        }
        let wanted = Self.customerFields(order)
        let found: [WinstoreCustomer] = try api.all("customers", query: ["email": email])
        guard let customer = found.first else {
            return try api.send("POST", "customers", wanted, as: Identified.self).id
        }
        let changed = wanted.filter { customer.fields[$0.key] != $0.value }
        if !changed.isEmpty { _ = try api.send("PUT", "customers/\(customer.id)", changed, as: Identified.self) }
        return customer.id
    }

    /// A company (company name given) with its contact person, else a person.
    static func customerFields(_ order: Order) -> [String: JSONValue] {
        let buyer = order.customer
        let email = JSONValue.string(buyer.email?.lowercased() ?? "")
        var fields: [String: JSONValue] = ["email": email, "billing_address": address(order.billingAddress, fallback: buyer)]
        if let phone = buyer.phone { fields["phone"] = .string(phone) }
        let (first, last) = names(buyer, address: order.billingAddress)
        if let company = buyer.companyName, !company.isEmpty {
            fields["type"] = "company"
            fields["company_name"] = .string(company)
            if let vat = buyer.vatNumber { fields["vat_number"] = .string(vat) }
            if let coc = buyer.cocNumber { fields["coc_number"] = .string(coc) }
            fields["contact"] = .object(["first_name": .string(first), "last_name": .string(last.isEmpty ? company : last), "email": email])
        } else {
            fields["type"] = "person"
            fields["first_name"] = .string(first)
            fields["last_name"] = .string(last.isEmpty ? (buyer.email ?? buyer.sourceKey) : last)
        }
        return fields
    }

    /// The buyer's first and last name, from the customer or else the address's name.
    private static func names(_ buyer: Customer, address: Address) -> (String, String) {
        if buyer.firstName != nil || buyer.lastName != nil { return (buyer.firstName ?? "", buyer.lastName ?? "") }
        guard buyer.companyName == nil, let name = address.name else { return ("", "") }
        let parts = name.split(separator: " ", maxSplits: 1).map(String.init)
        return parts.count > 1 ? (parts[0], parts[1]) : ("", name)
    }

    /// An address in Winstore's shape: street and house number apart.
    static func address(_ address: Address, fallback buyer: Customer) -> JSONValue {
        var street = address.street ?? ""
        var number = address.houseNumber
        var suffix = address.houseNumberSuffix
        if number == nil {
            let split = Address.splitStreetLine(street)
            (street, number, suffix) = (split.street, split.houseNumber, split.suffix)
        }
        return .object([
            "name": .string(address.name ?? [buyer.firstName, buyer.lastName].compactMap { $0 }.joined(separator: " ")),
            "street": .string(street), "house_number": .string(number ?? ""), "house_number_addition": .string(suffix ?? ""),
            "postcode": .string(address.postcode ?? ""), "city": .string(address.city ?? ""), "country": .string(address.country),
        ])
    }
}
