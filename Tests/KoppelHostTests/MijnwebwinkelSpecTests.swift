import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// The sandbox's Mijnwebwinkel answers as MyOnlineStore's own OpenAPI document says
/// (`Fixtures/mijnwebwinkel/openapi.yaml`): every answer of every route Koppel uses, and
/// the ones a merchant would expect next, is checked against the spec's schema for it,
/// errors against its `Error`. The only findings pardoned are the live API's documented
/// deviations (R3.7): an order number as a string, a shipping country as an empty list.
final class MijnwebwinkelSpecTests: XCTestCase {
    var sandbox: Sandbox!
    var options = Sandbox.Options()
    var spec: OpenAPIValidator!
    let client = CurlHTTPClient()

    override func setUp() async throws {
        options.seed.orders = 60
        options.seed.testOrderEvery = 10
        sandbox = try await Sandbox.start(options)
        spec = try OpenAPIValidator(yamlFile: TestSupport.fixture("mijnwebwinkel/openapi.yaml"))
    }

    override func tearDown() async throws {
        sandbox.stop()
    }

    var base: String { sandbox.endpoints.first { $0.name == "mijnwebwinkel" }!.baseURL }
    var tokens: String { "token=\(options.mijnwebwinkel.token)&partner_token=\(options.mijnwebwinkel.partnerToken)" }

    /// Calls the fake and checks the answer against the spec's schema for `specPath`
    /// (errors: the spec's `Error`); returns the body.
    @discardableResult
    func checked(_ method: String, _ path: String, specPath: String, query: String = "", body: Any? = nil, status expected: Int = 200,
                 pardoned: Set<String> = [], file: StaticString = #filePath, line: UInt = #line) throws -> Data {
        var request = OutboundRequest(method: method, url: "\(base)\(path)?\(query)", idempotent: false, timeout: 10)
        if let body {
            request.body = try JSONSerialization.data(withJSONObject: body)
            request.setHeader("Content-Type", "application/json")
        }
        guard case .response(let response) = client.send(request) else { throw TestFailure("no answer from \(method) \(path)") }
        XCTAssertEqual(response.status, expected, "\(method) \(path)?\(query): \(String(decoding: response.body, as: UTF8.self))", file: file, line: line)
        let schema = (200..<300).contains(response.status)
            ? try XCTUnwrap(spec.responseSchema(method, specPath, status: response.status), "the spec documents \(method) \(specPath)", file: file, line: line)
            : spec.schema("Error")
        let findings = try spec.findings(response.body, against: schema, pardoned: pardoned)
        XCTAssertEqual(findings, [], "\(method) \(path) against the spec", file: file, line: line)
        return response.body
    }

    /// R3.7: the live API sends some order numbers as strings and some shipping countries
    /// as empty lists; the fake serves those shapes too. And the spec contradicts itself
    /// once: `OrderArticle` requires `rate` and `amount` beside the `price` object that
    /// holds them in its own example and in every client; the fake follows the example.
    let liveShapes: Set<String> = [
        "$[].number", "$[].shipping[].country", "$[].orderlines[].articles[].rate", "$[].orderlines[].articles[].amount",
    ]
    var oneOrder: Set<String> { Set(liveShapes.map { $0.replacingOccurrences(of: "$[]", with: "$") }) }

    func testEveryAnswerMatchesTheSpec() throws {
        // Orders: lists (test orders too), count, one, an update.
        var all: [[String: Any]] = []
        for offset in stride(from: 0, to: 1000, by: 100) {
            let page = try checked("GET", "/v1/orders", specPath: "/v{version}/orders", query: "\(tokens)&limit=100&offset=\(offset)&test=true", pardoned: liveShapes)
            let list = try JSONSerialization.jsonObject(with: page) as? [[String: Any]] ?? []
            all += list
            if list.count < 100 { break }
        }
        XCTAssertEqual(all.count, 60)
        XCTAssertTrue(all.contains { $0["number"] is String } && all.contains { $0["number"] is Int }, "both shapes of number are served")
        XCTAssertTrue(all.contains { ((($0["price"] as? [String: Any])?["tax"]) as? [String: Any]) != nil }, "price.tax as one object is served")
        XCTAssertTrue(all.contains { (($0["debtor"] as? [String: Any])?["address"] as? [String: Any])?["delivery"] == nil }, "an order without delivery address")
        try checked("GET", "/v1/orders", specPath: "/v{version}/orders",
                    query: "\(tokens)&status_changed_start_date=2025-12-01%2000:00:00&status_id=3&ordering=desc", pardoned: liveShapes)
        try checked("GET", "/v1/orders", specPath: "/v{version}/orders", query: "\(tokens)&start_date=2025-12-01&end_date=2025-12-31", pardoned: liveShapes)
        try checked("GET", "/v1/orders/count", specPath: "/v{version}/orders/count", query: "\(tokens)&test=true")
        let number = try XCTUnwrap(all.compactMap { $0["number"] as? Int }.first)
        try checked("GET", "/v1/orders/\(number)", specPath: "/v{version}/orders/{order_number}", query: tokens, pardoned: oneOrder)
        try checked("PATCH", "/v1/orders/\(number)", specPath: "/v{version}/orders/{order_number}", query: tokens,
                    body: ["status": 2, "comments": ["internal": "PostNL: 3S123"]], pardoned: oneOrder)
        try checked("GET", "/v1/orderstatuses", specPath: "/v{version}/orderstatuses", query: tokens)
        try checked("GET", "/v1/store", specPath: "/v{version}/store", query: tokens)

        // Articles: list, count, one, a stock update.
        let articles = try JSONSerialization.jsonObject(with: try checked("GET", "/v1/articles", specPath: "/v{version}/articles", query: "\(tokens)&limit=100")) as? [[String: Any]] ?? []
        XCTAssertEqual(articles.count, options.seed.products)
        try checked("GET", "/v1/articles", specPath: "/v{version}/articles", query: "\(tokens)&changed_start_date=2025-12-01%2000:00:00")
        try checked("GET", "/v1/articles/count", specPath: "/v{version}/articles/count", query: tokens)
        let id = try XCTUnwrap(articles.first?["id"] as? Int)
        try checked("GET", "/v1/articles/\(id)", specPath: "/v{version}/articles/{article_id}", query: tokens)
        try checked("PATCH", "/v1/articles/\(id)", specPath: "/v{version}/articles/{article_id}", query: "\(tokens)&use_url_id=false", body: ["stock": 7])

        // Errors, in the spec's Error shape.
        try checked("GET", "/v1/orders", specPath: "", query: "token=\(options.mijnwebwinkel.token)", status: 401)
        try checked("GET", "/v1/orders", specPath: "", query: "token=wrong&partner_token=\(options.mijnwebwinkel.partnerToken)", status: 403)
        try checked("GET", "/v1/orders", specPath: "", query: "\(tokens)&limit=500", status: 400)
        try checked("GET", "/v1/orders/999999", specPath: "", query: tokens, status: 404)
        try checked("PATCH", "/v1/articles/\(id)", specPath: "", query: tokens, body: ["stock": 1], status: 400)
    }

    /// The validator itself finds what it should: a wrong type, a missing required field,
    /// a field the spec does not have.
    func testTheValidatorFindsWhatTheSpecRefuses() throws {
        let order = spec.schema("Order")
        let wrong = #"{"number": "12", "uuid": "not-a-uuid", "date": "2026-01-01", "time": "10:00:00", "status": 3, "invented": true}"#
        let findings = try spec.findings(Data(wrong.utf8), against: order)
        XCTAssertTrue(findings.contains { $0.hasPrefix("$.number should be integer") }, "\(findings)")
        XCTAssertTrue(findings.contains { $0.hasPrefix("$.debtor is required") }, "\(findings)")
        XCTAssertTrue(findings.contains { $0.hasPrefix("$.invented is not in the schema") }, "\(findings)")
        XCTAssertTrue(findings.contains { $0.hasPrefix("$.uuid \"not-a-uuid\" is not a UUID") }, "\(findings)")
    }
}
