import Foundation
import KoppelPluginSDK

/// Exact Online items as canonical products, from the items' sync feed
/// (`sync/Logistics/Items`, 1000 a call) with each item's standard sales price from the
/// price feed (`sync/Logistics/SalesItemPrices`: the row without account, R-BIZ-3), as
/// the items' feed carries no price. An item comes again when it or its price changed.
struct ExactItemReader {
    let api: ExactAPI
    /// The codes of the items Koppel books costs on, which are not products.
    let costItems: Set<String>

    static let select = "ID,Code,Description,ExtraDescription,Barcode,CostPriceStandard,Unit,Stock,IsStockItem,IsMakeItem,Modified"
    static let priceSelect = "Item,Account,Price,EndDate,Modified"

    /// `after`: the row versions read last of the items and of the prices feeds.
    func read(
        after: (items: Int64?, prices: Int64?), window: ExactReader.Window, checkpoint: (Int64, Int64) throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        var items: [String: ExactAPI.Record] = [:]
        var order: [String] = [], ordered: Set<String> = []
        var itemsRead = after.items ?? 1, pricesRead = after.prices ?? 1
        try api.sync("sync/Logistics/Items", after: after.items, select: Self.select, record: { item in
            guard let id = ExactReader.text(item, "ID")?.lowercased(), window.contains(ExactAPI.date(item["Modified"])) else { return }
            if ordered.insert(id).inserted { order.append(id) }
            items[id] = item
        }, onPage: { itemsRead = $0 })
        var prices: [String: DecimalNumber] = [:]
        try api.sync("sync/Logistics/SalesItemPrices", after: after.prices, select: Self.priceSelect, record: { row in
            guard let id = ExactReader.text(row, "Item")?.lowercased(), let price = Self.standardPrice(row) else { return }
            prices[id] = price
            if window.contains(ExactAPI.date(row["Modified"])), ordered.insert(id).inserted { order.append(id) }
        }, onPage: { pricesRead = $0 })
        // An item whose price alone changed: the item itself.
        let priced = order.filter { items[$0] == nil }
        try api.each("bulk/Logistics/Items", where: "ID", isAnyOf: priced.map(ExactAPI.guid), query: ["$select": Self.select], record: { item in
            if let id = ExactReader.text(item, "ID")?.lowercased() { items[id] = item }
        })
        // A changed item whose price did not change (after a first read, which has every
        // price): its price.
        let unpriced = order.filter { prices[$0] == nil }
        if after.prices != nil, !unpriced.isEmpty {
            try api.each("logistics/SalesItemPrices", where: "Item", isAnyOf: unpriced.map(ExactAPI.guid), query: ["$select": Self.priceSelect], record: { row in
                if let id = ExactReader.text(row, "Item")?.lowercased(), let price = Self.standardPrice(row) { prices[id] = price }
            })
        }
        for id in order {
            guard var item = items[id], let modified = try ExactReader.modified(item, key: "ID", host: api.host) else { continue }
            if let code = ExactReader.text(item, "Code"), costItems.contains(code) { continue }
            if let price = prices[id] { item["StandardSalesPrice"] = price.json }
            try api.host.emit(ExactReader.product(item, modified: modified))
        }
        try checkpoint(itemsRead, pricesRead)
    }

    /// The price of a standard sales price row, or nil.
    private static func standardPrice(_ row: ExactAPI.Record) -> DecimalNumber? {
        ExactItemPrices.isStandard(row) ? ExactAPI.decimal(row["Price"]) : nil
    }
}
