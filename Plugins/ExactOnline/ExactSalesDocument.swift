import Foundation
import KoppelPluginSDK

/// One of the three ways an order is booked in Exact Online. Each is one POST with the
/// lines deep-inserted; `YourRef` carries the webshop's order number, which is how a
/// retry finds a document that did arrive.
enum ExactFlavour: String, CaseIterable {
    case salesInvoices = "sales_invoices"
    case salesOrders = "sales_orders"
    case salesEntries = "sales_entries"

    var entitySet: String {
        switch self {
        case .salesInvoices: "salesinvoice/SalesInvoices"
        case .salesOrders: "salesorder/SalesOrders"
        case .salesEntries: "salesentry/SalesEntries"
        }
    }

    var key: String {
        switch self {
        case .salesInvoices: "InvoiceID"
        case .salesOrders: "OrderID"
        case .salesEntries: "EntryID"
        }
    }

    var linesProperty: String {
        switch self {
        case .salesInvoices: "SalesInvoiceLines"
        case .salesOrders: "SalesOrderLines"
        case .salesEntries: "SalesEntryLines"
        }
    }

    /// Entries book on G/L accounts; invoices and orders on items.
    var usesItems: Bool { self != .salesEntries }
}

/// The record a flow hands to a sales document stream: a canonical order, plus the
/// `payment_condition` a value map of the flow's mapping added.
struct OrderDocumentRecord: Decodable {
    var order: Order
    var paymentCondition: String?

    enum CodingKeys: String, CodingKey {
        case paymentCondition = "payment_condition"
    }

    init(from decoder: Decoder) throws {
        order = try Order(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        paymentCondition = try container.decodeIfPresent(String.self, forKey: .paymentCondition)
    }
}

extension ExactFlavour {
    /// Where the documents are read in bulk: Exact's bulk feeds give 1000 a page
    /// (R-BULK-1, R-PAGE-1); sales entries have none.
    var bulkSet: String {
        switch self {
        case .salesInvoices: "bulk/SalesInvoice/SalesInvoices"
        case .salesOrders: "bulk/SalesOrder/SalesOrders"
        case .salesEntries: "salesentry/SalesEntries"
        }
    }
}

/// The documents of each flavour that Exact already holds, by `YourRef`, read in bulk for
/// the dates that reconciling writes ask about. A first run (a new state file, or a
/// merchant coming from another connector) reconciles every order; one paged read of the
/// `YourRef`s of the documents created since an order was placed costs a call per 1000
/// documents instead of a lookup per order. Documents are found by `Created`, which
/// Exact sets, not by their own date, which it may not take from the request (an
/// invoice's date is settled when it is processed: R-BIZ-2). It lives as long as the
/// connection is open (one run) and forgets everything after a create whose outcome is
/// unknown.
final class BookedDocuments: @unchecked Sendable {
    private struct Known {
        var ids: [String: String] = [:]
        /// Documents created from here on have been read.
        var from: Date
    }

    private let lock = NSLock()
    private var known: [ExactFlavour: Known] = [:]

    /// A document is created after its order was placed; the margin covers clocks that
    /// disagree and shops that date orders in their own time zone.
    static let margin: TimeInterval = 2 * 86_400

    /// The document booked for order `number` (placed at `date`), reading the documents
    /// dated from shortly before it that were not read yet.
    func find(_ number: String, placedAt date: Date, flavour: ExactFlavour, api: ExactAPI) throws(ConnectorError) -> String? {
        let from = date.addingTimeInterval(-Self.margin)
        let current = lock.withLock { known[flavour] }
        if current.map({ from < $0.from }) ?? true {
            var filter = "Created ge \(ExactAPI.datetime(from))"
            if let current { filter += " and Created lt \(ExactAPI.datetime(current.from))" }
            var read: [String: String] = [:]
            try api.each(flavour.bulkSet, query: ["$filter": filter, "$select": "\(flavour.key),YourRef"]) { record throws(ConnectorError) in
                if let ref = record["YourRef"]?.stringValue, let id = record[flavour.key]?.stringValue { read[ref] = id }
            }
            lock.withLock {
                var updated = known[flavour] ?? Known(from: from)
                updated.ids.merge(read) { old, _ in old }
                updated.from = min(updated.from, from)
                known[flavour] = updated
            }
        }
        return lock.withLock { known[flavour]?.ids[number] }
    }

    /// A document this connection created.
    func remember(_ number: String, id: String, flavour: ExactFlavour) {
        lock.withLock { known[flavour]?.ids[number] = id }
    }

    /// After a create whose answer was lost: what was read may be incomplete.
    func forget(_ flavour: ExactFlavour) {
        _ = lock.withLock { known.removeValue(forKey: flavour) }
    }
}

/// Books an order as a sales invoice, sales order or sales entry.
struct ExactSalesDocumentWriter {
    let api: ExactAPI
    let flavour: ExactFlavour
    let settings: ExactSettings
    let booked: BookedDocuments

    func write(_ record: OrderDocumentRecord, reconcile: Bool) throws(ConnectorError) -> WriteResult {
        let order = record.order
        let processor = flavour == .salesInvoices && settings.processInvoices == true ? ExactInvoiceProcessor(api: api) : nil
        try processor?.processPending()
        if reconcile, let found = try booked.find(order.number, placedAt: order.createdAt, flavour: flavour, api: api) { return .found(found) }
        let directory = ExactDirectory(api: api, settings: settings)
        let body = try document(record, directory: directory)
        let created: ExactAPI.Record
        do throws(ConnectorError) {
            do throws(ConnectorError) {
                created = try api.create(flavour.entitySet, body)
            } catch {
                // A remembered account, item or G/L account may be gone (deleted or merged
                // by the bookkeeper): forgotten, found or created again, and tried once more.
                guard case .invalidData = error, try directory.forgetVanished() else { throw error }
                created = try api.create(flavour.entitySet, try document(record, directory: directory))
            }
        } catch {
            if case .uncertain = error { booked.forget(flavour) }
            throw error
        }
        guard let id = created[flavour.key]?.stringValue else { throw .internal("Exact Online returned a document without \(flavour.key)") }
        booked.remember(order.number, id: id, flavour: flavour)
        try processor?.process(id, number: order.number, date: order.createdAt)
        return .created(id)
    }

    /// The document's header with its lines deep-inserted.
    private func document(_ record: OrderDocumentRecord, directory: ExactDirectory) throws(ConnectorError) -> [String: JSONValue] {
        let order = record.order
        let account = try directory.account(for: order)
        let lines = try documentLines(order, directory: directory)
        var header: [String: JSONValue] = [
            "YourRef": .string(order.number),
            "Description": .string(String(description(order).prefix(60))),
            "Currency": .string(order.currency),
            flavour.linesProperty: .array(lines.map(JSONValue.object)),
        ]
        if let condition = record.paymentCondition { header["PaymentCondition"] = .string(condition) }
        switch flavour {
        case .salesInvoices:
            // No InvoiceDate: Exact ignores it here and dates the invoice when it is
            // processed (R-BIZ-2), which `process_invoices` does with the order's date.
            header["Journal"] = .string(settings.journalCode)
            header["OrderedBy"] = .string(account)
            // A refund is a credit note (Type 8021) with negative lines; a sales entry
            // becomes one (Type 21) by its negative amounts alone.
            if order.refundOf != nil { header["Type"] = 8021 }
        case .salesOrders:
            header["OrderedBy"] = .string(account)
            header["OrderDate"] = ExactAPI.dateValue(order.createdAt)
        case .salesEntries:
            header["Journal"] = .string(settings.journalCode)
            header["Customer"] = .string(account)
            header["EntryDate"] = ExactAPI.dateValue(order.createdAt)
        }
        return header
    }

    private func description(_ order: Order) -> String {
        if let refunded = order.refundOf {
            return "Credit note for webshop order \(refunded.number)" + (order.note.map { ": \($0)" } ?? "")
        }
        let coupons = (order.couponCodes ?? []).isEmpty ? "" : " (coupon \((order.couponCodes ?? []).joined(separator: ", ")))"
        return "Webshop order \(order.number)\(coupons)"
    }

    /// Product lines, then shipping, payment costs and order-level discounts, each with
    /// its VAT code from the rate and the buyer's country and the amounts as the shop
    /// computed them, so the document's totals equal the order's to the cent.
    private func documentLines(_ order: Order, directory: ExactDirectory) throws(ConnectorError) -> [[String: JSONValue]] {
        let country = order.billingAddress.country
        var lines: [[String: JSONValue]] = []
        for line in order.lines {
            var fields = try costFields(
                description: line.name, amount: line.total, vatRate: line.vatRate, vatAmount: line.vatAmount, country: country,
                glAccount: settings.revenueAccount(country: country), directory: directory)
            fields["Quantity"] = line.quantity.json
            if flavour.usesItems {
                fields["Item"] = .string(try directory.item(code: line.sku ?? ExactSettings.productWithoutSKUItem, description: line.sku == nil ? "Webshop product without SKU" : line.name, isProduct: line.sku != nil))
                fields["UnitPrice"] = line.unitPrice.json
                let gross = line.unitPrice * line.quantity
                if line.discount != .zero, gross != .zero {
                    fields["Discount"] = DecimalNumber(line.discount.value / gross.value).rounded(6).json
                }
            }
            lines.append(fields)
        }
        for cost in order.shippingCosts {
            lines.append(try extraLine(cost.description, cost.amount, cost.vatRate, cost.vatAmount, country: country,
                                       item: settings.shippingItem, itemName: "Verzendkosten", glAccount: settings.shippingAccount,
                                       credit: order.refundOf != nil, directory: directory))
        }
        for cost in order.paymentCosts {
            lines.append(try extraLine(cost.description, cost.amount, cost.vatRate, cost.vatAmount, country: country,
                                       item: settings.paymentCostItem, itemName: "Betaalkosten", glAccount: settings.paymentCostAccount,
                                       credit: order.refundOf != nil, directory: directory))
        }
        for discount in order.discounts {
            let rate = discount.amount == .zero ? DecimalNumber.zero : DecimalNumber(discount.vatAmount.value * 100 / discount.amount.value).rounded(0)
            lines.append(try extraLine(discount.description, .zero - discount.amount, rate, .zero - discount.vatAmount, country: country,
                                       item: settings.discountItem, itemName: "Korting", glAccount: settings.discountAccount, directory: directory))
        }
        guard !lines.isEmpty else { throw .invalidData("order \(order.number) has no lines") }
        return lines
    }

    private func extraLine(
        _ description: String, _ amount: Money, _ rate: DecimalNumber, _ vat: Money, country: String,
        item: String, itemName: String, glAccount: String, credit: Bool = false, directory: ExactDirectory
    ) throws(ConnectorError) -> [String: JSONValue] {
        var fields = try costFields(
            description: description, amount: amount, vatRate: rate, vatAmount: vat, country: country, glAccount: glAccount, directory: directory)
        // A cost given back (a refund's shipping) is a quantity of -1 at its price, as a
        // credit note's lines are; a discount on an order is one at a negative price.
        let quantity: DecimalNumber = credit && amount < .zero ? -1 : 1
        fields["Quantity"] = quantity.json
        if flavour.usesItems {
            fields["Item"] = .string(try directory.item(code: item, description: itemName, isProduct: false))
            fields["UnitPrice"] = (amount * quantity).json
        }
        return fields
    }

    private func costFields(
        description: String, amount: Money, vatRate: DecimalNumber, vatAmount: Money, country: String, glAccount: String,
        directory: ExactDirectory
    ) throws(ConnectorError) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "Description": .string(String(description.prefix(60))),
            "AmountFC": amount.json,
            "VATCode": .string(try settings.vatCode(rate: vatRate, country: country)),
            (flavour == .salesOrders ? "VATAmount" : "VATAmountFC"): vatAmount.json,
        ]
        if flavour != .salesOrders { fields["GLAccount"] = .string(try directory.glAccount(code: glAccount)) }
        if let costCenter = settings.costCenter { fields["CostCenter"] = .string(costCenter) }
        if let costUnit = settings.costUnit { fields["CostUnit"] = .string(costUnit) }
        return fields
    }
}
