/// Why the runtime could not do what was asked, in words an operator can act on.
public enum RuntimeError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownConnection(name: String, known: [String])
    case unknownFlow(name: String, known: [String])
    case noBaseURL(connection: String, setting: String)
    case unknownRegion(connection: String, setting: String, value: String, known: [String])
    case notOAuth2(connection: String, scheme: String)

    public var description: String {
        switch self {
        case .unknownConnection(let name, let known):
            "no connection named \(name) in the deployment (connections: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
        case .unknownFlow(let name, let known):
            "no flow named \(name) in the deployment (flows: \(known.isEmpty ? "none" : known.joined(separator: ", ")))"
        case .noBaseURL(let connection, let setting):
            "connection \(connection) has no base URL: set \(setting) in its settings"
        case .unknownRegion(let connection, let setting, let value, let known):
            "connection \(connection): \(setting) \"\(value)\" is not one of \(known.joined(separator: ", "))"
        case .notOAuth2(let connection, let scheme):
            "connection \(connection) signs in with \(scheme), not OAuth 2; store its credentials with `koppel secrets set`"
        }
    }
}
