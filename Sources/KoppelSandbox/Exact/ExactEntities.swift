import Foundation

/// An error answer the way Exact Online shapes it:
/// `{"error": {"code": "", "message": {"lang": "", "value": "..."}}}`.
struct ExactError: Error {
    var status: Int
    var message: String

    var body: [String: Any] { ["error": ["code": "", "message": ["lang": "", "value": message]]] }
}

/// The entity sets of the fake, keyed by their path below `/api/v1/{division}/`.
/// Each says its key, the line set it deep-inserts, and how a new record is checked and
/// completed (numbers, amounts) the way Exact does.
struct ExactEntity: Sendable {
    let path: String
    let key: String
    /// The deep-inserted lines: the property holding them and the line's link to its header.
    let lines: (property: String, path: String, parentKey: String)?
    let writable: Bool
    let complete: @Sendable (ExactDivision, inout [String: Any]) throws(ExactError) -> Void

    static let all: [ExactEntity] = [
        ExactEntity(path: "crm/Accounts", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            guard let name = record["Name"] as? String, !name.isEmpty else { throw ExactError(status: 400, message: "Name: Mandatory") }
            // R-FILTER-4, R-BIZ-6: an account code is 18 characters, right-aligned.
            let code = (record["Code"] as? String).map { $0.trimmingCharacters(in: .whitespaces) } ?? String(division.nextNumber("Accounts", from: 1000))
            record["Code"] = String(repeating: " ", count: max(0, 18 - code.count)) + code
            record["Status"] = record["Status"] ?? "C"
            record["IsSales"] = true
        },
        ExactEntity(path: "crm/Contacts", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            try division.requireExisting("crm/Accounts", record["Account"], field: "Account")
            guard (record["LastName"] as? String).map({ !$0.isEmpty }) == true || (record["FirstName"] as? String).map({ !$0.isEmpty }) == true else {
                throw ExactError(status: 400, message: "LastName: Mandatory")
            }
        },
        ExactEntity(path: "logistics/Items", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            guard let code = record["Code"] as? String, !code.isEmpty else { throw ExactError(status: 400, message: "Code: Mandatory") }
            guard (record["Description"] as? String).map({ !$0.isEmpty }) == true else { throw ExactError(status: 400, message: "Description: Mandatory") }
            if division.find("logistics/Items", where: { ($0["Code"] as? String)?.lowercased() == code.lowercased() && $0["ID"] as? String != record["ID"] as? String }) != nil {
                throw ExactError(status: 400, message: "Code: Item with code '\(code)' already exists")
            }
            record["IsSalesItem"] = record["IsSalesItem"] ?? true
            record["IsStockItem"] = record["IsStockItem"] ?? false
        },
        ExactEntity(path: "salesinvoice/SalesInvoices", key: "InvoiceID", lines: ("SalesInvoiceLines", "salesinvoice/SalesInvoiceLines", "InvoiceID"), writable: true) { division, record throws(ExactError) in
            try division.requireJournal(record["Journal"])
            try division.requireExisting("crm/Accounts", record["OrderedBy"], field: "OrderedBy")
            if record["InvoiceTo"] == nil { record["InvoiceTo"] = record["OrderedBy"] }
            record["OrderedByName"] = division.get("crm/Accounts", record["OrderedBy"] as? String ?? "")?["Name"]
            let totals = try division.completeLines(&record, property: "SalesInvoiceLines", itemRequired: true)
            record["InvoiceNumber"] = division.nextNumber("SalesInvoices", from: 26_000_001)
            record["Status"] = 10
            record["Type"] = 8020
            record["AmountFCExclVat"] = totals.net
            record["VATAmountFC"] = totals.vat
            record["AmountFC"] = totals.net + totals.vat
            record["AmountDC"] = totals.net + totals.vat
            record["Currency"] = record["Currency"] ?? "EUR"
        },
        ExactEntity(path: "salesorder/SalesOrders", key: "OrderID", lines: ("SalesOrderLines", "salesorder/SalesOrderLines", "OrderID"), writable: true) { division, record throws(ExactError) in
            try division.requireExisting("crm/Accounts", record["OrderedBy"], field: "OrderedBy")
            record["OrderedByName"] = division.get("crm/Accounts", record["OrderedBy"] as? String ?? "")?["Name"]
            record["DeliverTo"] = record["DeliverTo"] ?? record["OrderedBy"]
            if let contact = record["OrderedByContactPerson"] as? String, let person = division.get("crm/Contacts", contact) {
                record["OrderedByContactPersonFullName"] = [person["FirstName"], person["LastName"]].compactMap { $0 as? String }.joined(separator: " ")
            }
            let totals = try division.completeLines(&record, property: "SalesOrderLines", itemRequired: true)
            record["OrderNumber"] = record["OrderNumber"] ?? division.nextNumber("SalesOrders", from: 1)
            record["Status"] = record["Status"] ?? 12
            record["AmountFCExclVat"] = totals.net
            record["AmountFC"] = totals.net + totals.vat
            record["AmountDC"] = totals.net + totals.vat
            record["Currency"] = record["Currency"] ?? "EUR"
        },
        ExactEntity(path: "salesentry/SalesEntries", key: "EntryID", lines: ("SalesEntryLines", "salesentry/SalesEntryLines", "EntryID"), writable: true) { division, record throws(ExactError) in
            try division.requireJournal(record["Journal"])
            try division.requireExisting("crm/Accounts", record["Customer"], field: "Customer")
            let totals = try division.completeLines(&record, property: "SalesEntryLines", itemRequired: false)
            record["EntryNumber"] = division.nextNumber("SalesEntries", from: 26_700_001)
            record["AmountDC"] = totals.net + totals.vat
            record["AmountFC"] = totals.net + totals.vat
            record["VATAmountDC"] = totals.vat
            record["Currency"] = record["Currency"] ?? "EUR"
        },
        ExactEntity(path: "vat/VATCodes", key: "ID", lines: nil, writable: false) { _, _ throws(ExactError) in },
        ExactEntity(path: "financial/GLAccounts", key: "ID", lines: nil, writable: false) { _, _ throws(ExactError) in },
        ExactEntity(path: "financial/Journals", key: "ID", lines: nil, writable: false) { _, _ throws(ExactError) in },
        ExactEntity(path: "cashflow/PaymentConditions", key: "ID", lines: nil, writable: false) { _, _ throws(ExactError) in },
        ExactEntity(path: "inventory/Warehouses", key: "ID", lines: nil, writable: false) { _, _ throws(ExactError) in },
        ExactEntity(path: "inventory/ItemWarehouses", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            try division.requireExisting("logistics/Items", record["Item"], field: "Item")
            try division.requireExisting("inventory/Warehouses", record["Warehouse"], field: "Warehouse")
            let item = record["Item"] as? String ?? "", warehouse = record["Warehouse"] as? String ?? ""
            if division.find("inventory/ItemWarehouses", where: {
                $0["Item"] as? String == item && $0["Warehouse"] as? String == warehouse && $0["ID"] as? String != record["ID"] as? String
            }) != nil {
                throw ExactError(status: 400, message: "Item is already linked to this warehouse")
            }
            record["ItemCode"] = division.get("logistics/Items", item)?["Code"]
            record["WarehouseCode"] = division.get("inventory/Warehouses", warehouse)?["Code"]
            record["CurrentStock"] = record["CurrentStock"] ?? Decimal(0)
        },
        ExactEntity(path: "logistics/SupplierItem", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            try division.requireExisting("logistics/Items", record["Item"], field: "Item")
            try division.requireExisting("crm/Accounts", record["Supplier"], field: "Supplier")
            record["ItemCode"] = division.get("logistics/Items", record["Item"] as? String ?? "")?["Code"]
            record["MainSupplier"] = record["MainSupplier"] ?? false
            record["Currency"] = record["Currency"] ?? "EUR"
        },
        // Writable here so that tests can record a payment; in Exact receivables follow
        // from invoices and bank entries.
        ExactEntity(path: "cashflow/Receivables", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            guard record["InvoiceNumber"] != nil else { throw ExactError(status: 400, message: "InvoiceNumber: Mandatory") }
            record["IsFullyPaid"] = record["IsFullyPaid"] ?? false
        },
        ExactEntity(path: "webhooks/WebhookSubscriptions", key: "ID", lines: nil, writable: true) { _, record throws(ExactError) in
            guard let url = record["CallbackURL"] as? String, url.hasPrefix("http") else { throw ExactError(status: 400, message: "CallbackURL: Mandatory") }
            guard let topic = record["Topic"] as? String, !topic.isEmpty else { throw ExactError(status: 400, message: "Topic: Mandatory") }
        },
    ]

    /// Line sets are read-only views of the lines of their headers.
    static func header(forLinePath path: String) -> ExactEntity? {
        all.first { $0.lines?.path == path }
    }

    static func named(_ path: String) -> ExactEntity? {
        all.first { $0.path.lowercased() == path.lowercased() }
    }
}
