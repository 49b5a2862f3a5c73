import Foundation

/// One connection to a remote system: the plugin that speaks its API and the settings
/// for this shop or administration. Secret settings are not here but in the vault.
public struct ConnectionConfig: Sendable {
    public var name: String
    public var plugin: String
    /// The settings as written (an object).
    public var settings: ConfigValue
    /// The line of each settings key path, for error messages.
    public var settingLines: [String: Int]
    public var line: Int?
    /// Another connection whose OAuth sign-in this one uses (`sign_in_with: exact`): two
    /// Exact divisions under one Exact user share one token set, so they refresh once,
    /// not twice (Exact allows 200 token calls per user a day).
    public var signInWith: String?
    public var signInWithLine: Int?


    static func readAll(_ at: ConfigReader.Located, reader: ConfigReader) -> [ConnectionConfig]? {
        guard case .mapping(let mapping) = at.node else {
            reader.report(at, "expected a mapping of connection names to connections")
            return nil
        }
        return mapping.compactMap { keyNode, value in
            guard let name = keyNode.string else { return nil }
            let path = at.child(name)
            guard name.wholeMatch(of: /[a-z0-9][a-z0-9_-]*/) != nil else {
                reader.report(line: keyNode.mark?.line, key: path, "connection names are lowercase letters, digits, '-' and '_'")
                return nil
            }
            return read(.init(node: value, path: path), name: name, reader: reader)
        }
    }

    static func read(_ at: ConfigReader.Located, name: String, reader: ConfigReader) -> ConnectionConfig? {
        guard let keys = reader.mapping(at, allowed: ["plugin", "settings", "sign_in_with"]) else { return nil }
        guard let pluginNode = keys["plugin"] else {
            reader.report(at, "plugin is missing: name the plugin this connection uses")
            return nil
        }
        guard let plugin = reader.string(pluginNode) else { return nil }
        var lines: [String: Int] = [:]
        var settings = ConfigValue.object([:])
        if let node = keys["settings"] {
            guard case .mapping = node.node else {
                reader.report(node, "expected a mapping of setting names to values")
                return nil
            }
            settings = reader.value(node, lines: &lines) ?? .object([:])
        }
        var connection = ConnectionConfig(name: name, plugin: plugin, settings: settings, settingLines: lines, line: at.line)
        if let node = keys["sign_in_with"] {
            connection.signInWith = reader.string(node)
            connection.signInWithLine = node.line
        }
        return connection
    }
}
