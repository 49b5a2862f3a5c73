import Foundation

/// How a flow changes records on the way, from its `mapping:`:
///
/// ```yaml
/// mapping:
///   set: { journal: "70" }                      # always this value
///   defaults: { customer.language: nl }         # when the record has none
///   value_maps:
///     payment_condition:                        # a name, for messages
///       from: payment_method                    # the source field
///       to: payment_condition                   # the field to fill
///       values: { ideal: "ID", paypal: "PP" }
///       default: "30"                           # without it, an unmapped value parks the record
///   options: { ... }                            # passed on to the target as is
///   update: [price, ean]                        # when the target updates a record it has,
///                                               # only these fields (absent: every field)
/// ```
struct RecordMapping {
    struct ValueMap {
        var name: String
        var from: String
        var to: String
        var values: [String: Any]
        var fallback: Any?
    }

    /// A record that cannot be mapped, and why.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let set: [(String, Any)]
    let defaults: [(String, Any)]
    let valueMaps: [ValueMap]
    let options: Any?
    /// The fields an update may change, handed to the target as `_update`.
    let update: [String]?

    init(_ config: ConfigValue) {
        set = (config["set"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value.foundationValue) }
        defaults = (config["defaults"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value.foundationValue) }
        valueMaps = (config["value_maps"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { name, spec in
            ValueMap(
                name: name, from: spec["from"]?.stringValue ?? name, to: spec["to"]?.stringValue ?? name,
                values: (spec["values"]?.objectValue ?? [:]).mapValues(\.foundationValue), fallback: spec["default"]?.foundationValue)
        }
        options = config["options"]?.foundationValue
        switch config["update"] {
        case .array(let fields)?: update = fields.compactMap(\.stringValue)
        case let single?: update = single.stringValue.map { [$0] } ?? []
        case nil: update = nil
        }
    }

    /// True when the mapping leaves every record as it is.
    var isIdentity: Bool { self.set.isEmpty && defaults.isEmpty && valueMaps.isEmpty && options == nil && update == nil }

    func apply(to record: inout [String: Any]) throws(Failure) {
        // Every value map reads the record as the source sent it, so one map's output
        // is never another's input (two maps may read the same field).
        let original = record
        for valueMap in valueMaps {
            let source = RecordPath.text(RecordPath.value(valueMap.from, in: original))
            if let source, let mapped = valueMap.values[source] {
                RecordPath.set(mapped, at: valueMap.to, in: &record)
            } else if let fallback = valueMap.fallback {
                RecordPath.set(fallback, at: valueMap.to, in: &record)
            } else {
                let known = valueMap.values.keys.sorted().joined(separator: ", ")
                throw Failure(description: "value map \(valueMap.name): no value for \(valueMap.from) \"\(source ?? "(none)")\" (mapped: \(known.isEmpty ? "none" : known)); add it or a default to the flow's mapping")
            }
        }
        for (path, value) in defaults where RecordPath.value(path, in: record) == nil {
            RecordPath.set(value, at: path, in: &record)
        }
        for (path, value) in set {
            RecordPath.set(value, at: path, in: &record)
        }
        if let options { record["_options"] = options }
        if let update { record["_update"] = update }
    }
}
