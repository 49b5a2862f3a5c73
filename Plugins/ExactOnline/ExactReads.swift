import Foundation
import KoppelPluginSDK

/// A flow's `read_options` for Exact Online sources.
///
/// ```yaml
/// read_options: { stock: global }          # stock: the sum over all warehouses
/// read_options: { warehouse: "2" }         # stock: warehouse 2 only (the default is the main warehouse)
/// read_options: { statuses: [12, 20] }     # sales_orders: open and partly delivered only
/// ```
struct ExactReadOptions: Decodable {
    enum StockMode: String, Decodable {
        case warehouse, global
    }

    var stock: StockMode?
    var warehouse: String?
    var statuses: [Int]?

    enum CodingKeys: String, CodingKey {
        case stock, warehouse, statuses
    }

    init() {}

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        stock = try container.decodeIfPresent(StockMode.self, forKey: .stock)
        statuses = try container.decodeIfPresent([Int].self, forKey: .statuses)
        // `warehouse: 2` in YAML is a number; a warehouse code is text in Exact.
        if let number = try? container.decodeIfPresent(Int.self, forKey: .warehouse) {
            warehouse = String(number)
        } else {
            warehouse = try container.decodeIfPresent(String.self, forKey: .warehouse)
        }
    }
}

/// Exact Online as a source: accounts, items, sales orders, sales invoices, suppliers and
/// stock changed since the cursor, oldest first, as canonical records. An item Exact
/// assembles from others (`IsMakeItem`) is a composition.
///
/// Every stream is read through Exact's Sync API: a row-version cursor, 1000 rows a call,
/// only what changed (webhooks name one record, which is read from its entity set).
struct ExactReader {
    let api: ExactAPI
    let options: ExactReadOptions
    /// The connection's default sales order statuses (12 open, 20 partial, 21 complete).
    let salesOrderStatuses: [Int]?
    /// The connection's warehouse, the stock stream's default.
    let warehouse: String?
    /// The item codes Koppel books costs on (shipping, payment costs, discounts), which
    /// are not products.
    var costItems: Set<String> = []

    /// Where a read continues: the last `Modified` read (entity sets), or the last row
    /// version read (sync feeds; `links` is the second feed of the suppliers stream).
    struct Cursor: Codable {
        var modified: Date?
        var timestamp: Int64?
        var links: Int64?
        /// The last row version of `sync/Deleted` read (accounts and items).
        var deleted: Int64?
    }

    /// `sync/Deleted`'s entity type of each stream whose deletions are read (R-SYNC-2;
    /// the codes of Exact's documentation of the feed).
    static let deletedEntityTypes: [String: Int64] = ["accounts": 2, "items": 9]

    /// Before any record: where a first read starts.
    static let beginning = Date(timeIntervalSince1970: 0)

    /// Which changes a sync read passes on: a backfill's window, and for a cursor kept
    /// before the stream read its sync feed, what changed since that cursor.
    struct Window {
        var from: Date?
        var until: Date?

        func contains(_ modified: Date?) -> Bool {
            guard let modified else { return from == nil && until == nil }
            return from.map { modified >= $0 } ?? true && until.map { modified < $0 } ?? true
        }
    }

    func read(_ request: ReadRequest) throws(ConnectorError) {
        let host = api.host
        // A backfill (`--since`) comes without a cursor: each feed is read from its start,
        // keeping what changed in the window.
        let stored = try request.cursor(as: Cursor.self)
        let window = Window(from: request.since ?? (stored?.timestamp == nil && stored?.links == nil ? stored?.modified : nil), until: request.until)
        let after = stored?.timestamp
        switch request.stream {
        case "accounts":
            var cursor = Cursor(timestamp: after, deleted: stored?.deleted)
            try readAccounts(after: after, window: window, checkpoint: { version throws(ConnectorError) in
                cursor.timestamp = version
                try host.checkpoint(cursor)
            })
            try readDeletions(of: request.stream, after: stored?.deleted, checkpoint: { version throws(ConnectorError) in
                cursor.deleted = version
                try host.checkpoint(cursor)
            })
            return
        case "sales_invoices":
            try ExactSalesInvoiceReader(api: api).read(after: after, window: window, checkpoint: { version throws(ConnectorError) in
                try host.checkpoint(Cursor(timestamp: version))
            })
            return
        case "stock":
            try ExactStockReader(api: api, global: options.stock == .global, warehouse: options.warehouse ?? warehouse)
                .read(after: after, checkpoint: { version throws(ConnectorError) in try host.checkpoint(Cursor(timestamp: version)) })
            return
        case "suppliers":
            try ExactSupplierReader(api: api).read(after: (stored?.timestamp, stored?.links), window: window, checkpoint: { accounts, links throws(ConnectorError) in
                try host.checkpoint(Cursor(timestamp: accounts, links: links))
            })
            return
        case "items":
            var cursor = Cursor(timestamp: stored?.timestamp, links: stored?.links, deleted: stored?.deleted)
            try ExactItemReader(api: api, costItems: costItems).read(after: (stored?.timestamp, stored?.links), window: window, checkpoint: { items, prices throws(ConnectorError) in
                (cursor.timestamp, cursor.links) = (items, prices)
                try host.checkpoint(cursor)
            })
            try readDeletions(of: request.stream, after: stored?.deleted, checkpoint: { version throws(ConnectorError) in
                cursor.deleted = version
                try host.checkpoint(cursor)
            })
            return
        case "sales_orders":
            // A cursor from before the sync feeds holds the orders' `Modified`: the window
            // starts there, and payments are scanned from there.
            let cursor = ExactSalesOrderReader.SyncCursor(
                headers: stored?.timestamp, lines: stored?.links, paid: request.since ?? stored?.modified ?? Self.beginning)
            try ExactSalesOrderReader(api: api, statuses: options.statuses ?? salesOrderStatuses)
                .read(after: cursor, window: window, checkpoint: { next throws(ConnectorError) in
                    try host.checkpoint(Cursor(modified: next.paid, timestamp: next.headers, links: next.lines))
                })
            return
        default:
            throw .invalidData("exact-online cannot read stream \(request.stream)")
        }
    }

    static let accountSelect = "ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,Postcode,City,Country,VATNumber,ChamberOfCommerce,Language,Status,Modified"

    /// Customers (accounts of status C) from the accounts' sync feed; prospects,
    /// suspects and suppliers that buy nothing are not customers.
    private func readAccounts(after: Int64?, window: Window, checkpoint: (Int64) throws(ConnectorError) -> Void) throws(ConnectorError) {
        let host = api.host
        try api.sync("sync/CRM/Accounts", after: after, select: Self.accountSelect, record: { record throws(ConnectorError) in
            guard Self.text(record, "Status") == "C", let modified = try Self.modified(record, key: "ID", host: host), window.contains(modified) else { return }
            try host.emit(Self.customer(record, modified: modified))
        }, onPage: checkpoint)
    }

    /// The records of `stream` deleted since `after`, as deletions (R-SYNC-2: the sync
    /// feeds never show them; `sync/Deleted` keeps them about two months). The host drops
    /// those of records it never delivered.
    private func readDeletions(of stream: String, after: Int64?, checkpoint: (Int64) throws(ConnectorError) -> Void) throws(ConnectorError) {
        guard let type = Self.deletedEntityTypes[stream] else { return }
        let host = api.host
        try api.sync("sync/Deleted", after: after, select: "EntityKey,EntityType,DeletedDate", record: { row throws(ConnectorError) in
            guard ExactAPI.rowVersion(row["EntityType"]) == type, let key = Self.text(row, "EntityKey") else { return }
            try host.emitDeletion(key: key.lowercased(), at: ExactAPI.date(row["DeletedDate"]) ?? host.now)
        }, onPage: checkpoint)
    }

    /// A deletion a webhook announced (`Action: Delete`), for a stream whose deletions
    /// are read.
    func emitDeletion(_ stream: String, key: String) throws(ConnectorError) {
        guard Self.deletedEntityTypes[stream] != nil else { return }
        try api.host.emitDeletion(key: key.lowercased(), at: api.host.now)
    }

    /// Emits the one record a webhook names by its key (an item's key for stock), if it
    /// still exists and the stream takes it.
    func readOne(_ stream: String, key: String) throws(ConnectorError) {
        guard key.wholeMatch(of: /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/) != nil else {
            throw .invalidData("the webhook's key \(key) is not an Exact Online GUID")
        }
        let field = switch stream {
        case "sales_orders": "OrderID"
        case "sales_invoices": "InvoiceID"
        case "stock": "Item"
        default: "ID"
        }
        try emit(stream, matching: "\(field) eq guid'\(key)'")
    }

    /// Emits the records of `stream` that match `condition`, from its entity set.
    private func emit(_ stream: String, matching condition: String) throws(ConnectorError) {
        let host = api.host
        let conditions = [condition]
        switch stream {
        case "stock":
            try ExactStockReader(api: api, global: options.stock == .global, warehouse: options.warehouse ?? warehouse).read(matching: conditions)
            return
        case "sales_orders":
            try ExactSalesOrderReader(api: api, statuses: options.statuses ?? salesOrderStatuses).read(matching: conditions)
            return
        case "sales_invoices":
            try ExactSalesInvoiceReader(api: api).read(matching: conditions)
            return
        case "suppliers":
            throw .invalidData("suppliers are read from Exact's sync feeds, not one by one")
        default: break
        }
        let entitySet: String
        let select: String
        if stream == "accounts" {
            entitySet = "crm/Accounts"
            select = Self.accountSelect
        } else {
            entitySet = "logistics/Items"
            select = "ID,Code,Description,ExtraDescription,Barcode,StandardSalesPrice,CostPriceStandard,Unit,Stock,IsStockItem,IsMakeItem,Modified"
        }
        try api.each(entitySet, query: ["$select": select, "$filter": condition], record: { record throws(ConnectorError) in
            guard let modified = try Self.modified(record, key: "ID", host: host) else { return }
            if stream == "accounts" {
                guard Self.text(record, "Status") == "C" else { return }
                try host.emit(Self.customer(record, modified: modified))
            } else {
                if let code = Self.text(record, "Code"), costItems.contains(code) { return }
                try host.emit(Self.product(record, modified: modified))
            }
        })
    }

    /// A record's `Modified`, or nil after reporting the record unreadable under its
    /// `key` field: Exact always sets it, and a record without it cannot be placed in
    /// time, so it is parked rather than dropped.
    static func modified(_ record: ExactAPI.Record, key: String, host: PluginHost) throws(ConnectorError) -> Date? {
        if let modified = ExactAPI.date(record["Modified"]) { return modified }
        try host.emitUnreadable(sourceKey: text(record, key)?.lowercased() ?? "(no \(key))", reason: "$.Modified is missing or not a date")
        return nil
    }

    static func text(_ record: ExactAPI.Record, _ field: String) -> String? {
        guard let value = record[field]?.stringValue?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    /// An account as a canonical customer. Exact keeps one name per account: an account
    /// with a VAT or chamber of commerce number is a company, else a person whose name
    /// is split at the first space.
    static func customer(_ record: ExactAPI.Record, modified: Date) -> Customer {
        let name = text(record, "Name") ?? ""
        let isCompany = text(record, "VATNumber") != nil || text(record, "ChamberOfCommerce") != nil
        let parts = name.split(separator: " ", maxSplits: 1).map(String.init)
        let address = text(record, "Country").map {
            Address(street: text(record, "AddressLine1"), line2: text(record, "AddressLine2"), postcode: text(record, "Postcode"),
                    city: text(record, "City"), country: $0)
        }
        return Customer(
            sourceKey: text(record, "ID") ?? "", updatedAt: modified, kind: isCompany ? .company : .person,
            email: text(record, "Email")?.lowercased(), firstName: isCompany ? nil : parts.first,
            lastName: isCompany ? nil : (parts.count > 1 ? parts[1] : nil), companyName: isCompany ? name : nil,
            vatNumber: text(record, "VATNumber"), cocNumber: text(record, "ChamberOfCommerce"), phone: text(record, "Phone"),
            language: text(record, "Language")?.lowercased(), billingAddress: address)
    }

    static func product(_ record: ExactAPI.Record, modified: Date) -> Product {
        Product(
            sourceKey: text(record, "ID") ?? "", updatedAt: modified, sku: text(record, "Code") ?? "", ean: text(record, "Barcode"),
            kind: ExactAPI.flag(record["IsMakeItem"]) ? .composition : .simple, name: text(record, "Description") ?? "", description: text(record, "ExtraDescription"),
            priceExclVAT: ExactAPI.decimal(record["StandardSalesPrice"]), purchasePrice: ExactAPI.decimal(record["CostPriceStandard"]),
            stockQuantity: ExactAPI.decimal(record["Stock"]), unit: text(record, "Unit"))
    }
}
