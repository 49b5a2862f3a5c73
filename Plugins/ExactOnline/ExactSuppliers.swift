import Foundation
import KoppelPluginSDK

/// Exact Online suppliers (`crm/Accounts` with `IsSupplier`) with the items each supplies
/// (`logistics/SupplierItem`: the supplier's code, purchase price, minimum quantity, lead
/// time, main supplier).
///
/// A supplier is emitted whole whenever its account or any of its item links changed
/// since the cursor: both are asked what changed, and each changed supplier is then read
/// with all its links, a few suppliers per call, so an unchanged supplier costs nothing.
struct ExactSupplierReader {
    let api: ExactAPI

    static let accountSelect = "ID,Code,Name,Email,Phone,Modified"
    static let linkSelect = "ID,Item,ItemCode,Supplier,SupplierCode,PurchasePrice,PurchaseCurrency,MinimumQuantity,PurchaseLeadTime,MainSupplier,Modified"

    func read(conditions: [String], seen: (Date) -> Void, checkpoint: () throws(ConnectorError) -> Void) throws(ConnectorError) {
        var changed: [String] = []
        func note(_ id: String?) {
            if let id = id?.lowercased(), !changed.contains(id) { changed.append(id) }
        }
        let accountFilter = (["IsSupplier eq true"] + conditions).joined(separator: " and ")
        try api.each("crm/Accounts", query: ["$filter": accountFilter, "$select": "ID"], record: { note(ExactReader.text($0, "ID")) })
        var linkQuery = ["$select": "Supplier"]
        if !conditions.isEmpty { linkQuery["$filter"] = conditions.joined(separator: " and ") }
        try api.each("logistics/SupplierItem", query: linkQuery, record: { note(ExactReader.text($0, "Supplier")) })
        for chunk in changed.chunked(ExactSalesOrderReader.batch) {
            var accounts: [String: ExactAPI.Record] = [:]
            try api.each("crm/Accounts", query: [
                "$filter": chunk.map { "ID eq guid'\($0)'" }.joined(separator: " or "), "$select": Self.accountSelect,
            ], record: { account in
                if let id = ExactReader.text(account, "ID") { accounts[id.lowercased()] = account }
            })
            var links: [String: [ExactAPI.Record]] = [:]
            try api.each("logistics/SupplierItem", query: [
                "$filter": chunk.map { "Supplier eq guid'\($0)'" }.joined(separator: " or "), "$select": Self.linkSelect,
            ], record: { link in
                if let supplier = ExactReader.text(link, "Supplier") { links[supplier.lowercased(), default: []].append(link) }
            })
            for id in chunk {
                guard let account = accounts[id] else { continue }  // deleted since
                let supplier = Self.supplier(account, links: links[id] ?? [])
                try api.host.emit(supplier)
                seen(supplier.updatedAt)
            }
        }
        try checkpoint()
    }

    static func supplier(_ account: ExactAPI.Record, links: [ExactAPI.Record]) -> Supplier {
        let text = ExactReader.text
        let modified = ([account] + links).compactMap { ExactAPI.date($0["Modified"]) }.max() ?? .distantPast
        let products: [Supplier.SuppliedProduct] = links.compactMap { link in
            guard let sku = text(link, "ItemCode") else { return nil }
            var leadTime: Int?
            if case .int(let days)? = link["PurchaseLeadTime"] { leadTime = Int(days) }
            return Supplier.SuppliedProduct(
                sku: sku, supplierSKU: text(link, "SupplierCode"), purchasePrice: ExactAPI.decimal(link["PurchasePrice"]),
                currency: text(link, "PurchaseCurrency"), minimumQuantity: ExactAPI.decimal(link["MinimumQuantity"]),
                leadTimeDays: leadTime, preferred: link["MainSupplier"] == .bool(true))
        }.sorted { $0.sku < $1.sku }
        return Supplier(
            sourceKey: text(account, "ID") ?? "", updatedAt: modified, code: text(account, "Code"), name: text(account, "Name") ?? "",
            email: text(account, "Email")?.lowercased(), phone: text(account, "Phone"), products: products)
    }
}
