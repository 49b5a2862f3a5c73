import Foundation
import KoppelPluginSDK

/// An item's standard sales price: Exact keeps it not on the item (`StandardSalesPrice`
/// is read-only there) but as the item's row without account in
/// `logistics/SalesItemPrices` (R-BIZ-3).
struct ExactItemPrices {
    let api: ExactAPI

    struct Price {
        var amount: Money
        var currency: String
    }

    /// Gives a new item its price.
    func create(_ price: Price, item: String) throws(ConnectorError) {
        _ = try api.create("logistics/SalesItemPrices", ["Item": .string(item), "Price": price.amount.json, "Currency": .string(price.currency)])
    }

    /// Sets an existing item's price when it differs; returns whether it did. The read
    /// names its properties: Exact refuses an unbounded read of price rows (R-FILTER-3).
    func set(_ price: Price, item: String) throws(ConnectorError) -> Bool {
        var standard: ExactAPI.Record?
        try api.each("logistics/SalesItemPrices", query: [
            "$filter": "Item eq \(ExactAPI.guid(item))", "$select": "ID,Account,Price,Currency,EndDate",
        ], record: { row in
            if standard == nil, Self.isStandard(row) { standard = row }
        })
        guard let standard, let id = standard["ID"]?.stringValue else {
            try create(price, item: item)
            return true
        }
        let sameCurrency = (standard["Currency"]?.stringValue ?? price.currency).uppercased() == price.currency
        if sameCurrency, ExactAPI.decimal(standard["Price"]) == price.amount { return false }
        try api.update("logistics/SalesItemPrices", id: id, ["Price": price.amount.json, "Currency": .string(price.currency)])
        return true
    }

    /// A price row that is the item's standard sales price: no account, no end.
    static func isStandard(_ row: ExactAPI.Record) -> Bool {
        ExactReader.text(row, "Account") == nil && ExactReader.text(row, "EndDate") == nil
    }
}
