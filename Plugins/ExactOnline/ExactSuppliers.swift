import Foundation
import KoppelPluginSDK

/// Exact Online suppliers (`crm/Accounts` with `IsSupplier`) with the items each supplies
/// (`logistics/SupplierItem`: the supplier's code, purchase price, minimum quantity, lead
/// time, main supplier).
///
/// A supplier is emitted whole whenever its account or any of its item links changed
/// since the cursor. Both are asked what changed through their sync feeds; Exact filters
/// supplier items on nothing but `ID` (R-FILTER-2), so a supplier's links come from the
/// whole supplier-item feed (1000 a call), read only when some supplier changed.
struct ExactSupplierReader {
    let api: ExactAPI

    static let accountSelect = "ID,Code,Name,Email,Phone,Modified"
    static let linkSelect = "ID,Item,ItemCode,Supplier,SupplierItemCode,PurchasePrice,Currency,MinimumQuantity,PurchaseLeadTime,MainSupplier,Modified"

    /// `after`: the row versions read last of the accounts and of the supplier items;
    /// `checkpoint` gets the new ones.
    func read(
        after: (accounts: Int64?, links: Int64?), window: ExactReader.Window,
        checkpoint: (Int64, Int64) throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        var changed: Set<String> = []
        var accountsRead = after.accounts ?? 1, linksRead = after.links ?? 1
        try api.sync("sync/CRM/Accounts", after: after.accounts, select: "ID,IsSupplier,Modified", record: { account in
            if ExactAPI.flag(account["IsSupplier"]), window.contains(ExactAPI.date(account["Modified"])), let id = ExactReader.text(account, "ID") {
                changed.insert(id.lowercased())
            }
        }, onPage: { accountsRead = $0 })
        var links: [String: [ExactAPI.Record]] = [:]
        try api.sync("sync/Logistics/SupplierItem", after: after.links, select: Self.linkSelect, record: { link in
            guard let supplier = ExactReader.text(link, "Supplier")?.lowercased() else { return }
            if window.contains(ExactAPI.date(link["Modified"])) { changed.insert(supplier) }
            links[supplier, default: []].append(link)
        }, onPage: { linksRead = $0 })
        if !changed.isEmpty, after.links != nil {
            // Some links of a changed supplier may be older than the cursor: read them all.
            links = [:]
            try api.sync("sync/Logistics/SupplierItem", after: nil, select: Self.linkSelect, record: { link in
                if let supplier = ExactReader.text(link, "Supplier")?.lowercased(), changed.contains(supplier) { links[supplier, default: []].append(link) }
            })
        }
        var accounts: [ExactAPI.Record] = []
        try api.each("crm/Accounts", where: "ID", isAnyOf: changed.sorted().map(ExactAPI.guid), query: ["$select": Self.accountSelect], record: { accounts.append($0) })
        for account in accounts {  // a supplier deleted since is not among them
            try api.host.emit(Self.supplier(account, links: links[(ExactReader.text(account, "ID") ?? "").lowercased()] ?? []))
        }
        try checkpoint(accountsRead, linksRead)
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
