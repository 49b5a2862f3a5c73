import Foundation
import KoppelPluginSDK

/// Exact Online sales orders as canonical orders, each with its buyer's account (email,
/// address, company or person) and whether it is paid.
///
/// Exact's sales order carries no payment state. An order counts as paid when it has been
/// invoiced (`SalesInvoices.OrderNumber`) and every receivable of those invoices is
/// fully paid (`cashflow/Receivables.IsFullyPaid`); `paid_at` is the latest change of
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

    typealias Record = ExactAPI.Record

    static let select = "OrderID,OrderNumber,YourRef,OrderDate,Status,Currency,OrderedBy,OrderedByName,"
        + "OrderedByContactPersonFullName,DeliverTo,AmountFCExclVat,AmountFC,PaymentCondition,Description,Modified,SalesOrderLines"
    static let accountSelect = "ID,Code,Name,Email,Phone,AddressLine1,AddressLine2,Postcode,City,Country,VATNumber,ChamberOfCommerce,Language,Modified"

    private var statusCondition: String? {
        guard let statuses, !statuses.isEmpty else { return nil }
        return "(" + statuses.map { "Status eq \($0)" }.joined(separator: " or ") + ")"
    }

    private func query(_ conditions: [String]) -> [String: String] {
        var query = ["$select": Self.select, "$expand": "SalesOrderLines", "$orderby": "Modified"]
        let all = conditions + [statusCondition].compactMap { $0 }
        if !all.isEmpty { query["$filter"] = all.joined(separator: " and ") }
        return query
    }

    /// Emits the orders matching `conditions` page by page, checkpointing after each;
    /// with `scanPayments`, first the orders paid since the read's `Modified ge` bound.
    func read(
        conditions: [String], scanPayments: Bool, seen: (Date) -> Void, checkpoint: () throws(ConnectorError) -> Void
    ) throws(ConnectorError) {
        // An order the payments brought is not emitted twice in one read.
        let emitted = scanPayments ? try emitNewlyPaid(since: conditions.first { $0.hasPrefix("Modified ge ") }) : []
        var page: [Record] = []
        try api.each("salesorder/SalesOrders", query: query(conditions), record: { record in
            if let id = ExactReader.text(record, "OrderID"), emitted.contains(id) { return }
            page.append(record)
        }, onPage: { () throws(ConnectorError) in
            try emit(page, seen: seen)
            page.removeAll()
            try checkpoint()
        })
    }

    /// Emits the orders whose invoices were paid since `since` (all paid ones without it);
    /// returns their IDs.
    private func emitNewlyPaid(since: String?) throws(ConnectorError) -> Set<String> {
        var paidInvoices: [String] = []
        let filter = (["IsFullyPaid eq true"] + [since].compactMap { $0 }).joined(separator: " and ")
        try api.each("cashflow/Receivables", query: ["$filter": filter, "$select": "InvoiceNumber"], record: { receivable in
            if let number = Self.number(receivable["InvoiceNumber"]) { paidInvoices.append(number) }
        })
        var orderNumbers: [String] = []
        try api.each("salesinvoice/SalesInvoices", where: "InvoiceNumber", isAnyOf: paidInvoices, query: ["$select": "InvoiceNumber,OrderNumber"], record: { invoice in
            if let number = Self.number(invoice["OrderNumber"]) { orderNumbers.append(number) }
        })
        // Emitted a page at a time: a first read may bring the whole paid history.
        var emitted: Set<String> = []
        var page: [Record] = []
        func flush() throws(ConnectorError) {
            try emit(page, seen: { _ in })
            emitted.formUnion(page.compactMap { ExactReader.text($0, "OrderID") })
            page.removeAll()
        }
        try api.each("salesorder/SalesOrders", where: "OrderNumber", isAnyOf: orderNumbers, query: query([]), record: { order throws(ConnectorError) in
            page.append(order)
            if page.count >= 60 { try flush() }
        })
        try flush()
        return emitted
    }

    /// Emits one page of orders with their accounts and payment state.
    private func emit(_ page: [Record], seen: (Date) -> Void) throws(ConnectorError) {
        guard !page.isEmpty else { return }
        let accounts = try Self.accounts(page.flatMap { [ExactReader.text($0, "OrderedBy"), ExactReader.text($0, "DeliverTo")] }.compactMap { $0 }, api: api)
        let payments = try self.payments(page.compactMap { Self.number($0["OrderNumber"]) })
        for record in page {
            guard let modified = ExactAPI.date(record["Modified"]) else { continue }
            let paidAt = Self.number(record["OrderNumber"]).flatMap { payments[$0] }
            try api.host.emit(Self.order(record, modified: modified, accounts: accounts, paidAt: paidAt))
            seen(modified)
        }
    }

    /// The accounts with these GUIDs, by GUID in lower case.
    static func accounts(_ ids: [String], api: ExactAPI) throws(ConnectorError) -> [String: Record] {
        var found: [String: Record] = [:]
        try api.each("crm/Accounts", where: "ID", isAnyOf: ids.map(ExactAPI.guid), query: ["$select": Self.accountSelect], record: { account in
            if let id = ExactReader.text(account, "ID") { found[id.lowercased()] = account }
        })
        return found
    }

    /// When each of these orders was paid (its invoices' receivables all fully paid);
    /// unpaid orders are absent.
    private func payments(_ orderNumbers: [String]) throws(ConnectorError) -> [String: Date] {
        var invoicesOfOrder: [String: [String]] = [:]
        try api.each("salesinvoice/SalesInvoices", where: "OrderNumber", isAnyOf: orderNumbers, query: ["$select": "InvoiceNumber,OrderNumber"], record: { invoice in
            if let order = Self.number(invoice["OrderNumber"]), let number = Self.number(invoice["InvoiceNumber"]) {
                invoicesOfOrder[order, default: []].append(number)
            }
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
