import Foundation

/// One Exact Online administration (division) of the fake: its records by entity set,
/// its number sequences and its rate-limit budget. Not thread-safe by itself: the
/// sandbox holds `lock` around every request's work.
final class ExactDivision: @unchecked Sendable {
    let number: Int
    let name: String
    let lock = NSLock()
    private(set) var records: [String: [String: [String: Any]]] = [:]
    private var sequences: [String: Int] = [:]
    private var lastModified = Date.distantPast
    /// The division's row version: every insert or change of a record (and of each of its
    /// lines) takes the next, as Exact's `Timestamp` does (R-SYNC-1).
    private(set) var rowVersion: Int64 = 1_000
    /// What `sync/Deleted` lists: one row per deleted record (R-SYNC-2).
    private(set) var deletions: [[String: Any]] = []
    /// Told of every stored or removed record (path, record, removed), with `lock` held:
    /// the webhooks announce changes through it.
    var onChange: ((String, [String: Any], Bool) -> Void)?

    init(number: Int, name: String) {
        self.number = number
        self.name = name
        seedReferenceData()
    }

    // MARK: Records

    func all(_ path: String) -> [[String: Any]] {
        (records[path] ?? [:]).values.sorted { ($0[keyOf(path)] as? String ?? "") < ($1[keyOf(path)] as? String ?? "") }
    }

    func get(_ path: String, _ key: String) -> [String: Any]? {
        records[path]?[key.lowercased()]
    }

    /// Stores `record`, giving it (and each of its lines) the next row versions.
    func put(_ path: String, _ record: [String: Any]) {
        var record = record
        let key = (record[keyOf(path)] as? String ?? "").lowercased()
        rowVersion += 1
        record["Timestamp"] = rowVersion
        if let property = ExactEntity.named(path)?.lines?.property, var lines = record[property] as? [[String: Any]] {
            for index in lines.indices {
                rowVersion += 1
                lines[index]["Timestamp"] = rowVersion
            }
            record[property] = lines
        }
        records[path, default: [:]][key] = record
        onChange?(path, record, false)
    }

    /// `sync/Deleted`'s entity type codes (from Exact's documentation of that feed).
    /// `SupplierItem` is assumed to be 30, `ItemAccounts`.
    static let deletedEntityTypes: [String: Int] = [
        "crm/Accounts": 2, "crm/Contacts": 5, "logistics/SalesItemPrices": 8, "logistics/Items": 9,
        "salesinvoice/SalesInvoices": 13, "inventory/ItemWarehouses": 19, "logistics/SupplierItem": 30,
        "salesorder/SalesOrders": 32,
    ]

    @discardableResult
    func remove(_ path: String, _ key: String) -> Bool {
        guard let removed = records[path]?.removeValue(forKey: key.lowercased()) else { return false }
        onChange?(path, removed, true)
        if let type = Self.deletedEntityTypes[path] {
            rowVersion += 1
            deletions.append(["Timestamp": rowVersion, "ID": ExactJSON.guid(), "EntityKey": key.lowercased(), "EntityType": type,
                              "DeletedDate": Date(), "Division": number])
        }
        return true
    }

    func find(_ path: String, where match: ([String: Any]) -> Bool) -> [String: Any]? {
        records[path]?.values.first(where: match)
    }

    func keyOf(_ path: String) -> String {
        ExactEntity.named(path)?.key ?? "ID"
    }

    /// A modification time strictly later than every earlier one, so that "modified
    /// since" never misses a record that shares a timestamp.
    func stamp() -> Date {
        var now = Date()
        if now <= lastModified { now = lastModified.addingTimeInterval(0.001) }
        lastModified = now
        return now
    }

    /// An item's stock: the sum of its item-warehouse rows (of one warehouse GUID, or all).
    func stock(item: String, warehouse: String?) -> Decimal {
        (records["inventory/ItemWarehouses"] ?? [:]).values
            .filter { ($0["Item"] as? String)?.lowercased() == item.lowercased() && (warehouse == nil || $0["Warehouse"] as? String == warehouse) }
            .reduce(Decimal.zero) { $0 + (ExactJSON.decimal($1["CurrentStock"]) ?? 0) }
    }

    /// Today at midnight UTC, as Exact dates a document.
    static func today() -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }

    func nextNumber(_ sequence: String, from start: Int) -> Int {
        let next = (sequences[sequence] ?? start - 1) + 1
        sequences[sequence] = next
        return next
    }

    // MARK: Validation helpers used by the entity definitions

    func requireExisting(_ path: String, _ value: Any?, field: String) throws(ExactError) {
        guard let key = value as? String, !key.isEmpty else { throw ExactError(status: 400, message: "\(field): Mandatory") }
        guard get(path, key) != nil else {
            let kind = path.split(separator: "/").last.map(String.init) ?? path
            throw ExactError(status: 400, message: "\(field): \(kind.dropLast(kind.hasSuffix("s") ? 1 : 0)) '\(key)' does not exist")
        }
    }

    func requireJournal(_ value: Any?) throws(ExactError) {
        guard let code = (value as? String) ?? (value as? Int).map(String.init) else { throw ExactError(status: 400, message: "Journal: Mandatory") }
        guard find("financial/Journals", where: { $0["Code"] as? String == code }) != nil else {
            throw ExactError(status: 400, message: "Journal: Journal '\(code)' does not exist")
        }
    }

    /// Completes deep-inserted lines: ids, item details, VAT, amounts; returns the totals.
    func completeLines(_ record: inout [String: Any], property: String, itemRequired: Bool) throws(ExactError) -> (net: Decimal, vat: Decimal) {
        var raw = record[property]
        if let wrapped = raw as? [String: Any] { raw = wrapped["results"] }
        guard let lines = raw as? [[String: Any]], !lines.isEmpty else {
            throw ExactError(status: 400, message: "\(property): At least one line is required")
        }
        var net = Decimal.zero, vat = Decimal.zero
        var completed: [[String: Any]] = []
        for (index, var line) in lines.enumerated() {
            line["ID"] = ExactJSON.guid()
            line["LineNumber"] = index + 1
            if itemRequired || line["Item"] != nil {
                try requireExisting("logistics/Items", line["Item"], field: "Item")
                let item = get("logistics/Items", line["Item"] as! String)!
                line["ItemCode"] = item["Code"]
                line["ItemDescription"] = item["Description"]
                if line["Description"] == nil { line["Description"] = item["Description"] }
            }
            if !itemRequired {
                guard let account = line["GLAccount"] as? String, get("financial/GLAccounts", account) != nil else {
                    throw ExactError(status: 400, message: "GLAccount: G/L account '\(line["GLAccount"] ?? "")' does not exist")
                }
            }
            var percentage = Decimal.zero
            if let code = line["VATCode"] {
                let text = "\(code)".trimmingCharacters(in: .whitespaces)
                guard let vatCode = find("vat/VATCodes", where: { ($0["Code"] as? String)?.trimmingCharacters(in: .whitespaces) == text }) else {
                    throw ExactError(status: 400, message: "VATCode: VAT code '\(text)' does not exist")
                }
                percentage = ExactJSON.decimal(vatCode["Percentage"]) ?? 0
            }
            if let glAccount = line["GLAccount"] as? String, get("financial/GLAccounts", glAccount) == nil {
                throw ExactError(status: 400, message: "GLAccount: G/L account '\(glAccount)' does not exist")
            }
            let quantity = ExactJSON.decimal(line["Quantity"]) ?? 1
            let discount = ExactJSON.decimal(line["Discount"]) ?? 0
            let lineNet: Decimal
            if let amount = ExactJSON.decimal(line["AmountFC"]) {
                lineNet = amount
            } else {
                let unit = ExactJSON.decimal(line["UnitPrice"]) ?? ExactJSON.decimal(line["NetPrice"]) ?? 0
                lineNet = Self.cents(unit * quantity * (1 - discount))
            }
            let lineVAT = ExactJSON.decimal(line["VATAmountFC"]) ?? ExactJSON.decimal(line["VATAmount"]) ?? Self.cents(lineNet * percentage)
            line["Quantity"] = quantity
            line["AmountFC"] = lineNet
            line["AmountDC"] = lineNet
            line["VATAmountFC"] = lineVAT
            line["VATAmountDC"] = lineVAT
            line["VATPercentage"] = percentage
            // A sales order line has its VAT as `VATAmount` (no FC/DC pair).
            if property == "SalesOrderLines" { line["VATAmount"] = lineVAT }
            net += lineNet
            vat += lineVAT
            completed.append(line)
        }
        record[property] = completed
        return (net, vat)
    }

    static func cents(_ value: Decimal) -> Decimal {
        var input = value
        var output = Decimal()
        NSDecimalRound(&output, &input, 2, .plain)
        return output
    }

    // MARK: Reference data every administration has

    private func seedReferenceData() {
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        func add(_ path: String, _ fields: [String: Any]) {
            var record = fields
            record[keyOf(path)] = ExactJSON.guid()
            record["Division"] = number
            record["Created"] = now
            record["Modified"] = now
            put(path, record)
        }
        for (code, description, percentage) in [("1", "BTW hoog 21%", "0.21"), ("2", "BTW laag 9%", "0.09"), ("0", "Geen BTW", "0"),
                                                 ("4", "Intracommunautaire levering 0%", "0"), ("5", "Export buiten EU 0%", "0")] {
            add("vat/VATCodes", ["Code": code, "Description": description, "Percentage": Decimal(string: percentage)!, "Type": "E"])
        }
        for (code, description) in [("8000", "Omzet hoog"), ("8010", "Omzet laag"), ("8020", "Omzet EU"), ("8030", "Omzet buiten EU"),
                                    ("8100", "Verzendkosten"), ("8110", "Betaalkosten"), ("8200", "Kortingen"), ("1300", "Debiteuren")] {
            add("financial/GLAccounts", ["Code": code, "Description": description])
        }
        add("financial/Journals", ["Code": "70", "Description": "Verkoopboek", "Type": 20])
        for (code, description, days) in [("00", "Direct", 0), ("14", "14 dagen", 14), ("30", "30 dagen", 30), ("ID", "iDEAL", 0), ("PP", "PayPal", 0)] {
            add("cashflow/PaymentConditions", ["Code": code, "Description": description, "PaymentDays": days])
        }
        for (code, description, main) in [("1", "Hoofdmagazijn", true), ("2", "Winkel", false), ("3", "Extern magazijn", false)] {
            add("inventory/Warehouses", ["Code": code, "Description": description, "Main": main])
        }
    }
}
