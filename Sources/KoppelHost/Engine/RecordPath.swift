import Foundation

/// Dotted paths into a JSON record: `customer.email`, `billing_address.country`.
enum RecordPath {
    static func value(_ path: String, in record: [String: Any]) -> Any? {
        var current: Any? = record
        for key in path.split(separator: ".") {
            current = (current as? [String: Any])?[String(key)]
        }
        return current is NSNull ? nil : current
    }

    static func set(_ value: Any, at path: String, in record: inout [String: Any]) {
        let keys = path.split(separator: ".").map(String.init)
        func assign(_ object: inout [String: Any], _ index: Int) {
            if index == keys.count - 1 {
                object[keys[index]] = value
                return
            }
            var child = object[keys[index]] as? [String: Any] ?? [:]
            assign(&child, index + 1)
            object[keys[index]] = child
        }
        guard !keys.isEmpty else { return }
        assign(&record, 0)
    }

    /// A scalar as text, for comparing with values from the deployment file.
    static func text(_ value: Any?) -> String? {
        switch value {
        case let string as String: string
        case let number as NSNumber: number.stringValue
        case let bool as Bool: bool ? "true" : "false"
        default: nil
        }
    }
}
