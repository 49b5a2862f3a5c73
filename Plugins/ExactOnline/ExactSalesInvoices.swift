import Foundation
import KoppelPluginSDK

/// Exact Online sales invoices as canonical orders: the sales history for a planner that
/// counts what was invoiced rather than what was ordered.
///
/// An invoice made from a sales order names that order on its lines (`SalesOrder`); the
/// record carries it as `sales_order_key`, so a target that already holds the order (a
/// flow switched from sales orders to sales invoices) does not count the same sales
/// twice. Number and date are the invoice's; status is completed.
struct ExactSalesInvoiceReader {
    let api: ExactAPI
    private let accountCache = ExactAccountCache()

    static let select = "InvoiceID,InvoiceNumber,InvoiceDate,OrderNumber,Status,Currency,OrderedBy,OrderedByName,"
        + "AmountFCExclVat,VATAmountFC,AmountFC,PaymentCondition,Description,Modified,SalesInvoiceLines"

    /// The sync feed's columns: the header's on row 0, a line's (with the header's) on the others.
    static let syncSelect = "InvoiceID,LineNumber,InvoiceNumber,InvoiceDate,OrderNumber,Status,Currency,OrderedBy,OrderedByName,"
        + "AmountFCExclVat,VATAmountFC,AmountFC,PaymentCondition,Description,Modified,ItemCode,ItemDescription,Quantity,UnitPrice,VATPercentage,SalesOrder"

    /// Invoices changed after row version `after`, from `sync/SalesInvoice/SalesInvoices`,
    /// where each invoice is its header row (`LineNumber` 0) and its line rows (R-SYNC-4).
    /// An invoice is emitted once all its rows are read: the one a page ends in waits for
    /// the next page, and the checkpoint stays before its first row.
    func read(after: Int64?, window: ExactReader.Window, checkpoint: (Int64) throws(ConnectorError) -> Void) throws(ConnectorError) {
        var invoices: [String: (header: ExactAPI.Record?, lines: [ExactAPI.Record], first: Int64)] = [:]
        var order: [String] = []
        var last: String?
        func flush(keeping kept: String?) throws(ConnectorError) {
            let ready = Set(order.filter { $0 != kept })
            var records: [ExactAPI.Record] = []
            for id in order where ready.contains(id) {
                guard let invoice = invoices.removeValue(forKey: id), var header = invoice.header else { continue }
                let lines = invoice.lines.sorted { (ExactAPI.rowVersion($0["LineNumber"]) ?? 0) < (ExactAPI.rowVersion($1["LineNumber"]) ?? 0) }
                header["SalesInvoiceLines"] = .object(["results": .array(lines.map(JSONValue.object))])
                if window.contains(ExactAPI.date(header["Modified"])) { records.append(header) }
            }
            order.removeAll { ready.contains($0) }
            try emit(records)
        }
        var highest = after ?? 1
        try api.sync("sync/SalesInvoice/SalesInvoices", after: after, select: Self.syncSelect, record: { row in
            guard let id = ExactReader.text(row, "InvoiceID")?.lowercased() else { return }
            let version = ExactAPI.rowVersion(row["Timestamp"]) ?? 0
            if invoices[id] == nil {
                invoices[id] = (nil, [], version)
                order.append(id)
            }
            if ExactAPI.rowVersion(row["LineNumber"]) ?? 0 == 0 { invoices[id]?.header = row } else { invoices[id]?.lines.append(row) }
            last = id
        }, onPage: { version throws(ConnectorError) in
            highest = version
            try flush(keeping: last)
            try checkpoint(last.flatMap { invoices[$0]?.first }.map { $0 - 1 } ?? version)
        })
        try flush(keeping: nil)
        try checkpoint(highest)
    }

    /// Emits invoices (headers with their lines) with their buyers' accounts.
    private func emit(_ records: [ExactAPI.Record]) throws(ConnectorError) {
        guard !records.isEmpty else { return }
        let accounts = try accountCache.accounts(records.compactMap { ExactReader.text($0, "OrderedBy") }, api: api)
        for record in records {
            guard let modified = try ExactReader.modified(record, key: "InvoiceID", host: api.host) else { continue }
            try api.host.emit(Self.invoice(record, modified: modified, accounts: accounts))
        }
    }

    /// The invoices matching `conditions` (a webhook's key), from the entity set.
    func read(matching conditions: [String]) throws(ConnectorError) {
        var records: [ExactAPI.Record] = []
        try api.each("salesinvoice/SalesInvoices", query: [
            "$select": Self.select, "$expand": "SalesInvoiceLines", "$filter": conditions.joined(separator: " and "),
        ], record: { records.append($0) })
        try emit(records)
    }

    static func invoice(_ record: ExactAPI.Record, modified: Date, accounts: [String: ExactAPI.Record]) -> Order {
        let text = ExactReader.text
        let lines = ExactSalesOrderReader.lines(record, property: "SalesInvoiceLines")
        let net = ExactAPI.decimal(record["AmountFCExclVat"]) ?? lines.reduce(.zero) { $0 + $1.total }
        let vat = ExactAPI.decimal(record["VATAmountFC"]) ?? lines.reduce(.zero) { $0 + $1.vatAmount }
        var order = Order(
            sourceKey: text(record, "InvoiceID") ?? "", updatedAt: modified,
            number: ExactSalesOrderReader.number(record["InvoiceNumber"]) ?? "",
            createdAt: ExactAPI.date(record["InvoiceDate"]) ?? modified, status: .completed, currency: text(record, "Currency") ?? "EUR",
            pricesIncludeVAT: false, customer: ExactSalesOrderReader.buyer(record, modified: modified, accounts: accounts),
            billingAddress: ExactSalesOrderReader.address(accounts[(text(record, "OrderedBy") ?? "").lowercased()])
                ?? Address(name: text(record, "OrderedByName"), country: ""),
            lines: lines, paymentMethod: text(record, "PaymentCondition"), note: text(record, "Description"),
            totals: Totals(lines: net, shipping: .zero, paymentCosts: .zero, discount: .zero, vat: vat, total: ExactAPI.decimal(record["AmountFC"]) ?? net + vat))
        order.salesOrderKey = salesOrder(of: record)
        return order
    }

    /// The sales order the invoice bills, from the first line that names one.
    private static func salesOrder(of record: ExactAPI.Record) -> String? {
        ExactAPI.expanded(record, "SalesInvoiceLines").lazy.compactMap { ExactReader.text($0, "SalesOrder") }.first
    }
}
