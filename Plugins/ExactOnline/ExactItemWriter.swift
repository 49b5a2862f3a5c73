import Foundation
import KoppelPluginSDK

/// Writes products to Exact items, keyed by SKU (the item's `Code`).
///
/// A new item gets every field; an item Exact already has (written before, or found by
/// its code) gets only the fields the flow lists under `update:`, and only those that
/// differ, so what a merchant enriched in Exact (a longer description) stays. The names
/// a flow can list: `name`, `description`, `short_description`, `price`, `ean`, `vat`,
/// `attributes`. The price is not a field of the item in Exact (R-BIZ-3): it is the item's
/// sales price without account in `logistics/SalesItemPrices`. Stock is counted in Exact:
/// a new item's quantity is its opening stock in the connection's warehouse, booked as a
/// processed stock count, and later quantities are not sent.
struct ExactItemWriter {
    let api: ExactAPI
    let settings: ExactSettings

    static let updatableFields = ["name", "description", "short_description", "price", "ean", "vat", "attributes"]

    /// Writes `product`; on an update, only the fields of `updatable` (nil: all).
    func write(_ product: Product, updatable: [String]?, knownID: String?) throws(ConnectorError) -> WriteResult {
        guard product.kind == .simple else {
            return .skipped("\(product.sku) is a \(product.kind.rawValue) product; Exact items are written for simple products only")
        }
        guard !product.sku.isEmpty else { throw .invalidData("product \(product.sourceKey) has no SKU to key an Exact item by") }
        let updatable = updatable ?? Self.updatableFields
        if let unknown = updatable.first(where: { !Self.updatableFields.contains($0) }) {
            throw .invalidData("update: \"\(unknown)\" is not an item field; use any of \(Self.updatableFields.joined(separator: ", "))")
        }
        let fields = try itemFields(product)
        let price = try salesPrice(product)
        let prices = ExactItemPrices(api: api)
        let wanted = fields.filter { updatable.contains($0.key) }.reduce(into: [String: JSONValue]()) { $0.merge($1.value) { _, new in new } }
        /// Nil when the item is gone from Exact (deleted since it was written).
        func update(_ id: String) throws(ConnectorError) -> WriteResult? {
            var changed = false
            if !wanted.isEmpty {
                guard let itemChanged = try api.updateChanged("logistics/Items", id: id, wanted) else { return nil }
                changed = itemChanged
            }
            if updatable.contains("price"), let price, try prices.set(price, item: id) { changed = true }
            return changed ? .updated(id) : .unchanged(id)
        }
        let directory = ExactDirectory(api: api, settings: settings)
        if let id = knownID, let result = try update(id) { return result }
        if let id = try directory.existingItem(code: product.sku, isProduct: true), id != knownID, let result = try update(id) { return result }
        var body = fields.values.reduce(into: [String: JSONValue]()) { $0.merge($1) { _, new in new } }
        if let unit = product.unit { body["Unit"] = .string(unit) }
        let id = try directory.createItem(code: product.sku, fields: body, isProduct: true, openingStock: product.stockQuantity)
        if let price { try prices.create(price, item: id) }
        return .created(id)
    }

    /// The product's price excluding VAT in the division's currency, if it has one.
    private func salesPrice(_ product: Product) throws(ConnectorError) -> ExactItemPrices.Price? {
        guard let price = try priceExclVAT(product) else { return nil }
        let currency = settings.currency ?? "EUR"
        guard product.currency.uppercased() == currency.uppercased() else {
            throw .invalidData("\(product.sku) is priced in \(product.currency), but this Exact division's item prices are in \(currency) (setting currency)")
        }
        return .init(amount: price, currency: currency.uppercased())
    }

    /// Exact's fields for a product, grouped by the name a flow lists under `update:`.
    private func itemFields(_ product: Product) throws(ConnectorError) -> [String: [String: JSONValue]] {
        var fields: [String: [String: JSONValue]] = ["name": ["Description": .string(String(product.name.prefix(60)))]]
        if let text = product.description { fields["description"] = ["ExtraDescription": .string(text)] }
        if let text = product.shortDescription { fields["short_description"] = ["Notes": .string(text)] }
        if let ean = product.ean { fields["ean"] = ["Barcode": .string(ean)] }
        if let rate = product.vatRate { fields["vat"] = ["SalesVatCode": .string(try settings.vatCode(rate: rate, country: "NL"))] }
        var attributes: [String: JSONValue] = [:]
        for (name, field) in settings.itemAttributes ?? [:] {
            if let value = product.attributes[name] { attributes[field] = .string(value) }
        }
        if !attributes.isEmpty { fields["attributes"] = attributes }
        return fields
    }

    /// The price excluding VAT: as given, or computed from the price including VAT and
    /// the VAT rate (to the cent).
    private func priceExclVAT(_ product: Product) throws(ConnectorError) -> Money? {
        if let price = product.priceExclVAT { return price }
        guard let incl = product.priceInclVAT else { return nil }
        guard let rate = product.vatRate else {
            throw .invalidData("\(product.sku) has a price including VAT but no VAT rate to take the VAT off with")
        }
        return incl.excludingVAT(ratePercent: rate)
    }
}
