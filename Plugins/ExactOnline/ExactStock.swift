import Foundation
import KoppelPluginSDK

/// Stock levels, either of one warehouse (one record per SKU, keyed `SKU@warehouse`) or
/// summed over every warehouse (one record per SKU, keyed by the SKU).
///
/// What moved is read from Exact's stock positions sync feed
/// (`sync/Inventory/StockPositions`: any movement gives an item's row in a warehouse a new
/// row version), 1000 rows a call. For a sum, each moved item's rows in every warehouse
/// are fetched from `inventory/ItemWarehouses`, a few items per call, so an unchanged
/// item costs nothing and a changed one is always summed whole.
struct ExactStockReader {
    let api: ExactAPI
    let global: Bool
    /// The warehouse code read when not `global`; nil means the main warehouse.
    let warehouse: String?

    static let select = "ID,Item,ItemCode,Warehouse,WarehouseCode,CurrentStock,Modified"

    struct Row {
        var item: String
        var sku: String
        var warehouse: String
        var quantity: DecimalNumber
        var modified: Date

        init?(_ record: ExactAPI.Record) {
            guard let item = ExactReader.text(record, "Item"), let sku = ExactReader.text(record, "ItemCode"),
                  let modified = ExactAPI.date(record["Modified"]) else { return nil }
            self.item = item
            self.sku = sku
            warehouse = ExactReader.text(record, "WarehouseCode") ?? ""
            quantity = ExactAPI.decimal(record["CurrentStock"]) ?? .zero
            self.modified = modified
        }
    }

    static let positionSelect = "ItemId,ItemCode,WarehouseCode,CurrentStock"

    /// The stock that moved after row version `after`. The feed has no change time; a
    /// level is dated when it is read.
    func read(after: Int64?, checkpoint: (Int64) throws(ConnectorError) -> Void) throws(ConnectorError) {
        let code = global ? nil : try warehouseCode()
        var changedItems: [String] = [], changed: Set<String> = []
        try api.sync("sync/Inventory/StockPositions", after: after, select: Self.positionSelect, record: { row throws(ConnectorError) in
            guard let item = ExactReader.text(row, "ItemId"), let sku = ExactReader.text(row, "ItemCode") else { return }
            guard let code else {
                if changed.insert(item).inserted { changedItems.append(item) }
                return
            }
            guard ExactReader.text(row, "WarehouseCode") == code else { return }
            try api.host.emit(StockLevel(
                sourceKey: "\(sku)@\(code)", updatedAt: api.host.now, sku: sku, warehouse: code,
                quantity: ExactAPI.decimal(row["CurrentStock"]) ?? .zero))
        }, onPage: { version throws(ConnectorError) in
            try emitSums(of: changedItems)
            changedItems.removeAll()
            changed.removeAll()
            try checkpoint(version)
        })
    }

    /// The stock of the rows matching `conditions` (a webhook's item).
    func read(matching conditions: [String]) throws(ConnectorError) {
        var conditions = conditions
        if !global { conditions.append("WarehouseCode eq \(ExactAPI.quote(try warehouseCode()))") }
        var changedItems: [String] = []
        try api.each("inventory/ItemWarehouses", query: ["$select": Self.select, "$filter": conditions.joined(separator: " and ")], record: { record throws(ConnectorError) in
            guard let row = Row(record) else { return }
            if global {
                if !changedItems.contains(row.item) { changedItems.append(row.item) }
            } else {
                try api.host.emit(StockLevel(
                    sourceKey: "\(row.sku)@\(row.warehouse)", updatedAt: row.modified, sku: row.sku,
                    warehouse: row.warehouse, quantity: row.quantity))
            }
        })
        try emitSums(of: changedItems)
    }

    /// Emits the sum over all warehouses of each of `items` (GUIDs).
    private func emitSums(of items: [String]) throws(ConnectorError) {
        var rows: [String: [Row]] = [:]
        try api.each("inventory/ItemWarehouses", where: "Item", isAnyOf: items.map(ExactAPI.guid), query: ["$select": Self.select], record: { record in
            if let row = Row(record) { rows[row.item, default: []].append(row) }
        })
        for item in items {
            guard let itemRows = rows[item], let first = itemRows.first else { continue }
            try api.host.emit(StockLevel(
                sourceKey: first.sku, updatedAt: itemRows.map(\.modified).max() ?? first.modified, sku: first.sku,
                warehouse: nil, quantity: itemRows.reduce(DecimalNumber.zero) { $0 + $1.quantity }))
        }
    }

    /// The configured warehouse, else the one Exact marks as main (else the lowest code).
    private func warehouseCode() throws(ConnectorError) -> String {
        if let warehouse { return warehouse }
        var warehouses: [(code: String, main: Bool)] = []
        try api.each("inventory/Warehouses", query: ["$select": "Code,Main"], record: { record in
            guard let code = ExactReader.text(record, "Code") else { return }
            warehouses.append((code, ExactAPI.flag(record["Main"])))
        })
        guard let chosen = warehouses.first(where: \.main) ?? warehouses.min(by: { $0.code < $1.code }) else {
            throw .invalidData("Exact Online division \(api.division) has no warehouses to read stock from")
        }
        return chosen.code
    }
}
