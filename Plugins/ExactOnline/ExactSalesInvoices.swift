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

    static let select = "InvoiceID,InvoiceNumber,InvoiceDate,OrderNumber,Status,Currency,OrderedBy,OrderedByName,"
        + "AmountFCExclVat,VATAmountFC,AmountFC,PaymentCondition,Description,Modified,SalesInvoiceLines"

    func read(conditions: [String], seen: (Date) -> Void, checkpoint: () throws(ConnectorError) -> Void) throws(ConnectorError) {
        var query = ["$select": Self.select, "$expand": "SalesInvoiceLines", "$orderby": "Modified"]
        if !conditions.isEmpty { query["$filter"] = conditions.joined(separator: " and ") }
        var page: [ExactAPI.Record] = []
        try api.each("salesinvoice/SalesInvoices", query: query, record: { page.append($0) }, onPage: { () throws(ConnectorError) in
            let accounts = try ExactSalesOrderReader.accounts(page.compactMap { ExactReader.text($0, "OrderedBy") }, api: api)
            for record in page {
                guard let modified = ExactAPI.date(record["Modified"]) else { continue }
                try api.host.emit(Self.invoice(record, modified: modified, accounts: accounts))
                seen(modified)
            }
            page.removeAll()
            try checkpoint()
        })
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
