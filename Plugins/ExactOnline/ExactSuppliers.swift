import Foundation
import KoppelPluginSDK

/// Exact Online suppliers (`crm/Accounts` with `IsSupplier`) with the items each supplies
/// (`logistics/SupplierItem`: the supplier's code, purchase price, minimum quantity, lead
/// time, main supplier).
///
/// A supplier is emitted whole whenever its account or any of its item links changed
/// since the cursor: both are asked what changed, and the changed suppliers are then read
/// with all their links, a few suppliers per call, so an unchanged supplier costs nothing.
struct ExactSupplierReader {
    let api: ExactAPI

    static let accountSelect = "ID,Code,Name,Email,Phone,Modified"
    static let linkSelect = "ID,Item,ItemCode,Supplier,SupplierItemCode,PurchasePrice,Currency,MinimumQuantity,PurchaseLeadTime,MainSupplier,Modified"

    func read(conditions: [String], seen: (Date) -> Void, checkpoint: () throws(ConnectorError) -> Void) throws(ConnectorError) {
        var changed: Set<String> = []
        let accountFilter = (["IsSupplier eq true"] + conditions).joined(separator: " and ")
        try api.each("crm/Accounts", query: ["$filter": accountFilter, "$select": "ID"], record: { account in
            if let id = ExactReader.text(account, "ID") { changed.insert(id.lowercased()) }
        })
        var linkQuery = ["$select": "Supplier"]
        if !conditions.isEmpty { linkQuery["$filter"] = conditions.joined(separator: " and ") }
        try api.each("logistics/SupplierItem", query: linkQuery, record: { link in
            if let id = ExactReader.text(link, "Supplier") { changed.insert(id.lowercased()) }
        })
        let suppliers = changed.map(ExactAPI.guid)
        var accounts: [ExactAPI.Record] = []
        try api.each("crm/Accounts", where: "ID", isAnyOf: suppliers, query: ["$select": Self.accountSelect], record: { accounts.append($0) })
        var links: [String: [ExactAPI.Record]] = [:]
        try api.each("logistics/SupplierItem", where: "Supplier", isAnyOf: suppliers, query: ["$select": Self.linkSelect], record: { link in
            if let supplier = ExactReader.text(link, "Supplier") { links[supplier.lowercased(), default: []].append(link) }
        })
        for account in accounts {  // a supplier deleted since is not among them
            let supplier = Self.supplier(account, links: links[(ExactReader.text(account, "ID") ?? "").lowercased()] ?? [])
            try api.host.emit(supplier)
            seen(supplier.updatedAt)
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
                sku: sku, supplierSKU: text(link, "SupplierItemCode"), purchasePrice: ExactAPI.decimal(link["PurchasePrice"]),
                currency: text(link, "Currency"), minimumQuantity: ExactAPI.decimal(link["MinimumQuantity"]),
                leadTimeDays: leadTime, preferred: ExactAPI.flag(link["MainSupplier"]))
        }.sorted { $0.sku < $1.sku }
        return Supplier(
            sourceKey: text(account, "ID") ?? "", updatedAt: modified, code: text(account, "Code"), name: text(account, "Name") ?? "",
            email: text(account, "Email")?.lowercased(), phone: text(account, "Phone"), products: products)
    }
}
