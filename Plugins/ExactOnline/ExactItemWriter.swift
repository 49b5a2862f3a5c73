import Foundation
import KoppelPluginSDK

/// The record a flow hands to the `items` stream: a canonical product, plus the flow's
/// `_options` and `_update` (the fields an update may change).
struct ItemRecord: Decodable {
    var product: Product
    var options: ExactSettings?
    var update: [String]?

    enum CodingKeys: String, CodingKey {
        case options = "_options"
        case update = "_update"
    }

    init(from decoder: Decoder) throws {
        product = try Product(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        options = try container.decodeIfPresent(ExactSettings.self, forKey: .options)
        update = try container.decodeIfPresent([String].self, forKey: .update)
    }
}

/// Writes products to Exact items, keyed by SKU (the item's `Code`).
///
/// A new item gets every field; an item Exact already has (written before, or found by
/// its code) gets only the fields the flow lists under `update:`, and only those that
/// differ, so what a merchant enriched in Exact (a longer description) stays. The names
/// a flow can list: `name`, `description`, `short_description`, `price`, `ean`, `vat`,
/// `attributes`. Stock is counted in Exact: a new item's quantity is its opening stock in
/// the connection's warehouse, and later quantities are not sent.
struct ExactItemWriter {
    let api: ExactAPI
    let settings: ExactSettings

    static let updatableFields = ["name", "description", "short_description", "price", "ean", "vat", "attributes"]

    func write(_ record: ItemRecord, knownID: String?) throws(ConnectorError) -> WriteResult {
        let product = record.product
        guard product.kind == .simple else {
            return .skipped("\(product.sku) is a \(product.kind.rawValue) product; Exact items are written for simple products only")
        }
        guard !product.sku.isEmpty else { throw .invalidData("product \(product.sourceKey) has no SKU to key an Exact item by") }
        let updatable = record.update ?? Self.updatableFields
        if let unknown = updatable.first(where: { !Self.updatableFields.contains($0) }) {
            throw .invalidData("update: \"\(unknown)\" is not an item field; use any of \(Self.updatableFields.joined(separator: ", "))")
        }
        let fields = try itemFields(product)
        let wanted = fields.filter { updatable.contains($0.key) }.reduce(into: [String: JSONValue]()) { $0.merge($1.value) { _, new in new } }
        /// Nil when the item is gone from Exact (deleted since it was written).
        func update(_ id: String) throws(ConnectorError) -> WriteResult? {
            if wanted.isEmpty { return .unchanged(id) }
            return try api.updateChanged("logistics/Items", id: id, wanted).map { $0 ? .updated(id) : .unchanged(id) }
        }
        if let id = knownID, let result = try update(id) { return result }
        if let id = try existing(code: product.sku), id != knownID, let result = try update(id) { return result }
        return .created(try create(product, fields: fields))
    }

    /// The item with this code, if Exact has one.
    private func existing(code: String) throws(ConnectorError) -> String? {
        try api.first("logistics/Items", filter: "Code eq \(ExactAPI.quote(code))", select: "ID")?["ID"]?.stringValue
    }

    /// Exact's fields for a product, grouped by the name a flow lists under `update:`.
    private func itemFields(_ product: Product) throws(ConnectorError) -> [String: [String: JSONValue]] {
        var fields: [String: [String: JSONValue]] = ["name": ["Description": .string(String(product.name.prefix(60)))]]
        if let text = product.description { fields["description"] = ["ExtraDescription": .string(text)] }
        if let text = product.shortDescription { fields["short_description"] = ["Notes": .string(text)] }
        if let ean = product.ean { fields["ean"] = ["Barcode": .string(ean)] }
        let currency = settings.currency ?? "EUR"
        if let price = try priceExclVAT(product) {
            guard product.currency.uppercased() == currency.uppercased() else {
                throw .invalidData("\(product.sku) is priced in \(product.currency), but this Exact division's item prices are in \(currency) (setting currency)")
            }
            fields["price"] = ["StandardSalesPrice": price.json]
        }
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
        return DecimalNumber(incl.value * 100 / (100 + rate.value)).rounded(2)
    }

    /// Creates the item as a sales and stock item, with its opening stock in the
    /// connection's warehouse when one is set.
    private func create(_ product: Product, fields: [String: [String: JSONValue]]) throws(ConnectorError) -> String {
        var body = fields.values.reduce(into: [String: JSONValue]()) { $0.merge($1) { _, new in new } }
        body["Code"] = .string(product.sku)
        body["IsSalesItem"] = true
        body["IsStockItem"] = true
        if let unit = product.unit { body["Unit"] = .string(unit) }
        let created = try api.create("logistics/Items", body)
        guard let id = created["ID"]?.stringValue else { throw .internal("Exact Online returned an item without ID") }
        if let code = settings.warehouse {
            let warehouse = try ExactDirectory(api: api, settings: settings).warehouseID(code: code)
            var link: [String: JSONValue] = ["Item": .string(id), "Warehouse": .string(warehouse)]
            if let quantity = product.stockQuantity { link["CurrentStock"] = quantity.json }
            _ = try api.create("inventory/ItemWarehouses", link)
        }
        return id
    }
}
