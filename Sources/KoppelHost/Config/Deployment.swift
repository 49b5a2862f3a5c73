import Foundation
import Yams

/// A deployment: where state and secrets live, which plugins to load, the connections
/// to remote systems and the flows between them, read from one YAML file.
///
/// ```yaml
/// state:
///   path: koppel.sqlite              # relative paths are relative to this file
///   activity_retention_days: 30
/// vault:
///   key_file: master.key             # or KOPPEL_MASTER_KEY in the environment
/// plugins:
///   directories: [/usr/lib/koppel/plugins]
///   load: [woocommerce, exact-online]
/// connections:
///   shop:
///     plugin: woocommerce
///     settings: { base_url: "https://shop.example.nl", consumer_key: ck_123 }
///   exact:
///     plugin: exact-online
///     settings: { region: nl, division: 123456, client_id: "..." }
/// flows:
///   orders-to-exact:
///     from: shop.orders
///     to: exact.sales_invoices
///     schedule: every 15m             # every N s|m|h, daily HH:MM, cron "m h dom mon dow", webhook, manual
///     start_date: 2026-01-01
///     filter: { status: [processing, completed], skip_test_orders: true }
///     mapping: { ... }
/// ```
public struct Deployment: Sendable {
    /// The file it was read from.
    public var file: String
    public var state: StateSettings
    public var vault: VaultSettings
    public var plugins: PluginSelection
    public var connections: [ConnectionConfig]
    public var flows: [FlowConfig]
    /// Where `koppel run` serves webhooks, the dashboard and /metrics.
    public var server: ServerSettings
    /// Where failures and recoveries are announced.
    public var alerts: AlertSettings

    /// The connection with this name.
    public func connection(_ name: String) -> ConnectionConfig? { connections.first { $0.name == name } }
    /// The flow with this name.
    public func flow(_ name: String) -> FlowConfig? { flows.first { $0.name == name } }

    /// Reads and validates a deployment file, reporting every problem at once.
    public static func load(file: String) throws(ConfigError) -> Deployment {
        let (deployment, issues) = try read(file: file)
        guard issues.isEmpty, let deployment else { throw .invalid(ConfigIssue.ordered(issues)) }
        return deployment
    }

    /// Reads a deployment file, loads its plugins with `loadPlugins`, and checks the
    /// connections and flows against them: every problem of the file and of its
    /// settings is reported at once.
    public static func load<Plugin>(
        file: String, loadPlugins: (PluginSelection) throws -> [Plugin], manifest: (Plugin) -> PluginManifest
    ) throws -> (Deployment, [Plugin]) {
        let (deployment, issues) = try read(file: file)
        guard let deployment else { throw ConfigError.invalid(issues) }
        let plugins = try loadPlugins(deployment.plugins)
        var all = issues
        do {
            try deployment.validate(against: plugins.map(manifest))
        } catch {
            if case .invalid(let more) = error { all += more }
        }
        guard all.isEmpty else { throw ConfigError.invalid(ConfigIssue.ordered(all)) }
        return (deployment, plugins)
    }

    /// Reads a file: the deployment (nil when its plugins cannot even be named) and
    /// every problem found.
    static func read(file: String) throws(ConfigError) -> (Deployment?, [ConfigIssue]) {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw .unreadable(file: file, reason: (error as NSError).localizedDescription)
        }
        return try parse(text, file: file)
    }

    /// Validates a deployment given as text; relative paths are taken relative to the
    /// file's directory. Returns what could be read and every problem.
    static func parse(_ text: String, file: String) throws(ConfigError) -> (Deployment?, [ConfigIssue]) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw .invalid([ConfigIssue(file: file, line: error.line, key: "", message: "not valid YAML: \(error.summary)")])
        } catch {
            throw .invalid([ConfigIssue(file: file, line: nil, key: "", message: "not valid YAML: \(error)")])
        }
        guard let root else {
            throw .invalid([ConfigIssue(file: file, line: nil, key: "", message: "the file is empty")])
        }
        let reader = ConfigReader(file: file)
        let base = (file as NSString).deletingLastPathComponent
        let top = reader.mapping(.init(node: root, path: ""), allowed: ["state", "vault", "plugins", "connections", "flows", "server", "alerts"]) ?? [:]

        let state = top["state"].map { StateSettings.read($0, reader: reader, base: base) } ?? StateSettings(base: base)
        let vault = top["vault"].map { VaultSettings.read($0, reader: reader, base: base, state: state) } ?? VaultSettings(state: state)
        var plugins: PluginSelection?
        if let section = top["plugins"] {
            plugins = PluginSelection.read(section, reader: reader, base: base)
        } else {
            reader.report(line: root.mark?.line, key: "plugins", "is missing: name the plugin directories and the plugins to load")
        }
        let connections = top["connections"].flatMap { ConnectionConfig.readAll($0, reader: reader) } ?? []
        let flows = top["flows"].flatMap { FlowConfig.readAll($0, reader: reader) } ?? []
        let server = top["server"].map { ServerSettings.read($0, reader: reader, base: base) } ?? ServerSettings()
        let alerts = top["alerts"].map { AlertSettings.read($0, reader: reader) } ?? AlertSettings()

        if let plugins {
            for connection in connections where !plugins.load.contains(connection.plugin) {
                reader.report(line: connection.line, key: "connections.\(connection.name).plugin", "plugin \(connection.plugin) is not loaded; add it to plugins.load")
            }
        }
        for connection in connections {
            guard let owner = connection.signInWith else { continue }
            let key = "connections.\(connection.name).sign_in_with"
            if let other = connections.first(where: { $0.name == owner }), other.name != connection.name {
                if other.plugin != connection.plugin {
                    reader.report(line: connection.signInWithLine, key: key, "\(owner) uses plugin \(other.plugin), not \(connection.plugin); only a connection of the same plugin can share its sign-in")
                } else if other.signInWith != nil {
                    reader.report(line: connection.signInWithLine, key: key, "\(owner) uses the sign-in of \(other.signInWith!) itself; name \(other.signInWith!) here")
                }
            } else {
                reader.report(line: connection.signInWithLine, key: key, "no other connection named \(owner)")
            }
        }
        for flow in flows {
            for (end, ref) in [("from", flow.source), ("to", flow.target)] where !connections.contains(where: { $0.name == ref.connection }) {
                reader.report(line: flow.lines[end] ?? flow.line, key: "flows.\(flow.name).\(end)", "no connection named \(ref.connection)")
            }
        }
        guard let state, let vault, let plugins else { return (nil, reader.issues) }
        return (Deployment(
            file: file, state: state, vault: vault, plugins: plugins, connections: connections, flows: flows,
            server: server, alerts: alerts), reader.issues)
    }

    /// Checks the connections' settings against their plugins' config schemas, and the
    /// flows' streams against what the plugins read and write. Every problem at once.
    public func validate(against manifests: [PluginManifest]) throws(ConfigError) {
        var issues: [ConfigIssue] = []
        func report(_ line: Int?, _ key: String, _ message: String) {
            issues.append(ConfigIssue(file: file, line: line, key: key, message: message))
        }
        for connection in connections {
            guard let manifest = manifests.first(where: { $0.name == connection.plugin }) else { continue }
            if connection.signInWith != nil, manifest.authScheme != "oauth2" || manifest.auth.grant == "password" {
                report(connection.signInWithLine, "connections.\(connection.name).sign_in_with",
                       "\(manifest.name) has no OAuth sign-in to share; remove sign_in_with")
            }
            let schema = (try? JSONSerialization.jsonObject(with: Data(manifest.configSchemaJSON.utf8))) as? [String: Any] ?? [:]
            let settings = connection.settings.objectValue ?? [:]
            for problem in SettingsSchema(schema: schema, secrets: Set(manifest.secretSettings)).problems(in: settings) {
                let key = problem.path.isEmpty ? "connections.\(connection.name).settings" : "connections.\(connection.name).settings.\(problem.path)"
                report(connection.settingLines[problem.path] ?? connection.settingLines[""] ?? connection.line, key, problem.message)
            }
            for secret in manifest.secretSettings where settings[secret] != nil {
                report(connection.settingLines[secret], "connections.\(connection.name).settings.\(secret)",
                       "is a secret and does not belong in this file; store it with `koppel secrets set \(connection.name) \(secret)`")
            }
        }
        for flow in flows {
            for (end, ref, write) in [("from", flow.source, false), ("to", flow.target, true)] {
                guard let connection = connection(ref.connection),
                    let manifest = manifests.first(where: { $0.name == connection.plugin })
                else { continue }
                if !write, case .webhook = flow.schedule, manifest.webhooks == nil {
                    report(flow.lines["schedule"] ?? flow.line, "flows.\(flow.name).schedule",
                           "\(manifest.name) sends no webhooks; schedule this flow with every 5m or a daily time")
                }
                let streams = write ? manifest.writeStreams : manifest.readStreams
                if !streams.contains(where: { $0.name == ref.stream }) {
                    let known = streams.map(\.name).joined(separator: ", ")
                    let verb = write ? "write" : "read"
                    report(flow.lines[end] ?? flow.line, "flows.\(flow.name).\(end)",
                           "\(manifest.name) cannot \(verb) stream \(ref.stream)" + (known.isEmpty ? " (it \(verb)s none)" : " (it can \(verb): \(known))"))
                }
            }
        }
        if !issues.isEmpty { throw .invalid(issues) }
    }
}

/// Where the state lives and how long the activity log is kept.
public struct StateSettings: Sendable, Equatable {
    /// The SQLite state file.
    public var path: String
    /// Activity log entries older than this many days are deleted.
    public var activityRetentionDays: Int
    /// How long a flow's lease lasts unrenewed. A running flow renews it four times in
    /// that span, however slow its calls; a process that dies (or hangs) without
    /// renewing gives the flow to another process after this long.
    public var leaseSeconds: TimeInterval

    init(base: String) {
        path = (base as NSString).appendingPathComponent("koppel.sqlite")
        activityRetentionDays = 30
        leaseSeconds = 120
    }

    static func read(_ at: ConfigReader.Located, reader: ConfigReader, base: String) -> StateSettings? {
        guard let keys = reader.mapping(at, allowed: ["path", "activity_retention_days", "lease_seconds"]) else { return nil }
        var settings = StateSettings(base: base)
        if let node = keys["path"], let path = reader.string(node) {
            settings.path = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        }
        if let node = keys["activity_retention_days"], let days = reader.integer(node, minimum: 1) {
            settings.activityRetentionDays = days
        }
        if let node = keys["lease_seconds"], let seconds = reader.integer(node, minimum: 1) {
            settings.leaseSeconds = TimeInterval(seconds)
        }
        return settings
    }
}

/// Where the vault's master key lives when `KOPPEL_MASTER_KEY` is not set.
public struct VaultSettings: Sendable, Equatable {
    public var keyFile: String

    init(state: StateSettings?) {
        let directory = ((state?.path ?? "") as NSString).deletingLastPathComponent
        keyFile = (directory as NSString).appendingPathComponent("master.key")
    }

    static func read(_ at: ConfigReader.Located, reader: ConfigReader, base: String, state: StateSettings?) -> VaultSettings? {
        guard let keys = reader.mapping(at, allowed: ["key_file"]) else { return nil }
        var settings = VaultSettings(state: state)
        if let node = keys["key_file"], let path = reader.string(node) {
            settings.keyFile = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        }
        return settings
    }
}

/// Where `koppel run` listens for webhooks and serves the dashboard and /metrics.
///
/// ```yaml
/// server:
///   listen: 127.0.0.1:8720        # the default; anything but loopback needs a token
///   public_url: https://koppel.example.nl   # how senders and alerts reach it
///   token_file: dashboard.token   # or KOPPEL_SERVER_TOKEN in the environment
/// ```
public struct ServerSettings: Sendable, Equatable {
    public var host = "127.0.0.1"
    public var port = 8720
    /// The address others use to reach this server (webhook delivery URLs, alert links).
    public var publicURL: String?
    /// A file holding the token the dashboard and /metrics require off loopback.
    public var tokenFile: String?

    init() {}

    /// Parses `host:port`, or `[ipv6]:port` (`[::1]:8720`, `[::]:8720`); nil when it is
    /// neither.
    public static func address(_ text: String) -> (host: String, port: Int)? {
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.range(of: "]:") else { return nil }
            host = text[text.index(after: text.startIndex)..<close.lowerBound]
            portText = text[close.upperBound...]
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            (host, portText) = (parts[0], parts[1])
        }
        guard let port = Int(portText), (0...65535).contains(port), !host.isEmpty else { return nil }
        return (String(host), port)
    }

    /// These settings listening on `text` (`host:port`) instead; nil when it is not that.
    public func listening(on text: String) -> ServerSettings? {
        guard let (host, port) = Self.address(text) else { return nil }
        var settings = self
        settings.host = host
        settings.port = port
        return settings
    }

    /// True when only this machine can connect.
    public var isLoopback: Bool { Self.loopbackNames.contains(host) }

    static let loopbackNames: Set<String> = ["127.0.0.1", "localhost", "::1"]

    /// The names (with their ports) browsers may use to reach the dashboard: loopback's,
    /// the listen address's, and `public_url`'s. Nil when any name is accepted: a server
    /// listening on every address with no public URL, where the token guards it.
    public var acceptedHosts: Set<String>? {
        var names = Self.loopbackNames
        if !["0.0.0.0", "::"].contains(host) { names.insert(host) } else if publicURL == nil { return nil }
        var accepted = Set(names.flatMap { name in
            let bracketed = name.contains(":") ? "[\(name)]" : name
            return [bracketed, "\(bracketed):\(port)"]
        })
        if let publicURL, let url = URLComponents(string: publicURL), let publicHost = url.host {
            accepted.insert(publicHost.lowercased())
            if let publicPort = url.port { accepted.insert("\(publicHost.lowercased()):\(publicPort)") }
        }
        return accepted
    }

    /// The URL the dashboard is reached at.
    public var baseURL: String { publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    static func read(_ at: ConfigReader.Located, reader: ConfigReader, base: String) -> ServerSettings {
        var settings = ServerSettings()
        guard let keys = reader.mapping(at, allowed: ["listen", "public_url", "token_file"]) else { return settings }
        if let node = keys["listen"], let text = reader.string(node) {
            if let (host, port) = address(text) {
                settings.host = host
                settings.port = port
            } else {
                reader.report(node, "\"\(text)\" is not host:port, such as 127.0.0.1:8720, 0.0.0.0:8720 or [::1]:8720")
            }
        }
        if let node = keys["public_url"], let text = reader.string(node) {
            if text.hasPrefix("http://") || text.hasPrefix("https://") {
                settings.publicURL = text.hasSuffix("/") ? String(text.dropLast()) : text
            } else {
                reader.report(node, "\"\(text)\" is not an http(s) URL")
            }
        }
        if let node = keys["token_file"], let path = reader.string(node) {
            settings.tokenFile = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        }
        return settings
    }
}

/// Where alerts go: an HTTP POST of a JSON message, and/or a command given that JSON on
/// standard input.
///
/// ```yaml
/// alerts:
///   url: https://hooks.example.nl/koppel
///   command: /usr/local/bin/page-ops
/// ```
public struct AlertSettings: Sendable, Equatable {
    public var url: String?
    public var command: String?

    init() {}

    /// Whether any channel is set.
    public var isConfigured: Bool { url != nil || command != nil }

    static func read(_ at: ConfigReader.Located, reader: ConfigReader) -> AlertSettings {
        var settings = AlertSettings()
        guard let keys = reader.mapping(at, allowed: ["url", "command"]) else { return settings }
        if let node = keys["url"], let text = reader.string(node) {
            if text.hasPrefix("http://") || text.hasPrefix("https://") {
                settings.url = text
            } else {
                reader.report(node, "\"\(text)\" is not an http(s) URL")
            }
        }
        if let node = keys["command"], let text = reader.string(node) { settings.command = text }
        return settings
    }
}
