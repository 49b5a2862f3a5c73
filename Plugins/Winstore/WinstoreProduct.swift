import Foundation
import KoppelPluginSDK

/// A Winstore product as the API returns it. The price is text, excluding or including VAT
/// as the shop is set up (the connection's `prices_include_tax`).
struct WinstoreProduct: Decodable {
    struct Attribute: Decodable {
        var name: String
        var value: String
    }

    var id: Int
    var sku: String
    var type: String
    var name: String
    var description: String?
    var shortDescription: String?
    var price: String?
    var vatRate: String?
    var stock: Int?
    var ean: String?
    var currency: String?
    var attributes: [Attribute]?
    var variants: [JSONValue]?
    var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, sku, type, name, description, price, stock, ean, currency, attributes, variants
        case shortDescription = "short_description"
        case vatRate = "vat_rate"
        case updatedAt = "updated_at"
    }

    var updated: Date { WinstoreAPI.date(updatedAt) ?? .distantPast }

    /// The product as a canonical product. A variable product keeps its kind, so a target
    /// that holds simple products only can say why it leaves it out.
    func canonical(pricesIncludeTax: Bool) throws(ConnectorError) -> Product {
        guard let updated = WinstoreAPI.date(updatedAt) else {
            throw .invalidData("Winstore product \(id) has an unreadable updated_at \"\(updatedAt)\"")
        }
        func decimal(_ text: String?, _ field: String) throws(ConnectorError) -> DecimalNumber? {
            guard let text, !text.isEmpty else { return nil }
            guard let value = DecimalNumber(text) else { throw .invalidData("Winstore product \(sku): \(field) \"\(text)\" is not a decimal") }
            return value
        }
        let kind: Product.Kind = switch type {
        case "variable": .variable
        case "variant": .variant
        case "bundle": .composition
        default: .simple
        }
        var attributes: [String: String] = [:]
        for attribute in self.attributes ?? [] { attributes[attribute.name] = attribute.value }
        return Product(
            sourceKey: String(id), updatedAt: updated, sku: sku, ean: ean.flatMap { $0.isEmpty ? nil : $0 }, kind: kind, name: name,
            description: description, shortDescription: shortDescription,
            priceExclVAT: pricesIncludeTax ? nil : try decimal(price, "price"), priceInclVAT: pricesIncludeTax ? try decimal(price, "price") : nil,
            vatRate: try decimal(vatRate, "vat_rate"), currency: currency ?? "EUR", stockQuantity: stock.map { DecimalNumber(Decimal($0)) },
            attributes: attributes)
    }
}
