import Foundation
import KoppelPluginSDK

/// Exact Online sales orders as canonical orders, each with its buyer's account (email,
/// address, company or person) and whether it is paid.
///
/// Exact's sales order carries no payment state. An order counts as paid when it has been
/// invoiced (invoice lines that name it, `SalesInvoiceLines.SalesOrder`) and every
/// receivable of those invoices is fully paid (`cashflow/Receivables.IsFullyPaid`; an
/// invoice has one once processed, R-BIZ-1); `paid_at` is the latest change of
/// those receivables. A payment does not touch the order's `Modified`, so each read also
/// asks which receivables were paid since the cursor and emits their orders again; the
/// ledger absorbs what was already delivered.
///
/// Status: cancelled (45) stays cancelled; otherwise paid comes before Exact's own
/// status (12 open and 20 partly delivered: processing, 21 delivered: completed).
struct ExactSalesOrderReader {
    let api: ExactAPI
    /// Exact statuses to read (12, 20, 21, 45), nil for all.
    let statuses: [Int]?
    private let accountCache = ExactAccountCache()

    typealias Record = ExactAPI.Record

    static let select = "OrderID,OrderNumber,YourRef,OrderDate,Status,Currency,OrderedBy,OrderedByName,"
        + "OrderedByContactPersonFullName,DeliverTo,AmountFCExclVat,AmountFC,PaymentCondition,Description,Modified,SalesOrderLines"
    static let accountSelect = "ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,Postcode,City,Country,VATNumber,ChamberOfCommerce,Language,Modified"

    private var statusCondition: String? {
        guard let statuses, !statuses.isEmpty else { return nil }
        return "(" + statuses.map { "Status eq \($0)" }.joined(separator: " or ") + ")"
    }

    private func query(_ conditions: [String]) -> [String: String] {
        var query = ["$select": Self.select, "$expand": "SalesOrderLines"]
        let all = conditions + [statusCondition].compactMap { $0 }
        if !all.isEmpty { query["$filter"] = all.joined(separator: " and ") }
        return query
    }

    /// Orders emitted together: their accounts and payments are looked up in one go
    /// (about 60 GUIDs a call), so a larger batch costs fewer calls per order.
    static let batch = 240

    static let syncHeaderSelect = "OrderID,OrderNumber,YourRef,OrderDate,Status,Currency,OrderedBy,OrderedByName,"
        + "OrderedByContactPersonFullName,DeliverTo,AmountFCExclVat,AmountFC,PaymentCondition,Description,Modified"
    static let lineSelect = "ID,OrderID,LineNumber,ItemCode,Description,ItemDescription,Quantity,UnitPrice,AmountFC,VATAmount,VATPercentage"

    /// Where a sync read of sales orders continues: the row versions read last of the
    /// headers and of the lines feeds, and the last payment seen.
    struct SyncCursor {
        var headers: Int64?
        var lines: Int64?
        var paid: Date?
    }

    /// The orders whose header or lines changed after the cursor, through the Sync API
    /// (`sync/SalesOrder/SalesOrderHeaders` and `…/SalesOrderLines`, 1000 rows a call),
    /// first those paid since the last payment seen. An order whose lines changed but
    /// not its header gets its header from the bulk feed; a changed order's unchanged
    /// lines are not in the lines feed, so after a first read every changed order's lines
    /// are read whole from the bulk feed (a first read has them all).
    func read(after cursor: SyncCursor, window: ExactReader.Window, checkpoint: (SyncCursor) throws(ConnectorError) -> Void) throws(ConnectorError) {
        let (paidOrders, paid) = try emitNewlyPaid(since: cursor.paid.map { "Modified ge \(ExactAPI.datetime($0))" })
        var next = SyncCursor(headers: cursor.headers, lines: cursor.lines, paid: paid ?? cursor.paid)
        var headers: [String: Record] = [:], lines: [String: [String: Record]] = [:]
        var changed: [String] = []
        func note(_ id: String) { if headers[id] == nil && lines[id] == nil { changed.append(id) } }
        try api.sync("sync/SalesOrder/SalesOrderHeaders", after: cursor.headers, select: Self.syncHeaderSelect, record: { row in
            guard let id = ExactReader.text(row, "OrderID")?.lowercased() else { return }
            note(id)
            headers[id] = row
        }, onPage: { next.headers = $0 })
        try api.sync("sync/SalesOrder/SalesOrderLines", after: cursor.lines, select: Self.lineSelect, record: { row in
            guard let id = ExactReader.text(row, "OrderID")?.lowercased(), let line = ExactReader.text(row, "ID") else { return }
            note(id)
            lines[id, default: [:]][line] = row
        }, onPage: { next.lines = $0 })
        let headerless = changed.filter { headers[$0] == nil }
        try api.each("bulk/SalesOrder/SalesOrders", where: "OrderID", isAnyOf: headerless.map(ExactAPI.guid), query: ["$select": Self.syncHeaderSelect], record: { row in
            if let id = ExactReader.text(row, "OrderID")?.lowercased() { headers[id] = row }
        })
        if cursor.lines != nil, !changed.isEmpty {
            try api.each("bulk/SalesOrder/SalesOrderLines", where: "OrderID", isAnyOf: changed.map(ExactAPI.guid), query: ["$select": Self.lineSelect], record: { row in
                guard let id = ExactReader.text(row, "OrderID")?.lowercased(), let line = ExactReader.text(row, "ID") else { return }
                lines[id, default: [:]][line] = row
            })
        }
        var page: [Record] = []
        for id in changed where !paidOrders.contains(id) {
            guard var header = headers[id], window.contains(ExactAPI.date(header["Modified"])) else { continue }
            if let statuses, !statuses.isEmpty {
                guard case .int(let status)? = header["Status"], statuses.contains(Int(status)) else { continue }
            }
            let ordered = (lines[id] ?? [:]).values.sorted { (ExactAPI.rowVersion($0["LineNumber"]) ?? 0) < (ExactAPI.rowVersion($1["LineNumber"]) ?? 0) }
            header["SalesOrderLines"] = .object(["results": .array(ordered.map(JSONValue.object))])
            page.append(header)
            if page.count == Self.batch {
                try emit(page)
                page.removeAll()
            }
        }
        try emit(page)
        try checkpoint(next)
    }

    /// The orders matching `conditions` (a webhook's key), from the entity set.
    func read(matching conditions: [String]) throws(ConnectorError) {
        var page: [Record] = []
        try api.each("salesorder/SalesOrders", query: query(conditions), record: { page.append($0) }, onPage: { () throws(ConnectorError) in
            try emit(page)
            page.removeAll()
        })
    }

    /// Emits the orders whose invoices were paid since `since` (all paid ones without it);
    /// returns their IDs (lower case) and the latest payment's change.
    private func emitNewlyPaid(since: String?) throws(ConnectorError) -> (emitted: Set<String>, latest: Date?) {
        var paidInvoices: [String] = []
        var latest: Date?
        let filter = (["IsFullyPaid eq true"] + [since].compactMap { $0 }).joined(separator: " and ")
        try api.each("cashflow/Receivables", query: ["$filter": filter, "$select": "InvoiceNumber,Modified"], record: { receivable in
            if let number = Self.number(receivable["InvoiceNumber"]) { paidInvoices.append(number) }
            if let modified = ExactAPI.date(receivable["Modified"]), latest.map({ modified > $0 }) ?? true { latest = modified }
        })
        var invoiceIDs: [String] = []
        try api.each("salesinvoice/SalesInvoices", where: "InvoiceNumber", isAnyOf: paidInvoices, query: ["$select": "InvoiceID"], record: { invoice in
            if let id = ExactReader.text(invoice, "InvoiceID") { invoiceIDs.append(ExactAPI.guid(id)) }
        })
        var orderIDs: Set<String> = []
        try api.each("salesinvoice/SalesInvoiceLines", where: "InvoiceID", isAnyOf: invoiceIDs, query: ["$select": "SalesOrder"], record: { line in
            if let order = ExactReader.text(line, "SalesOrder") { orderIDs.insert(ExactAPI.guid(order.lowercased())) }
        })
        // Emitted a page at a time: a first read may bring the whole paid history.
        var emitted: Set<String> = []
        var page: [Record] = []
        func flush() throws(ConnectorError) {
            try emit(page)
            emitted.formUnion(page.compactMap { ExactReader.text($0, "OrderID")?.lowercased() })
            page.removeAll()
        }
        try api.each("salesorder/SalesOrders", where: "OrderID", isAnyOf: Array(orderIDs), query: query([]), record: { order throws(ConnectorError) in
            page.append(order)
            if page.count >= Self.batch { try flush() }
        })
        try flush()
        return (emitted, latest)
    }

    /// Emits one page of orders with their accounts and payment state.
    private func emit(_ page: [Record]) throws(ConnectorError) {
        guard !page.isEmpty else { return }
        let accounts = try accountCache.accounts(page.flatMap { [ExactReader.text($0, "OrderedBy"), ExactReader.text($0, "DeliverTo")] }.compactMap { $0 }, api: api)
        let payments = try self.payments(page.compactMap { ExactReader.text($0, "OrderID")?.lowercased() })
        for record in page {
            guard let modified = try ExactReader.modified(record, key: "OrderID", host: api.host) else { continue }
            let paidAt = ExactReader.text(record, "OrderID").flatMap { payments[$0.lowercased()] }
            try api.host.emit(Self.order(record, modified: modified, accounts: accounts, paidAt: paidAt))
        }
    }


    /// When each of these orders (by lower-case GUID) was paid: the invoices made from it
    /// (their lines name it, `SalesInvoiceLines.SalesOrder`, which Exact sets itself)
    /// have receivables, all fully paid. Unpaid orders are absent.
    private func payments(_ orders: [String]) throws(ConnectorError) -> [String: Date] {
        var invoicesOfID: [String: Set<String>] = [:]
        try api.each("salesinvoice/SalesInvoiceLines", where: "SalesOrder", isAnyOf: orders.map(ExactAPI.guid), query: ["$select": "InvoiceID,SalesOrder"], record: { line in
            if let order = ExactReader.text(line, "SalesOrder"), let invoice = ExactReader.text(line, "InvoiceID") {
                invoicesOfID[invoice.lowercased(), default: []].insert(order.lowercased())
            }
        })
        var invoicesOfOrder: [String: [String]] = [:]
        try api.each("salesinvoice/SalesInvoices", where: "InvoiceID", isAnyOf: invoicesOfID.keys.map(ExactAPI.guid), query: ["$select": "InvoiceID,InvoiceNumber"], record: { invoice in
            guard let id = ExactReader.text(invoice, "InvoiceID")?.lowercased(), let number = Self.number(invoice["InvoiceNumber"]) else { return }
            for order in invoicesOfID[id] ?? [] { invoicesOfOrder[order, default: []].append(number) }
        })
        var receivables: [String: (paid: Bool, modified: Date)] = [:]
        try api.each("cashflow/Receivables", where: "InvoiceNumber", isAnyOf: invoicesOfOrder.values.flatMap { $0 },
                     query: ["$select": "InvoiceNumber,IsFullyPaid,Modified"], record: { receivable in
            guard let number = Self.number(receivable["InvoiceNumber"]) else { return }
            let paid = ExactAPI.flag(receivable["IsFullyPaid"])
            let modified = ExactAPI.date(receivable["Modified"]) ?? .distantPast
            let earlier = receivables[number]
            receivables[number] = (paid && (earlier?.paid ?? true), max(modified, earlier?.modified ?? .distantPast))
        })
        var paidAt: [String: Date] = [:]
        for (order, invoices) in invoicesOfOrder {
            let states = invoices.map { receivables[$0] }
            guard states.allSatisfy({ $0?.paid == true }) else { continue }
            paidAt[order] = states.compactMap { $0?.modified }.max()
        }
        return paidAt
    }

    /// An Exact number field (sent as a JSON number) as text.
    static func number(_ value: JSONValue?) -> String? {
        switch value {
        case .int(let number)?: String(number)
        case .decimal(let text)?: DecimalNumber(text).map { $0.value.description }
        case .string(let text)?: text.isEmpty ? nil : text
        default: nil
        }
    }

    /// An account's address as a canonical address, the street line split into street,
    /// number and suffix.
    static func address(_ account: Record?) -> Address? {
        guard let account, let country = ExactReader.text(account, "Country") else { return nil }
        let street = ExactReader.text(account, "AddressLine1").map(Address.splitStreetLine)
        return Address(
            name: ExactReader.text(account, "Name"), street: street?.street, houseNumber: street?.houseNumber,
            houseNumberSuffix: street?.suffix, line2: ExactReader.text(account, "AddressLine2"),
            postcode: ExactReader.text(account, "Postcode"), city: ExactReader.text(account, "City"), country: country)
    }

    /// A sales order as a canonical order: the buyer from its account (a company's
    /// contact person from the order), amounts as Exact computed them.
    static func order(_ record: Record, modified: Date, accounts: [String: Record], paidAt: Date?) -> Order {
        let text = ExactReader.text
        let lines = self.lines(record, property: "SalesOrderLines")
        let statuses: [Int64: Order.Status] = [12: .processing, 20: .processing, 21: .completed, 45: .cancelled]
        var status = Order.Status.processing
        if case .int(let code)? = record["Status"] { status = statuses[code] ?? .processing }
        if status != .cancelled, paidAt != nil { status = .paid }
        let net = ExactAPI.decimal(record["AmountFCExclVat"]) ?? lines.reduce(.zero) { $0 + $1.total }
        // The header has no VAT amount of its own: the total less the total excluding VAT.
        let vat = ExactAPI.decimal(record["AmountFC"]).map { $0 - net } ?? lines.reduce(.zero) { $0 + $1.vatAmount }
        let orderedBy = text(record, "OrderedBy") ?? ""
        let deliverTo = text(record, "DeliverTo")?.lowercased()
        let shipping = deliverTo == orderedBy.lowercased() ? nil : address(deliverTo.flatMap { accounts[$0] })
        return Order(
            sourceKey: text(record, "OrderID") ?? "", updatedAt: modified, number: number(record["OrderNumber"]) ?? "",
            createdAt: ExactAPI.date(record["OrderDate"]) ?? modified, paidAt: paidAt, status: status,
            currency: text(record, "Currency") ?? "EUR", pricesIncludeVAT: false, customer: buyer(record, modified: modified, accounts: accounts),
            billingAddress: address(accounts[orderedBy.lowercased()]) ?? Address(name: text(record, "OrderedByName"), country: ""),
            shippingAddress: shipping, lines: lines, paymentMethod: text(record, "PaymentCondition"), note: text(record, "Description"),
            totals: Totals(lines: net, shipping: .zero, paymentCosts: .zero, discount: .zero, vat: vat, total: ExactAPI.decimal(record["AmountFC"]) ?? net + vat))
    }

    /// The buyer of a document: its `OrderedBy` account as a customer (a company's contact
    /// person from `OrderedByContactPersonFullName`), or only the name when the account
    /// was not found.
    static func buyer(_ record: Record, modified: Date, accounts: [String: Record]) -> Customer {
        let orderedBy = ExactReader.text(record, "OrderedBy") ?? ""
        var buyer = accounts[orderedBy.lowercased()].map { ExactReader.customer($0, modified: ExactAPI.date($0["Modified"]) ?? modified) }
            ?? Customer(sourceKey: orderedBy, updatedAt: modified, kind: .company, companyName: ExactReader.text(record, "OrderedByName"))
        if buyer.kind == .company, let contact = ExactReader.text(record, "OrderedByContactPersonFullName") {
            let parts = contact.split(separator: " ", maxSplits: 1).map(String.init)
            buyer.firstName = parts.count > 1 ? parts[0] : nil
            buyer.lastName = parts.last
        }
        return buyer
    }

    /// A document's deep-read lines (`$expand`) as canonical lines, amounts as Exact
    /// computed them.
    static func lines(_ record: Record, property: String) -> [OrderLine] {
        let text = ExactReader.text
        return ExactAPI.expanded(record, property).map { line in
            let amount = ExactAPI.decimal(line["AmountFC"]) ?? .zero
            let vat = ExactAPI.decimal(line["VATAmount"]) ?? ExactAPI.decimal(line["VATAmountFC"]) ?? .zero
            let percentage = ExactAPI.decimal(line["VATPercentage"]).map { DecimalNumber($0.value * 100).rounded(2) } ?? .zero
            return OrderLine(
                sku: text(line, "ItemCode"), name: text(line, "Description") ?? text(line, "ItemDescription") ?? "",
                quantity: ExactAPI.decimal(line["Quantity"]) ?? 1, unitPrice: ExactAPI.decimal(line["UnitPrice"]) ?? amount,
                vatRate: percentage, vatAmount: vat, total: amount)
        }
    }
}

/// The buyers' accounts of one read, by GUID in lower case: each is looked up once,
/// however many documents name it.
final class ExactAccountCache: @unchecked Sendable {
    private var known: [String: ExactAPI.Record] = [:]

    /// The accounts with these GUIDs (those Exact has), looking up the ones not yet known.
    func accounts(_ ids: [String], api: ExactAPI) throws(ConnectorError) -> [String: ExactAPI.Record] {
        let missing = Set(ids.map { $0.lowercased() }).subtracting(known.keys)
        try api.each("crm/Accounts", where: "ID", isAnyOf: missing.sorted().map(ExactAPI.guid), query: ["$select": ExactSalesOrderReader.accountSelect], record: { account in
            if let id = ExactReader.text(account, "ID") { known[id.lowercased()] = account }
        })
        return known
    }
}
