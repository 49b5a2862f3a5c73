import Foundation

/// The read-only feeds Exact Online serves beside its entity sets: the Sync API
/// (`sync/…`, rows by row version), bulk copies of entity sets (`bulk/…`, 1000 a page),
/// the deleted-records feed, `read/sync/Sync/SyncTimestamp` and
/// `read/logistics/StockPosition`.
enum ExactFeed {
    /// A sync feed over an entity set's records (or their lines).
    case sync(path: String, source: SyncSource)
    /// `sync/Deleted` (R-SYNC-2).
    case deleted
    /// A bulk copy of an entity set or line set (R-BULK-1).
    case bulk(path: String, entity: ExactEntity, linePath: String?)
    /// `read/sync/Sync/SyncTimestamp` (R-SYNC-3).
    case syncTimestamp
    /// `read/logistics/StockPosition`.
    case stockPosition

    /// Where a sync feed's rows come from.
    enum SyncSource {
        /// The records of an entity set.
        case records(String)
        /// The lines of a header entity set, each with its header's number.
        case lines(String)
        /// Sales invoices interleaved with their lines: `LineNumber` 0 is the header (R-SYNC-4).
        case invoices
        /// An item's stock in a warehouse, one row per item-warehouse row; any stock
        /// movement gives the row a new row version.
        case stockPositions
    }

    /// The sync feeds the fake serves, by lower-cased path.
    static let syncSources: [String: SyncSource] = [
        "sync/crm/accounts": .records("crm/Accounts"),
        "sync/crm/contacts": .records("crm/Contacts"),
        "sync/logistics/items": .records("logistics/Items"),
        "sync/logistics/supplieritem": .records("logistics/SupplierItem"),
        "sync/logistics/salesitemprices": .records("logistics/SalesItemPrices"),
        "sync/inventory/itemwarehouses": .records("inventory/ItemWarehouses"),
        "sync/inventory/stockpositions": .stockPositions,
        "sync/financial/glaccounts": .records("financial/GLAccounts"),
        "sync/salesorder/salesorderheaders": .records("salesorder/SalesOrders"),
        "sync/salesorder/salesorderlines": .lines("salesorder/SalesOrders"),
        "sync/salesinvoice/salesinvoices": .invoices,
    ]

    /// The sync feeds `SyncTimestamp` answers for (of those the fake serves).
    static let timestampEndpoints: [String: String] = [
        "SalesInvoices": "sync/SalesInvoice/SalesInvoices",
        "SalesOrderHeaders": "sync/SalesOrder/SalesOrderHeaders",
        "SalesOrderLines": "sync/SalesOrder/SalesOrderLines",
    ]

    /// Nil for a path that is an entity set.
    init?(path: String) {
        let lower = path.lowercased()
        if lower == "sync/deleted" {
            self = .deleted
        } else if let source = Self.syncSources[lower] {
            self = .sync(path: ExactReference.shared.entity(path)?.path ?? path, source: source)
        } else if lower.hasPrefix("bulk/") {
            let inner = String(lower.dropFirst(5))
            if let entity = ExactEntity.named(inner) {
                self = .bulk(path: path, entity: entity, linePath: nil)
            } else if let header = ExactEntity.header(forLinePath: inner), let lines = header.lines {
                self = .bulk(path: path, entity: header, linePath: lines.path)
            } else {
                return nil
            }
        } else if lower == "read/sync/sync/synctimestamp" {
            self = .syncTimestamp
        } else if lower == "read/logistics/stockposition" {
            self = .stockPosition
        } else {
            return nil
        }
    }

    /// The entity set of the reference whose rules the feed's queries follow.
    var referencePath: String {
        switch self {
        case .sync(let path, _): path
        case .deleted: "sync/Deleted"
        case .bulk(let path, _, _): path
        case .syncTimestamp: "read/sync/Sync/SyncTimestamp"
        case .stockPosition: "read/logistics/StockPosition"
        }
    }
}

extension ExactSandbox {
    /// One GET of a feed.
    func read(_ feed: ExactFeed, query: [String: String], division: ExactDivision) throws(ExactError) -> Any {
        switch feed {
        case .sync(let path, let source):
            return try syncPage(path: path, rows: syncRows(source, division: division), query: query, division: division)
        case .deleted:
            return try syncPage(path: "sync/Deleted", rows: division.deletions, query: query, division: division)
        case .bulk(let path, let entity, let linePath):
            let pageSize = ExactReference.shared.entity(path)?.pageSize ?? 1000
            return try read(entity: entity, linePath: linePath, key: nil, query: query, division: division, address: path, pageSize: pageSize)
        case .syncTimestamp:
            return try syncTimestamp(query: query, division: division)
        case .stockPosition:
            guard let raw = query["itemId"], !raw.isEmpty else { throw ExactError(status: 400, message: "itemId: Mandatory") }
            let item = raw.replacingOccurrences(of: "guid'", with: "").replacingOccurrences(of: "'", with: "").lowercased()
            guard division.get("logistics/Items", item) != nil else { return ["d": ["results": [Any]()]] }
            let stock = NSDecimalNumber(decimal: division.stock(item: item, warehouse: nil))
            let position: [String: Any] = ["ItemId": item, "InStock": stock, "FreeStock": stock, "ProjectedStock": stock,
                                           "PlanningIn": 0, "PlanningOut": 0, "ReservedStock": 0]
            return ["d": ["results": [position]]]
        }
    }

    /// The rows of a sync feed, each with its row version, in no particular order.
    private func syncRows(_ source: ExactFeed.SyncSource, division: ExactDivision) -> [[String: Any]] {
        switch source {
        case .records(let path):
            var rows = division.all(path)
            if let lines = ExactEntity.named(path)?.lines { rows = rows.map { var row = $0; row[lines.property] = nil; return row } }
            if path == "logistics/Items" {
                rows = rows.map { var row = $0; row["Stock"] = division.stock(item: row["ID"] as? String ?? "", warehouse: nil); return row }
            }
            return rows
        case .lines(let path):
            guard let lines = ExactEntity.named(path)?.lines else { return [] }
            return division.all(path).flatMap { header in
                (header[lines.property] as? [[String: Any]] ?? []).map { line in
                    var row = line
                    row["OrderNumber"] = header["OrderNumber"]
                    return row
                }
            }
        case .stockPositions:
            return division.all("inventory/ItemWarehouses").map { row in
                var position = row
                position["ItemId"] = row["Item"]
                position["FreeStock"] = row["CurrentStock"]
                return position
            }
        case .invoices:
            return division.all("salesinvoice/SalesInvoices").flatMap { invoice -> [[String: Any]] in
                var header = invoice
                header["SalesInvoiceLines"] = nil
                header["ID"] = invoice["InvoiceID"]
                header["LineNumber"] = 0
                let lines = (invoice["SalesInvoiceLines"] as? [[String: Any]] ?? []).map { line in
                    header.merging(line) { _, line in line }
                }
                return [header] + lines
            }
        }
    }

    /// R-SYNC-1: rows after the `Timestamp gt nL` of the filter, by row version, a page of
    /// 1000 with `__next` carrying `$skiptoken=<last>L`; only the feed's properties.
    private func syncPage(path: String, rows: [[String: Any]], query: [String: String], division: ExactDivision) throws(ExactError) -> Any {
        var after: Int64 = 0
        if let text = query["$filter"], let match = text.wholeMatch(of: /\s*Timestamp\s+gt\s+(-?[0-9]+)L?\s*/) {
            after = Int64(match.1) ?? 0
        } else if query["$filter"] != nil {
            throw ExactError(status: 400, message: "This $filter parameter is not supported for this resource")
        }
        if let token = query["$skiptoken"], let last = Int64(token.trimmingCharacters(in: CharacterSet(charactersIn: "L"))) {
            after = max(after, last)
        }
        let pageSize = ExactReference.shared.entity(path)?.pageSize ?? 1000
        let sorted = rows.filter { ($0["Timestamp"] as? Int64 ?? 0) > after }.sorted { ($0["Timestamp"] as? Int64 ?? 0) < ($1["Timestamp"] as? Int64 ?? 0) }
        let page = Array(sorted.prefix(pageSize))
        let known = ExactReference.shared.names[path.lowercased()] ?? []
        var result: [String: Any] = ["results": page.map { row in
            let own = row.filter { known.contains($0.key) }
            return select(ExactJSON.encodable(ExactReference.shared.typed(own, path: path)), query)
        }]
        if sorted.count > page.count, let last = page.last?["Timestamp"] as? Int64 {
            let items = query.filter { $0.key != "$skiptoken" }.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: Self.queryValueAllowed) ?? "")" }
            result["__next"] = "\(baseURL)/api/v1/\(division.number)/\(path)?\((items + ["$skiptoken=\(last)L"]).joined(separator: "&"))"
        }
        return ["d": result]
    }

    /// R-SYNC-3: the row version of the first row of the endpoint changed at or after
    /// `modified` (the division's newest when none is); both parameters are required.
    private func syncTimestamp(query: [String: String], division: ExactDivision) throws(ExactError) -> Any {
        func unquoted(_ text: String?) -> String? {
            text?.replacingOccurrences(of: "datetime'", with: "").trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        guard let modifiedText = unquoted(query["modified"]), let modified = ExactJSON.parseDateLiteral(modifiedText) else {
            throw ExactError(status: 400, message: "modified: Mandatory")
        }
        guard let endpoint = unquoted(query["endPoint"]), !endpoint.isEmpty else { throw ExactError(status: 400, message: "endPoint: Mandatory") }
        guard let path = ExactFeed.timestampEndpoints[endpoint], case .sync(_, let source)? = ExactFeed(path: path) else {
            throw ExactError(status: 400, message: "endPoint: '\(endpoint)' is not supported")
        }
        let first = syncRows(source, division: division)
            .filter { ($0["Modified"] as? Date).map { $0 >= modified } ?? false }
            .compactMap { $0["Timestamp"] as? Int64 }.min()
        let row: [String: Any] = ["API": endpoint, "Modified": ExactJSON.date(modified), "TimeStampAsBigInt": String(first ?? division.rowVersion)]
        return ["d": ["results": [row]]]
    }
}
