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

/// Exact Online as a source: accounts, items, sales orders, sales invoices, suppliers and stock
/// changed since the cursor (Exact's `Modified`), oldest first, as canonical records. An
/// item Exact assembles from others (`IsMakeItem`) is a composition.
struct ExactReader {
    let api: ExactAPI
    let options: ExactReadOptions
    /// The connection's default sales order statuses (12 open, 20 partial, 21 complete).
    let salesOrderStatuses: [Int]?
    /// The connection's warehouse, the stock stream's default.
    let warehouse: String?

    struct Cursor: Codable {
        var modified: Date
    }

    /// Before any record: where a first read starts.
    static let beginning = Date(timeIntervalSince1970: 0)

    func read(_ request: ReadRequest) throws(ConnectorError) {
        let host = api.host
        let stored = try request.cursor(as: Cursor.self)
        var conditions: [String] = []
        // `ge`, not `gt`: a record committed later in the cursor's millisecond is still
        // read; the one read last time comes again and the ledger absorbs it.
        // Always a filter on `Modified`: Exact refuses a collection read of these entity
        // sets without one of their filter fields (R-FILTER-1), a first read included.
        let after = request.since ?? stored?.modified ?? Self.beginning
        conditions.append("Modified ge \(ExactAPI.datetime(after))")
        if let until = request.until { conditions.append("Modified lt \(ExactAPI.datetime(until))") }
        var latest = stored?.modified
        try emit(request.stream, conditions: conditions, scanPayments: true, seen: { modified in
            if latest.map({ modified > $0 }) ?? true { latest = modified }
        }, checkpoint: { () throws(ConnectorError) in
            if let latest { try host.checkpoint(Cursor(modified: latest)) }
        })
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
        try emit(stream, conditions: ["\(field) eq guid'\(key)'"], seen: { _ in }, checkpoint: {})
    }

    /// Emits the records of `stream` that match `conditions`, oldest change first.
    private func emit(
        _ stream: String, conditions: [String], scanPayments: Bool = false, seen: @escaping (Date) -> Void, checkpoint: () throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        let host = api.host
        switch stream {
        case "stock":
            try ExactStockReader(api: api, global: options.stock == .global, warehouse: options.warehouse ?? warehouse)
                .read(conditions: conditions, seen: seen, checkpoint: checkpoint)
            return
        case "sales_orders":
            try ExactSalesOrderReader(api: api, statuses: options.statuses ?? salesOrderStatuses)
                .read(conditions: conditions, scanPayments: scanPayments, seen: seen, checkpoint: checkpoint)
            return
        case "sales_invoices":
            try ExactSalesInvoiceReader(api: api).read(conditions: conditions, seen: seen, checkpoint: checkpoint)
            return
        case "suppliers":
            try ExactSupplierReader(api: api).read(conditions: conditions, seen: seen, checkpoint: checkpoint)
            return
        default: break
        }
        let entitySet: String
        let select: String
        var query: [String: String] = ["$orderby": "Modified"]
        if stream == "accounts" {
            entitySet = "crm/Accounts"
            select = "ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,Postcode,City,Country,VATNumber,ChamberOfCommerce,Language,Modified"
        } else {
            entitySet = "logistics/Items"
            select = "ID,Code,Description,ExtraDescription,Barcode,StandardSalesPrice,CostPriceStandard,Unit,Stock,IsStockItem,IsMakeItem,Modified"
        }
        query["$select"] = select
        if !conditions.isEmpty { query["$filter"] = conditions.joined(separator: " and ") }
        try api.each(entitySet, query: query, record: { record throws(ConnectorError) in
            guard let modified = ExactAPI.date(record["Modified"]) else { return }
            if stream == "accounts" {
                try host.emit(Self.customer(record, modified: modified))
            } else {
                try host.emit(Self.product(record, modified: modified))
            }
            seen(modified)
        }, onPage: checkpoint)
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
