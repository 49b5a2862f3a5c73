import Foundation

/// A flow: records of one connection's stream delivered to another connection's stream,
/// on a schedule, filtered and mapped on the way.
public struct FlowConfig: Sendable {
    public var name: String
    public var source: StreamRef
    public var target: StreamRef
    public var schedule: FlowSchedule
    /// Read nothing updated before this (backfills start here).
    public var startDate: Date?
    /// Which records the flow takes (an object).
    public var filter: ConfigValue
    /// Overrides, value maps and defaults applied on the way (an object).
    public var mapping: ConfigValue
    /// What the source plugin is told about this flow's read (which warehouse, which
    /// statuses): an object handed over as is, empty when the flow sets none.
    public var readOptions: ConfigValue
    public var line: Int?
    /// Lines of the flow's keys, for error messages.
    public var lines: [String: Int]

    static let keys: Set<String> = ["from", "to", "schedule", "start_date", "read_options", "filter", "mapping"]

    static func readAll(_ at: ConfigReader.Located, reader: ConfigReader) -> [FlowConfig]? {
        guard case .mapping(let mapping) = at.node else {
            reader.report(at, "expected a mapping of flow names to flows")
            return nil
        }
        return mapping.compactMap { keyNode, value in
            guard let name = keyNode.string else { return nil }
            let path = at.child(name)
            guard name.wholeMatch(of: /[a-z0-9][a-z0-9_-]*/) != nil else {
                reader.report(line: keyNode.mark?.line, key: path, "flow names are lowercase letters, digits, '-' and '_'")
                return nil
            }
            return read(.init(node: value, path: path), name: name, reader: reader)
        }
    }

    static func read(_ at: ConfigReader.Located, name: String, reader: ConfigReader) -> FlowConfig? {
        guard let keys = reader.mapping(at, allowed: Self.keys) else { return nil }
        var lines: [String: Int] = [:]
        for (key, node) in keys { lines[key] = node.line }
        func ref(_ key: String) -> StreamRef? {
            guard let node = keys[key] else {
                reader.report(at, "\(key) is missing: give it as connection.stream")
                return nil
            }
            guard let text = reader.string(node) else { return nil }
            guard let parsed = StreamRef(text) else {
                reader.report(node, "\"\(text)\" is not connection.stream")
                return nil
            }
            return parsed
        }
        let source = ref("from")
        let target = ref("to")
        var schedule = FlowSchedule.manual
        if let node = keys["schedule"], let text = reader.string(node) {
            do {
                schedule = try FlowSchedule(parsing: text)
            } catch {
                reader.report(node, error.description)
            }
        }
        var startDate: Date?
        if let node = keys["start_date"], let text = reader.string(node) {
            startDate = FlowConfig.date(text)
            if startDate == nil { reader.report(node, "\"\(text)\" is not a date such as 2026-01-01 or 2026-01-01T00:00:00Z") }
        }
        func object(_ key: String, allowed: Set<String>) -> ConfigValue {
            guard let node = keys[key], let entries = reader.mapping(node, allowed: allowed) else { return .object([:]) }
            var ignored: [String: Int] = [:]
            return .object(entries.compactMapValues { reader.value($0, lines: &ignored) })
        }
        let filter = object("filter", allowed: ["status", "skip_test_orders", "where"])
        let mapping = object("mapping", allowed: ["set", "defaults", "value_maps", "update", "options"])
        var readOptions = ConfigValue.object([:])
        if let node = keys["read_options"] {
            var ignored: [String: Int] = [:]
            if case .object(let entries)? = reader.value(node, lines: &ignored) {
                readOptions = .object(entries)
            } else {
                reader.report(node, "expected a mapping of the source's read options, such as { warehouse: \"2\" }")
            }
        }
        guard let source, let target else { return nil }
        return FlowConfig(
            name: name, source: source, target: target, schedule: schedule, startDate: startDate,
            filter: filter, mapping: mapping, readOptions: readOptions, line: at.line, lines: lines)
    }

    /// A date (taken as midnight UTC) or an RFC 3339 time.
    public static func date(_ text: String) -> Date? {
        if let date = ISO8601DateFormatter().date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        day.timeZone = TimeZone(identifier: "UTC")
        return day.date(from: text)
    }
}

/// `connection.stream`.
public struct StreamRef: Sendable, Equatable, CustomStringConvertible {
    public var connection: String
    public var stream: String

    public init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        connection = parts[0]
        stream = parts[1]
    }

    public var description: String { "\(connection).\(stream)" }
}
