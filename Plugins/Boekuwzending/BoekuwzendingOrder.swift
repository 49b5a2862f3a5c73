import Foundation
import KoppelPluginSDK

/// A canonical order as Boekuwzending's external order (R4.1, `examples/external-order-create.json`):
/// the shop's number as `externalId` and `reference`, `createdAtSource` as the SDK sends it
/// (R3.5), the delivery address (or the billing one) as `shipTo`, a line per product.
struct BoekuwzendingOrder {
    let order: Order

    init(_ order: Order) throws(ConnectorError) {
        guard order.customer.email?.isEmpty == false else { throw .invalidData("order \(order.number) has no e-mail address; Boekuwzending needs one for the buyer") }
        self.order = order
    }

    /// Street, number and addition from an address that may hold them in one line
    /// ("Keizersgracht 12a").
    static func street(_ address: Address) -> (street: String, number: String, addition: String?) {
        if let number = address.houseNumber, !number.isEmpty {
            return (address.street ?? "", number, address.houseNumberSuffix)
        }
        let line = address.street ?? ""
        guard let match = line.firstMatch(of: /^(.*?)\s+(\d+)\s*(.*)$/) else { return (line, "", nil) }
        let addition = String(match.3).trimmingCharacters(in: CharacterSet(charactersIn: " -"))
        return (String(match.1), String(match.2), addition.isEmpty ? nil : addition)
    }

    /// An E.164 number (`+31612345678`) in `phoneNumber`, else the raw text in `plainPhoneNumber` (R3.4).
    static func phone(_ text: String?) -> [String: JSONValue] {
        guard let text, !text.isEmpty else { return [:] }
        var digits = text.filter { $0.isNumber || $0 == "+" }
        if digits.hasPrefix("00") { digits = "+" + digits.dropFirst(2) }
        if digits.hasPrefix("06") { digits = "+316" + digits.dropFirst(2) }
        return digits.range(of: #"^\+[1-9]\d{7,14}$"#, options: .regularExpression) != nil
            ? ["phoneNumber": .string(digits)] : ["plainPhoneNumber": .string(text)]
    }

    var json: JSONValue {
        let address = order.shippingAddress ?? order.billingAddress
        let (street, number, addition) = Self.street(address)
        let name = address.name ?? [order.customer.firstName, order.customer.lastName].compactMap { $0 }.joined(separator: " ")
        var contact: [String: JSONValue] = ["name": .string(name), "emailAddress": .string(order.customer.email ?? "")]
        contact.merge(Self.phone(order.customer.phone)) { a, _ in a }
        if let company = address.company ?? order.customer.companyName { contact["company"] = .string(company) }
        var shipAddress: [String: JSONValue] = [
            "street": .string(street), "number": .string(number), "postcode": .string(address.postcode ?? ""),
            "city": .string(address.city ?? ""), "country": .string(address.country), "privateAddress": .bool(order.customer.kind != .company),
        ]
        if let addition { shipAddress["numberAddition"] = .string(addition) }
        let lines: [JSONValue] = order.lines.enumerated().map { index, line in
            var fields: [String: JSONValue] = [
                "externalId": .string("\(order.number)-\(index + 1)"), "quantity": .decimal(line.quantity.description), "description": .string(line.name),
                "weight": 1, "value": .decimal((line.total + line.vatAmount).description),
            ]
            if let sku = line.sku { fields["skuNumber"] = .string(sku) }
            if let ean = line.ean { fields["eanNumber"] = .string(ean) }
            return .object(fields)
        }
        return [
            "externalId": .string(order.number), "reference": .string(order.number), "createdAtSource": .string(ZonedTimeFormat.dutch.string(order.createdAt)),
            "shipTo": ["contact": .object(contact), "address": .object(shipAddress)], "orderLines": .array(lines),
        ]
    }
}
