import Foundation

/// How Exact Online writes values in JSON: dates as `/Date(milliseconds)/`, GUIDs in
/// lowercase with dashes, amounts as JSON numbers.
enum ExactJSON {
    /// `/Date(1767225600000)/`.
    static func date(_ date: Date) -> String {
        "/Date(\(Int64((date.timeIntervalSince1970 * 1000).rounded())))/"
    }

    /// Reads `/Date(ms)/`, an ISO 8601 time, or a plain date (midnight UTC).
    static func parseDate(_ value: Any?) -> Date? {
        guard let text = value as? String else { return nil }
        if let match = text.wholeMatch(of: /\/Date\((-?[0-9]+)([+-][0-9]+)?\)\//), let ms = Double(match.1) {
            return Date(timeIntervalSince1970: ms / 1000)
        }
        return parseDateLiteral(text)
    }

    /// The inside of `datetime'2026-01-01T00:00:00'`: taken as UTC when no offset is given.
    static func parseDateLiteral(_ text: String) -> Date? {
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: text) { return date }
        for format in ["yyyy-MM-dd'T'HH:mm:ss.SSS", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"] {
            if let date = formatter(format).date(from: text) { return date }
        }
        return nil
    }

    /// A new formatter of text dates in `format` and `zone`, as Exact writes them in
    /// messages and webhooks (not thread-safe to share: one per use).
    static func formatter(_ format: String, zone: String = "UTC") -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: zone)
        formatter.dateFormat = format
        return formatter
    }

    /// A new GUID as Exact writes it.
    static func guid() -> String { UUID().uuidString.lowercased() }

    /// A decimal from a JSON number or numeric string.
    static func decimal(_ value: Any?) -> Decimal? {
        switch value {
        case let d as Decimal: d
        case let i as Int: Decimal(i)
        case let n as NSNumber: Decimal(string: n.stringValue)
        case let s as String: Decimal(string: s)
        default: nil
        }
    }

    /// A record with its dates written the Exact way, ready for JSONSerialization.
    static func encodable(_ record: [String: Any]) -> [String: Any] {
        record.mapValues { value -> Any in
            switch value {
            case let date as Date: Self.date(date)
            case let decimal as Decimal: NSDecimalNumber(decimal: decimal)
            case let nested as [String: Any]: encodable(nested)
            case let list as [[String: Any]]: list.map(encodable)
            default: value
            }
        }
    }
}
