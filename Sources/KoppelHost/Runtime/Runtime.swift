import Foundation
import Logging

/// Everything a deployment needs at run time, put together once: the state store, the
/// vault, the loaded plugins, and per connection its transport and token manager. The
/// CLI, the scheduler and the tests all start here.
public final class Runtime: @unchecked Sendable {
    public let deployment: Deployment
    public let store: any StateStore
    public let redactor: SecretRedactor
    public let logger: Logger
    public let activity: ActivityRecorder
    /// What `GET /metrics` serves.
    public let metrics = KoppelMetrics()
    /// The plugins the deployment names, loaded and checked.
    public let plugins: [LoadedPlugin]
    let environment: [String: String]

    private let lock = NSLock()
    private var cachedVault: Vault?
    private var tokenManagers: [String: OAuth2TokenManager] = [:]
    private var governors: [String: RateLimitGovernor] = [:]
    private var basicAuthorizers: [String: BasicAuthorizer] = [:]
    private var errorBudgets: [String: EndpointErrorBudget] = [:]

    /// Reads the deployment, opens the state store, loads and checks the plugins, and
    /// checks every connection's settings against its plugin. The state file must exist
    /// unless `createState` (`koppel init`): one that silently started anew would deliver
    /// everything again.
    public static func open(
        configFile: String, createState: Bool = false, environment: [String: String] = ProcessInfo.processInfo.environment,
        redactor: SecretRedactor = SecretRedactor(), logger: Logger
    ) throws -> Runtime {
        let (deployment, plugins) = try Deployment.load(
            file: configFile, loadPlugins: { try PluginLoader(directories: $0.directories).load(named: $0.load) }, manifest: \.manifest)
        let store = try SQLiteStateStore(path: deployment.state.path, create: createState)
        return Runtime(deployment: deployment, store: store, plugins: plugins, environment: environment, redactor: redactor, logger: logger)
    }

    /// Deletes activity older than the deployment's retention (after each flow run, so a
    /// read-only command never writes).
    public func pruneActivity() throws {
        let cutoff = Date().addingTimeInterval(-Double(deployment.state.activityRetentionDays) * 86_400)
        try store.pruneActivities(before: cutoff)
    }

    init(deployment: Deployment, store: any StateStore, plugins: [LoadedPlugin], environment: [String: String], redactor: SecretRedactor, logger: Logger) {
        self.deployment = deployment
        self.store = store
        self.plugins = plugins
        self.environment = environment
        self.redactor = redactor
        self.logger = logger
        self.activity = ActivityRecorder(store: store, redactor: redactor, logger: logger)
    }

    /// The master key, from `KOPPEL_MASTER_KEY` or the deployment's key file (finishing
    /// a key rotation that was interrupted).
    public func masterKey() throws -> MasterKey {
        if environment["KOPPEL_MASTER_KEY"]?.isEmpty ?? true {
            try KeyRotation(keyFile: deployment.vault.keyFile).completeIfInterrupted(sealedWith: try store.sealedSecrets().first?.keyID)
        }
        return try MasterKey.load(environment: environment, keyFile: deployment.vault.keyFile)
    }

    /// The vault, opened with the master key.
    public func vault() throws -> Vault {
        if let vault = lock.withLock({ cachedVault }) { return vault }
        let vault = Vault(store: store, key: try masterKey(), redactor: redactor)
        lock.withLock { cachedVault = vault }
        return vault
    }

    /// A connection and the plugin that serves it.
    public func connection(_ name: String) throws -> (config: ConnectionConfig, plugin: LoadedPlugin) {
        guard let config = deployment.connection(name),
            let plugin = plugins.first(where: { $0.name == config.plugin })
        else { throw RuntimeError.unknownConnection(name: name, known: deployment.connections.map(\.name)) }
        return (config, plugin)
    }

    /// A setting or, for secret settings, the vault's value: nil when neither has it.
    func credential(_ setting: String, of connection: String) throws -> String? {
        let (config, _) = try self.connection(connection)
        if let value = config.settings[setting]?.stringValue { return value }
        return try vault().get(connection: connection, name: setting)
    }

    func requireCredential(_ setting: String, of connection: String) throws -> String {
        guard let value = try credential(setting, of: connection) else {
            throw VaultError.missingSecret(connection: connection, name: setting)
        }
        return value
    }

    /// The connection's settings with its secrets resolved from the vault, as the JSON
    /// the plugin's `open` receives.
    public func resolvedSettings(_ name: String) throws -> Data {
        let (config, plugin) = try connection(name)
        var settings = config.settings.objectValue ?? [:]
        for secret in plugin.manifest.secretSettings {
            if let value = try vault().get(connection: name, name: secret) { settings[secret] = .string(value) }
        }
        return ConfigValue.object(settings).json
    }

    /// The API's base URL for a connection, or nil when its plugin needs none.
    public func baseURL(_ name: String) throws -> String? {
        let (config, plugin) = try connection(name)
        let rule = plugin.manifest.baseURL
        if let url = config.settings[rule.setting]?.stringValue { return url }
        if let chosenBy = rule.chosenBy, let choice = config.settings[chosenBy]?.stringValue {
            if let url = rule.choices[choice] { return url }
            if let template = rule.template { return template.replacingOccurrences(of: "{\(chosenBy)}", with: choice) }
            throw RuntimeError.unknownRegion(connection: name, setting: chosenBy, value: choice, known: rule.choices.keys.sorted())
        }
        return rule.fallback
    }

    /// The token manager of an OAuth 2 connection; one per connection per process, so
    /// that refreshes are single-flight. A connection's `token_url` setting, where its
    /// plugin offers one, takes the place of the manifest's token URL.
    public func tokenManager(_ name: String) throws -> OAuth2TokenManager {
        if let manager = lock.withLock({ tokenManagers[name] }) { return manager }
        let (config, plugin) = try connection(name)
        if let owner = config.signInWith { return try tokenManager(owner) }
        let auth = plugin.manifest.auth
        guard plugin.manifest.authScheme == "oauth2", let tokenTemplate = config.settings["token_url"]?.stringValue ?? auth.tokenURL else {
            throw RuntimeError.notOAuth2(connection: name, scheme: plugin.manifest.authScheme)
        }
        guard let base = try baseURL(name) else { throw RuntimeError.noBaseURL(connection: name, setting: plugin.manifest.baseURL.setting) }
        let expand = { (template: String) in template.replacingOccurrences(of: "{base_url}", with: base) }
        let client = OAuth2TokenManager.Client(
            connection: name, tokenURL: expand(tokenTemplate), authorizeURL: auth.authorizeURL.map(expand),
            clientID: try requireCredential(auth.setting(for: "client_id"), of: name),
            clientSecret: try requireCredential(auth.setting(for: "client_secret"), of: name),
            account: auth.grant == "password"
                ? .init(username: try requireCredential(auth.setting(for: "username"), of: name),
                        password: try requireCredential(auth.setting(for: "password"), of: name))
                : nil,
            refreshTokenIdleLifetime: auth.refreshTokenIdleDays.map { TimeInterval($0) * 86_400 })
        var configured = client
        configured.clientCredentials = auth.grant == "client_credentials"
        configured.basicClientAuth = auth.clientAuth == "basic"
        let manager = OAuth2TokenManager(client: configured, vault: try vault(), store: store, activity: activity, logger: logger)
        return lock.withLock {
            if let existing = tokenManagers[name] { return existing }
            tokenManagers[name] = manager
            return manager
        }
    }

    /// How requests of a connection are authorized, from its plugin's auth scheme.
    func authorizer(_ name: String, baseURL: String) throws -> (any RequestAuthorizer)? {
        let (config, plugin) = try connection(name)
        let auth = plugin.manifest.auth
        var scheme = plugin.manifest.authScheme
        if baseURL.lowercased().hasPrefix("http://"), let plain = auth.plainHTTP { scheme = plain }
        func value(_ role: String) throws -> String { try requireCredential(auth.setting(for: role), of: name) }
        switch scheme {
        case "basic":
            guard let query = auth.queryCredentials else {
                return BasicAuthorizer(username: try value("username"), password: try value("password"))
            }
            // One per connection for the process: a switch to the query is remembered.
            if let known = lock.withLock({ basicAuthorizers[name] }) { return known }
            let forced = query.setting.flatMap { config.settings[$0]?.boolValue } ?? false
            let logger = self.logger
            let setting = query.setting
            let authorizer = BasicAuthorizer(
                username: try value("username"), password: try value("password"),
                queryNames: .init(username: query.username, password: query.password), inQuery: forced,
                onSwitch: {
                    let hint = setting.map { " (set \($0): true on the connection to start that way)" } ?? ""
                    logger.warning(
                        "\(name) refused the credentials in the Authorization header (a host that strips it); sending them in the query from now on\(hint)",
                        metadata: ["connection": "\(name)"])
                })
            return lock.withLock {
                if let known = basicAuthorizers[name] { return known }
                basicAuthorizers[name] = authorizer
                return authorizer
            }
        case "oauth1":
            return OAuth1Authorizer(consumerKey: try value("username"), consumerSecret: try value("password"))
        case "bearer":
            return BearerAuthorizer(token: try value("token"))
        case "api-key":
            let placement = APIKeyAuthorizer.Placement(rawValue: auth.keyIn ?? "header") ?? .header
            if !auth.keys.isEmpty {
                let keys = try auth.keys.sorted { $0.key < $1.key }.map { (name: $0.key, value: try requireCredential($0.value, of: name)) }
                return APIKeyAuthorizer(keys: keys, placement: placement)
            }
            return APIKeyAuthorizer(
                name: auth.keyName ?? "api_key", value: try requireCredential(auth.credentials["key"] ?? "api_key", of: name), placement: placement)
        case "oauth2":
            return OAuth2Authorizer(tokens: try tokenManager(name))
        default:
            return nil
        }
    }

    /// The HTTP transport of a connection, or nil when it has no base URL.
    public func transport(_ name: String) throws -> HTTPTransport? {
        guard let base = try baseURL(name) else { return nil }
        let (_, plugin) = try connection(name)
        let (governor, errorBudget) = lock.withLock { () -> (RateLimitGovernor, EndpointErrorBudget?) in
            if let governor = governors[name] { return (governor, errorBudgets[name]) }
            // Every declared limit, a day's included: a run that would spend the day's
            // budget waits for it or stops with when it is back, instead of meeting 429s.
            let limits = plugin.manifest.rateLimits.map { RateLimitGovernor.Limit(limit: $0.limit, period: TimeInterval($0.perSeconds)) }
            let governor = RateLimitGovernor(declared: limits)
            governors[name] = governor
            let budget = plugin.manifest.errorBudget.map {
                EndpointErrorBudget(limit: $0.limit, period: TimeInterval($0.perSeconds), statuses: $0.statuses)
            }
            errorBudgets[name] = budget
            return (governor, budget)
        }
        var logger = self.logger
        logger[metadataKey: "connection"] = "\(name)"
        return HTTPTransport(
            connection: name, baseURL: base, authorizer: try authorizer(name, baseURL: base), governor: governor, errorBudget: errorBudget,
            activity: activity, metrics: metrics, logger: logger)
    }

    /// Opens the plugin instance of a connection with its settings, secrets, transport
    /// and state; `using` opens another build of the connection's plugin with them (the
    /// file `koppel plugins validate` checks).
    public func open(connection name: String, using other: LoadedPlugin? = nil, cancellation: CancellationFlag = CancellationFlag()) throws -> PluginConnection {
        let (_, loaded) = try connection(name)
        let plugin = other ?? loaded
        let settings = try resolvedSettings(name)
        let transport = try self.transport(name)
        let http: @Sendable (Data) -> Result<Data, PluginCallError>
        if let transport {
            http = transport.pluginService(cancellation: cancellation)
        } else {
            let missing = PluginCallError(.internal, RuntimeError.noBaseURL(connection: name, setting: plugin.manifest.baseURL.setting).description)
            http = { _ in .failure(missing) }
        }
        var logger = self.logger
        logger[metadataKey: "connection"] = "\(name)"
        let services = PluginServices(
            http: http, state: ConnectionPluginState(store: store, connection: name), redact: redactor.redact)
        return try plugin.open(configJSON: settings, services: services, logger: logger, cancellation: cancellation)
    }
}

/// A connection's plugin key/value state in the state store.
struct ConnectionPluginState: PluginStateStore {
    let store: any StateStore
    let connection: String

    func value(for key: String) throws -> String? { try store.pluginValue(connection: connection, key: key) }
    func setValue(_ value: String, for key: String) throws { try store.setPluginValue(value, connection: connection, key: key) }
    func removeValue(for key: String) throws { try store.removePluginValue(connection: connection, key: key) }
}
