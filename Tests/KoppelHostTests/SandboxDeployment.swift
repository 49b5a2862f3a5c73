import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// A running sandbox and a deployment pointed at it: what every end-to-end flow test
/// needs to set up a shop and an Exact administration and to look at them afterwards
/// the way a merchant would (through the sandbox's inspection door, never through
/// Koppel's own state).
final class SandboxDeployment {
    let sandbox: Sandbox
    let fixture: DeploymentFixture
    let client = CurlHTTPClient()
    let division: Int
    let options: Sandbox.Options

    init(_ options: Sandbox.Options) async throws {
        self.options = options
        sandbox = try await Sandbox.start(options)
        fixture = try DeploymentFixture()
        division = options.exact.divisions[0]
    }

    func stop() {
        sandbox.stop()
        fixture.remove()
    }

    var exactURL: String { endpoint("exact-online").baseURL }
    var wooURL: String { endpoint("woocommerce").baseURL }
    var mijnwebwinkelURL: String { endpoint("mijnwebwinkel").baseURL }
    /// The inspection door of the Exact division: `{exactInspect}/crm/Accounts`.
    var exactInspect: String { "\(exactURL)/_sandbox/exact/\(division)" }

    func endpoint(_ name: String) -> Sandbox.Endpoint {
        sandbox.endpoints.first { $0.name == name }!
    }

    /// Writes a deployment of the sandbox's WooCommerce shop (connection `shop`) and its
    /// Exact division (connection `exact`, with `exactSettings` added to its settings).
    func writeShopAndExact(flows: String, exactSettings: String = "", extra: String = "") throws {
        try fixture.write(
            load: ["woocommerce", "exact-online"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { base_url: "\(wooURL)", consumer_key: \(options.wooCommerce.consumerKey) }
                exact:
                  plugin: exact-online
                  settings: { base_url: "\(exactURL)", division: \(division), client_id: \(options.exact.clientID)\(exactSettings) }
                """,
            flows: flows, extra: extra)
    }

    /// Stores an Exact sign-in for `connection`: the client secret, and a refresh token
    /// from the sandbox's consent with an expired access token (the first call refreshes).
    /// A person signs in at a person's pace: the fake's clock first moves past Exact's
    /// refresh floor (R-AUTH-5), so that the first refresh is not too early.
    func signInToExact(_ connection: String) throws {
        let exact = options.exact
        _ = try json("POST", "\(exactURL)/_sandbox/exact/clock", body: ["advance": 600])
        XCTAssertEqual(try fixture.koppel(["secrets", "set", connection, "client_secret"], stdin: exact.clientSecret + "\n").status, 0)
        let tokens = try json("POST", "\(exactURL)/_sandbox/exact/tokens") as? [String: Any]
        let refresh = try XCTUnwrap(tokens?["refresh_token"] as? String)
        let sealed = #"{"accessToken":"expired","refreshToken":"\#(refresh)","expiresAt":"2020-01-01T00:00:00Z"}"#
        try fixture.runtime().vault().set(connection: connection, name: OAuth2TokenManager.vaultName, value: sealed)
    }

    @discardableResult
    func sync(_ flow: String, _ extra: [String] = []) throws -> TestSupport.Output {
        try fixture.koppel(["sync", flow] + extra)
    }

    /// The records a dry run of `flow` would write, by source key.
    func wouldWrite(_ flow: String) throws -> [String: [String: Any]] {
        let run = try sync(flow, ["--dry-run"])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        var records: [String: [String: Any]] = [:]
        for line in run.stdout.split(separator: "\n") where line.hasPrefix("would write ") {
            guard let colon = line.range(of: ": {") else { continue }
            let key = line.dropFirst("would write ".count).prefix { $0 != " " }
            let json = Data(line[line.index(after: colon.lowerBound)...].utf8)
            records[String(key)] = try JSONSerialization.jsonObject(with: json) as? [String: Any]
        }
        return records
    }

    func json(_ method: String, _ url: String, body: Any? = nil, headers: [(String, String)] = []) throws -> Any? {
        var request = OutboundRequest(method: method, url: url, headers: headers, idempotent: false, timeout: 30)
        if let body {
            request.body = try JSONSerialization.data(withJSONObject: body)
            request.setHeader("Content-Type", "application/json")
        }
        guard case .response(let response) = client.send(request) else { throw TestFailure("no answer from \(method) \(url)") }
        return try? JSONSerialization.jsonObject(with: response.body)
    }

    /// Every record of an Exact entity set, read through the sandbox's inspection door.
    func exactRecords(_ entitySet: String, expand: String? = nil) throws -> [[String: Any]] {
        var url: String? = "\(exactInspect)/\(entitySet)" + (expand.map { "?$expand=\($0)" } ?? "")
        var all: [[String: Any]] = []
        while let next = url {
            let page = try json("GET", next) as? [String: Any]
            let d = page?["d"] as? [String: Any]
            all += d?["results"] as? [[String: Any]] ?? []
            url = (d?["__next"] as? String).map { $0.replacingOccurrences(of: "/api/v1/", with: "/_sandbox/exact/") }
        }
        return all
    }

    /// Creates a record in Exact as a merchant would in Exact's own screens; returns it.
    @discardableResult
    func exactCreate(_ entitySet: String, _ fields: [String: Any]) throws -> [String: Any] {
        let created = try json("POST", "\(exactInspect)/\(entitySet)", body: fields) as? [String: Any]
        return try XCTUnwrap(created?["d"] as? [String: Any], "\(entitySet) was not created: \(String(describing: created))")
    }

    /// Changes fields of an Exact record as a merchant would.
    func exactUpdate(_ entitySet: String, id: String, _ fields: [String: Any]) throws {
        _ = try json("PUT", "\(exactInspect)/\(entitySet)(guid'\(id)')", body: fields)
    }

    /// Calls made to Exact's API (inspection excluded), all or those of one label
    /// (`POST salesinvoice/SalesInvoices`).
    func exactCalls(label: String? = nil) throws -> Int {
        let stats = try json("GET", "\(exactURL)/_sandbox/exact/stats") as? [String: Any]
        let calls = (stats?["calls"] as? [String: Any] ?? [:]).filter { label == nil || $0.key == label }
        return calls.values.reduce(0) { $0 + ((($1 as? NSNumber)?.intValue) ?? 0) }
    }

    /// A WooCommerce REST resource as the shop's API returns it (Basic auth over "HTTPS").
    func woo(_ path: String) throws -> Any? {
        let woo = endpoint("woocommerce")
        let basic = Data("\(woo.credentials[0].1):\(woo.credentials[1].1)".utf8).base64EncodedString()
        return try json("GET", "\(woo.baseURL)/wp-json/wc/v3/\(path)",
                        headers: [("Authorization", "Basic \(basic)"), ("X-Forwarded-Proto", "https")])
    }

    /// Every WooCommerce order.
    func wooOrders() throws -> [[String: Any]] {
        var all: [[String: Any]] = []
        for page in 1... {
            let list = try woo("orders?per_page=100&page=\(page)") as? [[String: Any]] ?? []
            all += list
            if list.count < 100 { break }
        }
        return all
    }
}

/// A decimal from a JSON number or string; -1 when it is neither.
func decimal(_ value: Any?) -> Decimal {
    switch value {
    case let text as String: Decimal(string: text) ?? -1
    case let number as NSNumber: Decimal(string: number.stringValue) ?? -1
    default: -1
    }
}
