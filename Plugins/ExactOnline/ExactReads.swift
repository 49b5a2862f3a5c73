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

/// Exact Online as a source: accounts, items, sales orders and stock changed since the
/// cursor (Exact's `Modified`), oldest first, as canonical records.
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

    func read(_ request: ReadRequest) throws(ConnectorError) {
        let host = api.host
        let stored = try request.cursor(as: Cursor.self)
        var conditions: [String] = []
        // `ge`, not `gt`: a record committed later in the cursor's millisecond is still
        // read; the one read last time comes again and the ledger absorbs it.
        if let after = request.since ?? stored?.modified {
            conditions.append("Modified ge \(ExactAPI.datetime(after))")
        }
        if let until = request.until { conditions.append("Modified lt \(ExactAPI.datetime(until))") }
        var latest = stored?.modified
        try emit(request.stream, conditions: conditions, seen: { modified in
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
        case "stock": "Item"
        default: "ID"
        }
        try emit(stream, conditions: ["\(field) eq guid'\(key)'"], seen: { _ in }, checkpoint: {})
    }

    /// Emits the records of `stream` that match `conditions`, oldest change first.
    private func emit(
        _ stream: String, conditions: [String], seen: @escaping (Date) -> Void, checkpoint: () throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        let host = api.host
        var conditions = conditions
        if stream == "stock" {
            try ExactStockReader(api: api, global: options.stock == .global, warehouse: options.warehouse ?? warehouse)
                .read(conditions: conditions, seen: seen, checkpoint: checkpoint)
            return
        }
        let entitySet: String
        let select: String
        var query: [String: String] = ["$orderby": "Modified"]
        switch stream {
        case "accounts":
            entitySet = "crm/Accounts"
            select = "ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,Postcode,City,Country,VATNumber,ChamberOfCommerce,Language,Modified"
        case "items":
            entitySet = "logistics/Items"
            select = "ID,Code,Description,ExtraDescription,Barcode,StandardSalesPrice,CostPriceStandard,Unit,Stock,IsStockItem,Modified"
        default:
            entitySet = "salesorder/SalesOrders"
            select = "OrderID,OrderNumber,YourRef,OrderDate,Status,Currency,OrderedBy,OrderedByName,AmountFCExclVat,VATAmount,AmountFC,PaymentCondition,Description,Modified,SalesOrderLines"
            query["$expand"] = "SalesOrderLines"
            if let statuses = options.statuses ?? salesOrderStatuses, !statuses.isEmpty {
                conditions.append("(" + statuses.map { "Status eq \($0)" }.joined(separator: " or ") + ")")
            }
        }
        query["$select"] = select
        if !conditions.isEmpty { query["$filter"] = conditions.joined(separator: " and ") }
        try api.each(entitySet, query: query, record: { record throws(ConnectorError) in
            guard let modified = ExactAPI.date(record["Modified"]) else { return }
            switch stream {
            case "accounts": try host.emit(Self.customer(record, modified: modified))
            case "items": try host.emit(Self.product(record, modified: modified))
            default: try host.emit(Self.salesOrder(record, modified: modified))
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
            name: text(record, "Description") ?? "", description: text(record, "ExtraDescription"),
            priceExclVAT: ExactAPI.decimal(record["StandardSalesPrice"]), purchasePrice: ExactAPI.decimal(record["CostPriceStandard"]),
            stockQuantity: ExactAPI.decimal(record["Stock"]), unit: text(record, "Unit"))
    }

    /// A sales order as a canonical order (the buyer by account GUID and name; amounts
    /// as Exact computed them).
    static func salesOrder(_ record: ExactAPI.Record, modified: Date) -> Order {
        var lineRecords: [JSONValue] = []
        if case .array(let list)? = record["SalesOrderLines"] { lineRecords = list }
        if case .object(let wrapped)? = record["SalesOrderLines"], case .array(let list)? = wrapped["results"] { lineRecords = list }
        let lines: [OrderLine] = lineRecords.compactMap { value in
            guard case .object(let line) = value else { return nil }
            let amount = ExactAPI.decimal(line["AmountFC"]) ?? .zero
            let vat = ExactAPI.decimal(line["VATAmount"]) ?? ExactAPI.decimal(line["VATAmountFC"]) ?? .zero
            let percentage = ExactAPI.decimal(line["VATPercentage"]).map { DecimalNumber($0.value * 100).rounded(2) } ?? .zero
            return OrderLine(
                sku: text(line, "ItemCode"), name: text(line, "Description") ?? text(line, "ItemDescription") ?? "",
                quantity: ExactAPI.decimal(line["Quantity"]) ?? 1, unitPrice: ExactAPI.decimal(line["UnitPrice"]) ?? amount,
                vatRate: percentage, vatAmount: vat, total: amount)
        }
        let statuses: [Int64: Order.Status] = [12: .processing, 20: .processing, 21: .completed, 45: .cancelled]
        var status = Order.Status.processing
        if case .int(let code)? = record["Status"] { status = statuses[code] ?? .processing }
        let net = ExactAPI.decimal(record["AmountFCExclVat"]) ?? lines.reduce(.zero) { $0 + $1.total }
        let vat = ExactAPI.decimal(record["VATAmount"]) ?? lines.reduce(.zero) { $0 + $1.vatAmount }
        let number: String
        if case .int(let n)? = record["OrderNumber"] { number = String(n) } else { number = text(record, "OrderNumber") ?? "" }
        let buyer = Customer(sourceKey: text(record, "OrderedBy") ?? "", updatedAt: modified, kind: .company, companyName: text(record, "OrderedByName"))
        return Order(
            sourceKey: text(record, "OrderID") ?? "", updatedAt: modified, number: number,
            createdAt: ExactAPI.date(record["OrderDate"]) ?? modified, status: status, currency: text(record, "Currency") ?? "EUR",
            pricesIncludeVAT: false, customer: buyer, billingAddress: Address(country: ""), lines: lines,
            paymentMethod: text(record, "PaymentCondition"), note: text(record, "Description"),
            totals: Totals(lines: net, shipping: .zero, paymentCosts: .zero, discount: .zero, vat: vat, total: ExactAPI.decimal(record["AmountFC"]) ?? net + vat))
    }
}
