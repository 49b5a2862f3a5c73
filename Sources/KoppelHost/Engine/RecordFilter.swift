import Foundation

/// Which records a flow takes, from its `filter:`:
///
/// ```yaml
/// filter:
///   status: [processing, completed]   # only these statuses (a refund follows its order)
///   skip_test_orders: true            # records with is_test: true are skipped (the default)
///   where: { billing_address.country: [NL, BE] }
/// ```
struct RecordFilter {
    let statuses: Set<String>?
    let skipTestOrders: Bool
    let conditions: [(path: String, values: Set<String>)]

    init(_ config: ConfigValue) {
        func strings(_ value: ConfigValue?) -> Set<String>? {
            switch value {
            case .array(let items)?: Set(items.compactMap(\.stringValue))
            case let single?: single.stringValue.map { [$0] }
            case nil: nil
            }
        }
        statuses = strings(config["status"])
        // A shop's test orders never belong in the books: skipped unless a flow says false.
        if case .bool(let skip)? = config["skip_test_orders"] { skipTestOrders = skip } else { skipTestOrders = true }
        conditions = (config["where"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.compactMap { path, value in
            strings(value).map { (path, $0) }
        }
    }

    /// Nil when the flow takes the record, else why not.
    func rejection(of record: [String: Any]) -> String? {
        if skipTestOrders, (record["is_test"] as? Bool) == true {
            let number = RecordPath.text(record["number"]).map { " \($0)" } ?? ""
            return "test order\(number): test orders are not imported"
        }
        // A refund follows its order, which the status filter already chose.
        if let statuses, record["refund_of"] == nil {
            let status = RecordPath.text(record["status"]) ?? "(none)"
            if !statuses.contains(status) {
                return "status \(status) is not one of \(statuses.sorted().joined(separator: ", "))"
            }
        }
        for (path, values) in conditions {
            let value = RecordPath.text(RecordPath.value(path, in: record)) ?? "(none)"
            if !values.contains(value) { return "\(path) \(value) is not one of \(values.sorted().joined(separator: ", "))" }
        }
        return nil
    }
}
