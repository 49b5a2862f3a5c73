/// One problem in a deployment file, located precisely enough to fix it without
/// searching: `deploy.yaml:12: flows[0].schedule: "daily" is not ...`.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based line, or nil when the problem is the file as a whole.
    public var line: Int?
    /// The key's path in the file (`plugins.load[1]`).
    public var key: String
    public var message: String

    public init(file: String, line: Int?, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    /// Issues in the order of the file.
    static func ordered(_ issues: [ConfigIssue]) -> [ConfigIssue] {
        issues.sorted { ($0.line ?? 0, $0.key) < ($1.line ?? 0, $1.key) }
    }

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return key.isEmpty ? "\(location): \(message)" : "\(location): \(key): \(message)"
    }
}

/// Why a deployment file could not be used.
public enum ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(file: String, reason: String)
    /// The file was read and has these problems, every one of them.
    case invalid([ConfigIssue])

    public var description: String {
        switch self {
        case .unreadable(let file, let reason):
            "\(file): cannot be read: \(reason)"
        case .invalid(let issues):
            issues.map(\.description).joined(separator: "\n")
        }
    }
}
