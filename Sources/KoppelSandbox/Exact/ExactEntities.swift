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
            // R-BIZ-1: an invoice posted through the API waits at 20 ("to be processed"),
            // without a receivable, until PrintedSalesInvoices processes it. R-BIZ-2: its
            // date is not taken from the body; the fake dates it today until then.
            record["Status"] = 20
            record["InvoiceDate"] = record["InvoiceDate"] ?? ExactDivision.today()
            // Type: 8020 invoice, 8021 credit note, 8023/8024 their direct forms (entities.json,
            // "likely"). Assumed (README): a credit note's amount may not be positive.
            let type = (record["Type"] as? Decimal).map { NSDecimalNumber(decimal: $0).intValue } ?? 8020
            guard [8020, 8021, 8023, 8024].contains(type) else { throw ExactError(status: 400, message: "Type: Invalid value: \(type)") }
            if [8021, 8024].contains(type) && totals.net + totals.vat > 0 {
                throw ExactError(status: 400, message: "Credit note: the amount must be negative")
            }
            record["Type"] = type
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
            // Type is read-only (20 sales entry, 21 sales credit note, entities.json): assumed
            // (README) to follow the sign of the entry's amount.
            record["Type"] = totals.net + totals.vat < 0 ? 21 : 20
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
            // Read-only through the API (a stock count moves it); the inspection door seeds it.
            record["CurrentStock"] = record["CurrentStock"] ?? Decimal(0)
        },
        ExactEntity(path: "logistics/SupplierItem", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            try division.requireExisting("logistics/Items", record["Item"], field: "Item")
            try division.requireExisting("crm/Accounts", record["Supplier"], field: "Supplier")
            record["ItemCode"] = division.get("logistics/Items", record["Item"] as? String ?? "")?["Code"]
            record["MainSupplier"] = record["MainSupplier"] ?? false
            record["Currency"] = record["Currency"] ?? "EUR"
        },
        // R-BIZ-3: prices are written here, not on the item. A price without `Account` is
        // the item's standard sales price, which the item then shows (and its `Modified`
        // moves: assumed).
        ExactEntity(path: "logistics/SalesItemPrices", key: "ID", lines: nil, writable: true) { division, record throws(ExactError) in
            try division.requireExisting("logistics/Items", record["Item"], field: "Item")
            guard let price = ExactJSON.decimal(record["Price"]) else { throw ExactError(status: 400, message: "Price: Mandatory") }
            record["Currency"] = record["Currency"] ?? "EUR"
            var item = division.get("logistics/Items", record["Item"] as? String ?? "")!
            record["ItemCode"] = item["Code"]
            record["ItemDescription"] = item["Description"]
            if record["Account"] == nil || record["Account"] is NSNull {
                item["StandardSalesPrice"] = price
                item["Modified"] = division.stamp()
                division.put("logistics/Items", item)
            }
        },
        // R-BIZ-4: a stock count is posted whole with its lines (`Item` and `QuantityNew`
        // or `QuantityDifference`, the difference winning); at status 21 (processed) it
        // sets the stock of each line's item in the warehouse, linking the item to the
        // warehouse when it is not yet (assumed); at 12 (the default) it waits.
        ExactEntity(path: "inventory/StockCounts", key: "StockCountID", lines: ("StockCountLines", "inventory/StockCountLines", "StockCountID"), writable: true) { division, record throws(ExactError) in
            try division.requireExisting("inventory/Warehouses", record["Warehouse"], field: "Warehouse")
            guard record["StockCountDate"] is Date else { throw ExactError(status: 400, message: "StockCountDate: Mandatory") }
            var raw = record["StockCountLines"]
            if let wrapped = raw as? [String: Any] { raw = wrapped["results"] }
            guard var lines = raw as? [[String: Any]], !lines.isEmpty else {
                throw ExactError(status: 400, message: "StockCountLines: At least one line is required")
            }
            let status = (record["Status"] as? NSNumber)?.intValue ?? 12
            guard status == 12 || status == 21 else { throw ExactError(status: 400, message: "Status: Invalid value \(status)") }
            let warehouse = record["Warehouse"] as! String
            for index in lines.indices {
                try division.requireExisting("logistics/Items", lines[index]["Item"], field: "Item")
                guard lines[index]["QuantityNew"] != nil || lines[index]["QuantityDifference"] != nil else {
                    throw ExactError(status: 400, message: "QuantityNew: Mandatory")
                }
                lines[index]["ID"] = ExactJSON.guid()
                lines[index]["LineNumber"] = index + 1
                lines[index]["ItemCode"] = division.get("logistics/Items", lines[index]["Item"] as! String)?["Code"]
            }
            record["StockCountLines"] = lines
            record["Status"] = status
            record["StockCountNumber"] = division.nextNumber("StockCounts", from: 1)
            record["WarehouseCode"] = division.get("inventory/Warehouses", warehouse)?["Code"]
            guard status == 21 else { return }
            for line in lines {
                let item = line["Item"] as! String
                var row = division.find("inventory/ItemWarehouses", where: { $0["Item"] as? String == item && $0["Warehouse"] as? String == warehouse })
                    ?? ["ID": ExactJSON.guid(), "Item": item, "Warehouse": warehouse, "Division": division.number, "Created": division.stamp(),
                        "ItemCode": division.get("logistics/Items", item)?["Code"] as Any,
                        "WarehouseCode": division.get("inventory/Warehouses", warehouse)?["Code"] as Any]
                let current = ExactJSON.decimal(row["CurrentStock"]) ?? 0
                row["CurrentStock"] = ExactJSON.decimal(line["QuantityDifference"]).map { current + $0 } ?? ExactJSON.decimal(line["QuantityNew"]) ?? current
                row["Modified"] = division.stamp()
                division.put("inventory/ItemWarehouses", row)
            }
        },
        // R-BIZ-1: processing an invoice of status 20 books it (status 50), settles its
        // date (the body's `InvoiceDate`, else today) and makes its receivable.
        ExactEntity(path: "salesinvoice/PrintedSalesInvoices", key: "InvoiceID", lines: nil, writable: true) { division, record throws(ExactError) in
            guard let id = record["InvoiceID"] as? String, var invoice = division.get("salesinvoice/SalesInvoices", id) else {
                throw ExactError(status: 400, message: "InvoiceID: Sales invoice '\(record["InvoiceID"] ?? "")' does not exist")
            }
            guard invoice["Status"] as? Int == 20 else {
                throw ExactError(status: 400, message: "Invoice \(invoice["InvoiceNumber"] ?? "") cannot be processed: its status is \(invoice["Status"] ?? "")")
            }
            let now = division.stamp()
            invoice["Status"] = 50
            invoice["InvoiceDate"] = record["InvoiceDate"] as? Date ?? ExactDivision.today()
            invoice["Modified"] = now
            division.put("salesinvoice/SalesInvoices", invoice)
            division.put("cashflow/Receivables", [
                "ID": ExactJSON.guid(), "Division": division.number, "Created": now, "Modified": now,
                "InvoiceNumber": invoice["InvoiceNumber"] as Any, "InvoiceDate": invoice["InvoiceDate"] as Any,
                "Account": invoice["InvoiceTo"] as Any, "AmountDC": invoice["AmountDC"] as Any, "AmountFC": invoice["AmountFC"] as Any,
                "Currency": invoice["Currency"] as Any, "YourRef": invoice["YourRef"] as Any, "IsFullyPaid": false,
            ])
        },
        // Written by tests only (the inspection door), to record a payment; in Exact
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

    /// Written only through the inspection door (tests record payments so); the API
    /// cannot write it: Exact makes receivables from processed invoices and bank entries.
    var seededOnly: Bool { path == "cashflow/Receivables" }

    /// Line sets are read-only views of the lines of their headers.
    static func header(forLinePath path: String) -> ExactEntity? {
        all.first { $0.lines?.path.lowercased() == path.lowercased() }
    }

    static func named(_ path: String) -> ExactEntity? {
        all.first { $0.path.lowercased() == path.lowercased() }
    }
}
