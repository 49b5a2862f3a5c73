import Foundation
import KoppelHost
import KoppelSandbox
import Logging

/// A deployment directory wired to a running sandbox, ready to sync: the deployment file,
/// the vault holding the sandbox's credentials, and an Exact Online sign-in made through
/// the OAuth authorization-code flow, as `koppel auth` makes it.
///
/// `koppel demo` and `koppel-bench` build on it. The connections are always the same:
/// `shop` (WooCommerce), `mww` (Mijnwebwinkel), `exact` (Exact Online, the sandbox's
/// first administration), `exact-mww` (its second, when the sandbox has one: the two
/// shops number their orders alike, and one administration per shop keeps the books
/// apart), `buz` (Boekuwzending) and `sink` (the null connector), each only when its
/// plugin is loaded.
public struct DemoDeployment: Sendable {
    /// The directory holding the deployment file, the state file and the master key.
    public let directory: String
    /// The deployment file.
    public var configFile: String { "\(directory)/koppel.yaml" }
    /// Files this type writes into the directory; `create` removes them first, since
    /// a new sandbox knows nothing of an earlier one's deliveries.
    static let ownFiles = ["koppel.yaml", "koppel.sqlite", "koppel.sqlite-wal", "koppel.sqlite-shm", "master.key"]

    /// Writes the deployment into `directory` (created when missing), stores the
    /// credentials in its vault and signs in to Exact Online.
    ///
    /// - Parameters:
    ///   - sandbox: the running sandbox the connections point at.
    ///   - pluginDirectory: where the connector plugins are.
    ///   - load: the plugins to load.
    ///   - flows: the YAML under `flows:`, indented by two spaces.
    ///   - extra: more top-level YAML (`server:`, `alerts:`).
    public static func create(
        in directory: String, sandbox: Sandbox, pluginDirectory: String,
        load: [String] = ["woocommerce", "mijnwebwinkel", "exact-online"], flows: String, extra: String = "", logger: Logger
    ) throws -> DemoDeployment {
        let files = FileManager.default
        try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for file in ownFiles { try? files.removeItem(atPath: "\(directory)/\(file)") }
        let deployment = DemoDeployment(directory: directory)

        let exact = sandbox.exact.options
        let woo = sandbox.wooCommerce.options
        let divisions = exact.divisions
        let url = { (name: String) in sandbox.endpoints.first { $0.name == name }?.baseURL ?? "" }
        let exactSettings = { (division: Int) in
            #"{ base_url: "\#(url("exact-online"))", division: \#(division), client_id: \#(exact.clientID), journal: "70", warehouse: "1" }"#
        }
        var connections: [(name: String, plugin: String, settings: String)] = [
            ("shop", "woocommerce", #"{ base_url: "\#(url("woocommerce"))", consumer_key: \#(woo.consumerKey) }"#),
            ("mww", "mijnwebwinkel", #"{ base_url: "\#(url("mijnwebwinkel"))" }"#),
            ("exact", "exact-online", exactSettings(divisions[0])),
        ]
        // The second division is the same Exact user's: it shares the first's sign-in.
        if divisions.count > 1 { connections.append(("exact-mww", "exact-online", exactSettings(divisions[1]) + ", sign_in_with: exact")) }
        let buz = sandbox.boekuwzending.options
        connections.append(("buz", "boekuwzending", #"{ base_url: "\#(url("boekuwzending"))", client_id: \#(buz.clientID) }"#))
        if load.contains("null") { connections.append(("sink", "null", "{}")) }
        let written = connections.filter { load.contains($0.plugin) }
            .map { "  \($0.name): { plugin: \($0.plugin), settings: \($0.settings) }\n" }.joined()
        let yaml = """
            # A deployment on the sandbox: every connection points at a fake on loopback,
            # which lives only as long as the demo (or benchmark) does. Secrets are in the vault, sealed
            # with master.key; the state file is koppel.sqlite.
            state: { path: koppel.sqlite }
            vault: { key_file: master.key }
            plugins:
              directories: ["\(pluginDirectory)"]
              load: [\(load.joined(separator: ", "))]
            connections:
            \(written)flows:
            \(flows)
            \(extra)
            """
        try yaml.write(toFile: deployment.configFile, atomically: true, encoding: .utf8)

        try MasterKey.generate().write(to: "\(directory)/master.key")
        let runtime = try Runtime.open(configFile: deployment.configFile, createState: true, environment: [:], logger: logger)
        let vault = try runtime.vault()
        let connected = Set(runtime.deployment.connections.map(\.name))
        if connected.contains("shop") {
            try vault.set(connection: "shop", name: "consumer_secret", value: woo.consumerSecret)
        }
        if connected.contains("mww") {
            try vault.set(connection: "mww", name: "api_token", value: sandbox.mijnwebwinkel.options.token)
            try vault.set(connection: "mww", name: "partner_token", value: sandbox.mijnwebwinkel.options.partnerToken)
        }
        if connected.contains("buz") {
            try vault.set(connection: "buz", name: "client_secret", value: buz.clientSecret)
        }
        if connected.contains("exact") {
            try vault.set(connection: "exact", name: "client_secret", value: exact.clientSecret)
            // The app's webhook secret, which Exact's App Center shows its maker.
            try vault.set(connection: "exact", name: "webhook_secret", value: exact.webhookSecret)
            try signIn(runtime: runtime, connection: "exact")
        }
        return deployment
    }

    /// The mapping of a shop's orders to Exact sales documents the demo and the benchmark
    /// use: the shop's payment methods (`paymentConditions`, method to Exact payment
    /// condition) to payment conditions, VAT rates to VAT codes, revenue accounts by
    /// country, shipping and payment costs on their own items. Indented for a flow's
    /// `mapping:` key at four spaces.
    public static func orderMapping(paymentConditions: String) -> String {
        """
              value_maps:
                payment_condition:
                  from: payment_method
                  to: payment_condition
                  values: { \(paymentConditions) }
                  default: "14"
              options:
                vat_codes: { "21": "1", "9": "2", "0": "0" }
                revenue_accounts: { NL: "8000", default: "8020" }
                shipping: { item: VERZENDKOSTEN, gl_account: "8100" }
                payment_costs: { item: BETAALKOSTEN, gl_account: "8110" }
        """
    }

    /// `orderMapping` for WooCommerce's payment methods.
    public static let wooOrderMapping = orderMapping(paymentConditions: #"ideal: ID, paypal: PP, bacs: "14", cod: "00""#)

    /// The authorization-code flow against the sandbox's Exact Online, which consents at
    /// once: ask the consent URL, take the code from its redirect (as a browser would hand
    /// it to `koppel auth`), exchange it for tokens and store them sealed in the vault.
    static func signIn(runtime: Runtime, connection: String) throws {
        let tokens = try runtime.tokenManager(connection)
        let redirectURI = "http://localhost:8765/callback"
        let state = UUID().uuidString
        let consent = OutboundRequest(
            method: "GET", url: try tokens.authorizationURL(redirectURI: redirectURI, state: state), headers: [], idempotent: true, timeout: 10)
        guard case .response(let answer) = CurlHTTPClient().send(consent), answer.status == 302,
            let location = answer.headers["location"],
            let query = URLComponents(string: location)?.queryItems,
            query.first(where: { $0.name == "state" })?.value == state,
            let code = query.first(where: { $0.name == "code" })?.value
        else { throw DemoError.signInFailed(connection: connection) }
        try tokens.exchange(code: code, redirectURI: redirectURI)
    }
}

/// Why a demo or benchmark deployment could not be set up.
public enum DemoError: Error, CustomStringConvertible {
    case signInFailed(connection: String)

    public var description: String {
        switch self {
        case .signInFailed(let connection):
            "the sandbox's Exact Online did not answer the consent request for \(connection) with a redirect carrying a code"
        }
    }
}
