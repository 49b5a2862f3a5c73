import Crypto
import Foundation
import Hummingbird
import KoppelHost
import KoppelSandbox
import XCTest

/// The sandbox's fakes, driven with plain HTTP the way the public API documentation
/// describes, including their failures.
final class SandboxTests: XCTestCase {
    var sandbox: Sandbox!
    let client = CurlHTTPClient()

    override func setUp() async throws {
        var options = Sandbox.Options()
        options.seed.orders = 250
        options.seed.testOrderEvery = 10
        options.exact.minutelyLimit = 10_000
        sandbox = try await Sandbox.start(options)
    }

    override func tearDown() async throws {
        sandbox.stop()
    }

    var exact: String { sandbox.endpoints[0].baseURL }
    var woo: String { sandbox.endpoints[1].baseURL }
    var mww: String { sandbox.endpoints[2].baseURL }

    struct Answer {
        var status: Int
        var headers: [String: String]
        var json: Any?
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
    }

    @discardableResult
    func call(_ method: String, _ url: String, headers: [(String, String)] = [], json: Any? = nil, form: String? = nil) throws -> Answer {
        var request = OutboundRequest(method: method, url: url, headers: headers, idempotent: false, timeout: 10)
        if let json {
            request.body = try JSONSerialization.data(withJSONObject: json)
            request.setHeader("Content-Type", "application/json")
        } else if let form {
            request.body = Data(form.utf8)
            request.setHeader("Content-Type", "application/x-www-form-urlencoded")
        }
        guard case .response(let response) = client.send(request) else { throw TestFailure("no answer from \(method) \(url)") }
        return Answer(status: response.status, headers: response.headers, json: try? JSONSerialization.jsonObject(with: response.body))
    }

    // MARK: Exact Online

    /// Signs in the way a real client does: consent redirect, then the code for tokens.
    func exactTokens() throws -> [String: Any] {
        let consent = try call("GET", "\(exact)/api/oauth2/auth?client_id=koppel-sandbox&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&response_type=code&state=s1")
        XCTAssertEqual(consent.status, 302)
        let location = try XCTUnwrap(consent.headers["location"])
        let code = try XCTUnwrap(URLComponents(string: location)?.queryItems?.first { $0.name == "code" }?.value)
        XCTAssertTrue(location.contains("state=s1"))
        let token = try call("POST", "\(exact)/api/oauth2/token",
                             form: "grant_type=authorization_code&code=\(code)&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&client_id=koppel-sandbox&client_secret=sandbox-client-secret")
        XCTAssertEqual(token.status, 200)
        XCTAssertEqual(token.object["expires_in"] as? String, "600")
        return token.object
    }

    /// R-AUTH-4: every refresh rotates the refresh token; the old one is refused with
    /// 401 unauthorized_client. R-AUTH-5: within 570 s of the last token answer a refresh
    /// is refused with 400 access_denied and the `Reason` header, and the refresh token
    /// stays good; after the floor (the fake's clock moved) it works.
    func testExactRAUTH4AndRAUTH5RefreshTokensRotateAndHaveAFloor() throws {
        let first = try exactTokens()
        let refresh = try XCTUnwrap(first["refresh_token"] as? String)
        let form = { (token: String) in "grant_type=refresh_token&refresh_token=\(token)&client_id=koppel-sandbox&client_secret=sandbox-client-secret" }
        // Past any floor an earlier test's refresh left (the tests share one sandbox).
        XCTAssertEqual(try call("POST", "\(exact)/_sandbox/exact/clock", json: ["advance": 600]).status, 200)
        let second = try call("POST", "\(exact)/api/oauth2/token", form: form(refresh))
        XCTAssertEqual(second.status, 200)
        XCTAssertEqual(second.object["expires_in"] as? String, "600")
        let rotated = try XCTUnwrap(second.object["refresh_token"] as? String)
        XCTAssertNotEqual(rotated, refresh)
        let reused = try call("POST", "\(exact)/api/oauth2/token", form: form(refresh))
        XCTAssertEqual(reused.status, 401)
        XCTAssertEqual(reused.object["error"] as? String, "unauthorized_client")
        XCTAssertEqual(reused.object["error_description"] as? String, "Old refresh token used.")

        let early = try call("POST", "\(exact)/api/oauth2/token", form: form(rotated))
        XCTAssertEqual(early.status, 400)
        XCTAssertEqual(early.object["error"] as? String, "access_denied")
        XCTAssertEqual(early.object["error_description"] as? String, "Rate limit exceeded: access_token not expired")
        XCTAssertEqual(early.headers["reason"], "TooEarlyToRefreshTokens: Rate limit exceeded: access_token not expired")
        XCTAssertEqual(try call("POST", "\(exact)/_sandbox/exact/clock", json: ["advance": 571]).status, 200)
        XCTAssertEqual(try call("POST", "\(exact)/api/oauth2/token", form: form(rotated)).status, 200, "the refresh token survived the early attempt")
        XCTAssertEqual(try call("GET", "\(exact)/api/v1/current/Me", headers: [("Authorization", "Bearer \(second.object["access_token"]!)")]).status, 200)
        XCTAssertEqual(try call("POST", "\(exact)/_sandbox/exact/clock", json: ["advance": 600]).status, 200)
        XCTAssertEqual(try call("GET", "\(exact)/api/v1/current/Me", headers: [("Authorization", "Bearer \(second.object["access_token"]!)")]).status, 401, "the access token outlived its 600 s")
    }

    func testExactCurrentMeAndItsRateLimitHeaders() throws {
        let first = try exactTokens()
        let me = try call("GET", "\(exact)/api/v1/current/Me", headers: [("Authorization", "Bearer \(first["access_token"]!)")])
        XCTAssertEqual(me.status, 200)
        XCTAssertEqual(((me.object["d"] as? [String: Any])?["results"] as? [[String: Any]])?.first?["CurrentDivision"] as? Int, 123456)
        XCTAssertNotNil(me.headers["x-ratelimit-minutely-remaining"])
        XCTAssertEqual(try call("GET", "\(exact)/api/v1/current/Me", headers: [("Authorization", "Bearer \(first["access_token"]!)x")]).status, 401)
    }

    func testExactPagingFiltersAndSelect() throws {
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)"), ("Accept", "application/json")]
        let accounts = "\(exact)/api/v1/123456/crm/Accounts"
        for i in 1...130 {
            let email = i == 77 ? "o'brien@example.nl" : "buyer\(i)@example.nl"
            XCTAssertEqual(try call("POST", accounts, headers: auth, json: ["Name": "Buyer \(i)", "Email": email, "Country": i % 2 == 0 ? "NL" : "BE"]).status, 201)
        }
        // Paging to the end through __next: 60 a page, every account once.
        let all = "Modified ge datetime'2000-01-01T00:00:00'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        var url: String? = accounts + "?$select=ID,Name&$filter=\(all)"
        var ids: [String] = []
        var pages = 0
        while let next = url {
            let page = try call("GET", next, headers: auth)
            XCTAssertEqual(page.status, 200)
            let d = try XCTUnwrap(page.object["d"] as? [String: Any])
            let results = try XCTUnwrap(d["results"] as? [[String: Any]])
            XCTAssertLessThanOrEqual(results.count, 60)
            XCTAssertEqual(Set(results.flatMap(\.keys)), ["ID", "Name"])
            ids += results.compactMap { $0["ID"] as? String }
            url = d["__next"] as? String
            pages += 1
        }
        XCTAssertEqual(pages, 3)
        XCTAssertEqual(ids.count, 130)
        XCTAssertEqual(Set(ids).count, 130)

        // A quote doubled inside a string literal; or; guid'' and datetime'' literals.
        let filter = "Email eq 'o''brien@example.nl'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let found = try call("GET", "\(accounts)?$filter=\(filter)", headers: auth)
        let match = try XCTUnwrap(((found.object["d"] as? [String: Any])?["results"] as? [[String: Any]])?.first)
        XCTAssertEqual(match["Name"] as? String, "Buyer 77")
        XCTAssertTrue((match["Modified"] as? String)?.hasPrefix("/Date(") == true)
        let id = try XCTUnwrap(match["ID"] as? String)
        let byGuid = "ID eq guid'\(id)' or Email eq 'buyer1@example.nl'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        XCTAssertEqual((((try call("GET", "\(accounts)?$filter=\(byGuid)", headers: auth)).object["d"] as? [String: Any])?["results"] as? [Any])?.count, 2)
        let since = "Modified ge datetime'2000-01-01T00:00:00' and Country eq 'NL'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let dated = try call("GET", "\(accounts)?$filter=\(since)&$top=5", headers: auth)
        XCTAssertEqual(((dated.object["d"] as? [String: Any])?["results"] as? [Any])?.count, 5)
        XCTAssertNil((dated.object["d"] as? [String: Any])?["__next"])
        let broken = try call("GET", "\(accounts)?$filter=\("Name eq".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)", headers: auth)
        XCTAssertEqual(broken.status, 400)
        XCTAssertNotNil(((broken.object["error"] as? [String: Any])?["message"] as? [String: Any])?["value"])
    }

    /// The message value of an Exact error answer.
    func exactMessage(_ answer: Answer) -> String {
        ((answer.object["error"] as? [String: Any])?["message"] as? [String: Any])?["value"] as? String ?? ""
    }

    /// R-FILTER-1: a collection GET of an entity set with mandatory filtering must filter
    /// on one of its listed fields; Exact's message lists them. A GET by key needs none,
    /// and entity sets without mandatory filtering need none.
    func testExactRFILTER1MandatoryFilterIsRequired() throws {
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)"), ("Accept", "application/json")]
        let created = try call("POST", "\(exact)/api/v1/123456/crm/Accounts", headers: auth, json: ["Name": "Buyer"])
        let id = try XCTUnwrap((created.object["d"] as? [String: Any])?["ID"] as? String)
        for path in ["crm/Accounts?$select=ID", "logistics/Items?$select=ID,Code", "salesinvoice/SalesInvoices?$select=InvoiceID"] {
            let refused = try call("GET", "\(exact)/api/v1/123456/\(path)", headers: auth)
            XCTAssertEqual(refused.status, 400, path)
            XCTAssertTrue(exactMessage(refused).hasPrefix("This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter parameter with one of the following fields in the url:"), exactMessage(refused))
        }
        XCTAssertTrue(exactMessage(try call("GET", "\(exact)/api/v1/123456/logistics/Items?$select=ID", headers: auth)).contains(",Code,"))
        let name = "Name eq 'Buyer'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        XCTAssertEqual(try call("GET", "\(exact)/api/v1/123456/crm/Accounts?$select=ID&$filter=\(name)", headers: auth).status, 200)
        XCTAssertEqual(try call("GET", "\(exact)/api/v1/123456/crm/Accounts(guid'\(id)')?$select=ID", headers: auth).status, 200)
        XCTAssertEqual(try call("GET", "\(exact)/api/v1/123456/vat/VATCodes?$select=Code", headers: auth).status, 200)
    }

    /// One Exact API call with a signed-in user; the answer's rows (`d.results`) or record (`d`).
    struct ExactClient {
        let test: SandboxTests
        let auth: [(String, String)]

        func call(_ method: String, _ path: String, _ json: Any? = nil) throws -> Answer {
            try test.call(method, "\(test.exact)/api/v1/123456/\(path)", headers: auth, json: json)
        }

        func rows(_ path: String) throws -> [[String: Any]] {
            let answer = try call("GET", path)
            XCTAssertEqual(answer.status, 200, "\(path): \(test.exactMessage(answer))")
            return (answer.object["d"] as? [String: Any])?["results"] as? [[String: Any]] ?? []
        }

        func created(_ path: String, _ json: [String: Any]) throws -> [String: Any] {
            let answer = try call("POST", path, json)
            XCTAssertEqual(answer.status, 201, "\(path): \(test.exactMessage(answer))")
            return answer.object["d"] as? [String: Any] ?? [:]
        }
    }

    func exactClient() throws -> ExactClient {
        ExactClient(test: self, auth: [("Authorization", "Bearer \(try exactTokens()["access_token"]!)"), ("Accept", "application/json")])
    }

    static func filter(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }

    /// R-BIZ-3 and the POST/PUT rules of the reference: read-only properties are ignored,
    /// so an item's price is not set on the item but through `SalesItemPrices`, and a
    /// warehouse link's `CurrentStock` cannot be written.
    func testExactRBIZ3ReadOnlyPropertiesAreIgnoredAndPricesGoThroughSalesItemPrices() throws {
        let exact = try exactClient()
        let item = try exact.created("logistics/Items", ["Code": "P-1", "Description": "Pen", "StandardSalesPrice": 9.95])
        let id = try XCTUnwrap(item["ID"] as? String)
        func price() throws -> Double? {
            try exact.rows("logistics/Items?$select=StandardSalesPrice&$filter=\(Self.filter("Code eq 'P-1'"))").first?["StandardSalesPrice"] as? Double
        }
        XCTAssertEqual(try price(), nil, "StandardSalesPrice is read-only")
        XCTAssertEqual(try exact.call("PUT", "logistics/Items(guid'\(id)')", ["StandardSalesPrice": 12.5]).status, 204)
        XCTAssertEqual(try price(), nil)
        let row = try exact.created("logistics/SalesItemPrices", ["Item": id, "Price": 12.5, "Currency": "EUR"])
        XCTAssertEqual(try price(), 12.5)
        XCTAssertEqual(try exact.call("PUT", "logistics/SalesItemPrices(guid'\(row["ID"] as! String)')", ["Price": 13]).status, 204)
        XCTAssertEqual(try price(), 13)
        let warehouse = try XCTUnwrap(try exact.rows("inventory/Warehouses?$select=ID,Code").first { $0["Code"] as? String == "1" }?["ID"] as? String)
        let link = try exact.created("inventory/ItemWarehouses", ["Item": id, "Warehouse": warehouse, "CurrentStock": 40])
        XCTAssertEqual(link["CurrentStock"] as? Double, 0, "CurrentStock is computed by Exact")
    }

    /// R-FILTER-3: price rows are not listed without a `$select` or `$top=1`.
    func testExactRFILTER3SalesItemPricesWantASelect() throws {
        let exact = try exactClient()
        let id = try XCTUnwrap(try exact.created("logistics/Items", ["Code": "P-2", "Description": "Pen"])["ID"] as? String)
        _ = try exact.created("logistics/SalesItemPrices", ["Item": id, "Price": 2])
        let refused = try exact.call("GET", "logistics/SalesItemPrices?$filter=\(Self.filter("Item eq guid'\(id)'"))")
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual(exactMessage(refused), "Please add a $select or a $top=1 statement to the query string.")
        XCTAssertEqual(try exact.rows("logistics/SalesItemPrices?$select=Price&$filter=\(Self.filter("Item eq guid'\(id)'"))").first?["Price"] as? Double, 2)
    }

    /// R-BIZ-4: a processed stock count (status 21) sets the item's stock in the
    /// warehouse; an open one (12) changes nothing.
    func testExactRBIZ4AProcessedStockCountSetsTheStock() throws {
        let exact = try exactClient()
        let id = try XCTUnwrap(try exact.created("logistics/Items", ["Code": "S-1", "Description": "Schroef", "IsStockItem": true])["ID"] as? String)
        let warehouse = try XCTUnwrap(try exact.rows("inventory/Warehouses?$select=ID,Code").first { $0["Code"] as? String == "1" }?["ID"] as? String)
        func stock() throws -> Double? {
            try exact.rows("logistics/Items?$select=Stock&$filter=\(Self.filter("Code eq 'S-1'"))").first?["Stock"] as? Double
        }
        let count: [String: Any] = ["Warehouse": warehouse, "StockCountDate": "2026-12-01", "StockCountLines": [["Item": id, "QuantityNew": 25]]]
        _ = try exact.created("inventory/StockCounts", count)
        XCTAssertEqual(try stock(), 0, "an open count waits")
        _ = try exact.created("inventory/StockCounts", count.merging(["Status": 21]) { _, new in new })
        XCTAssertEqual(try stock(), 25)
        _ = try exact.created("inventory/StockCounts", ["Warehouse": warehouse, "StockCountDate": "2026-12-02", "Status": 21,
                                                        "StockCountLines": [["Item": id, "QuantityNew": 1, "QuantityDifference": -5]]])
        XCTAssertEqual(try stock(), 20, "the difference wins")
        XCTAssertEqual(try exact.call("POST", "inventory/StockCounts", ["Warehouse": warehouse, "StockCountDate": "2026-12-02", "StockCountLines": [["Item": id]]]).status, 400)
    }

    /// R-BIZ-1, R-BIZ-2: an invoice posted through the API waits at status 20 without a
    /// receivable, dated by Exact; PrintedSalesInvoices processes it once (status 50, the
    /// given date, a receivable).
    func testExactRBIZ1InvoicesWaitAtStatusTwentyUntilProcessed() throws {
        let exact = try exactClient()
        let account = try XCTUnwrap(try exact.created("crm/Accounts", ["Name": "Koper"])["ID"] as? String)
        let item = try XCTUnwrap(try exact.created("logistics/Items", ["Code": "F-1", "Description": "Fiets"])["ID"] as? String)
        let invoice = try exact.created("salesinvoice/SalesInvoices", [
            "Journal": "70", "OrderedBy": account, "InvoiceDate": "2026-01-15", "Status": 50,
            "SalesInvoiceLines": [["Item": item, "Quantity": 1, "UnitPrice": 100, "VATCode": "1"]],
        ])
        let id = try XCTUnwrap(invoice["InvoiceID"] as? String)
        XCTAssertEqual(invoice["Status"] as? Int, 20)
        XCTAssertNotEqual(invoice["InvoiceDate"] as? String, "/Date(1768435200000)/", "InvoiceDate is not taken from the POST")
        func receivables() throws -> [[String: Any]] { try exact.rows("cashflow/Receivables?$select=InvoiceNumber,IsFullyPaid") }
        XCTAssertEqual(try receivables().count, 0)
        XCTAssertEqual(try exact.call("POST", "cashflow/Receivables", ["InvoiceNumber": 1]).status, 405, "receivables are not written through the API")
        _ = try exact.created("salesinvoice/PrintedSalesInvoices", ["InvoiceID": id, "InvoiceDate": "2026-01-15", "SendEmailToCustomer": false])
        let processed = try XCTUnwrap(try exact.rows("salesinvoice/SalesInvoices?$select=Status,InvoiceDate,InvoiceNumber&$filter=\(Self.filter("InvoiceID eq guid'\(id)'"))").first)
        XCTAssertEqual(processed["Status"] as? Int, 50)
        XCTAssertEqual(processed["InvoiceDate"] as? String, "/Date(1768435200000)/")
        XCTAssertEqual(try receivables().map { $0["InvoiceNumber"] as? Int }, [processed["InvoiceNumber"] as? Int])
        XCTAssertEqual(try exact.call("POST", "salesinvoice/PrintedSalesInvoices", ["InvoiceID": id]).status, 400, "processed once")
    }

    /// R-FILTER-2: supplier items are filtered on `ID` only.
    func testExactRFILTER2SupplierItemsFilterOnIDOnly() throws {
        let exact = try exactClient()
        let supplier = try XCTUnwrap(try exact.created("crm/Accounts", ["Name": "Groothandel", "IsSupplier": true])["ID"] as? String)
        let item = try XCTUnwrap(try exact.created("logistics/Items", ["Code": "G-1", "Description": "Gum"])["ID"] as? String)
        let link = try XCTUnwrap(try exact.created("logistics/SupplierItem", ["Item": item, "Supplier": supplier, "PurchasePrice": 1.5])["ID"] as? String)
        for filter in ["Supplier eq guid'\(supplier)'", "Modified ge datetime'2026-01-01'", "ID eq guid'\(link)' and Item eq guid'\(item)'"] {
            let refused = try exact.call("GET", "logistics/SupplierItem?$select=ID&$filter=\(Self.filter(filter))")
            XCTAssertEqual(refused.status, 400, filter)
            XCTAssertEqual(exactMessage(refused), "This $filter parameter is not supported for this resource")
        }
        XCTAssertEqual(try exact.rows("logistics/SupplierItem?$select=ID&$filter=\(Self.filter("ID eq guid'\(link)'"))").count, 1)
    }

    /// R-HOST-5: a URL longer than 6,000 characters is refused; one just under passes.
    func testExactRHOST5URLsStayUnderSixThousandCharacters() throws {
        let exact = try exactClient()
        func url(_ terms: Int) -> String {
            let chain = (0..<terms).map { "Code eq 'ART-\(String(format: "%05d", $0))'" }.joined(separator: " or ")
            return "logistics/Items?$select=ID&$filter=\(Self.filter(chain))"
        }
        XCTAssertEqual(try exact.call("GET", url(120)).status, 200)
        XCTAssertEqual(try exact.call("GET", url(200)).status, 400)
    }

    /// R-HOOK-1 to R-HOOK-5: a subscription takes `CallbackURL` and `Topic`, is validated
    /// with an empty POST and refused when that fails, one per topic; then a change to a
    /// record of its topic is announced by a key-only envelope whose `HashCode` is the
    /// upper-case hex HMAC-SHA256 of the raw `Content` text.
    func testExactRHOOKSubscriptionsAreValidatedAndChangesAnnouncedSigned() async throws {
        let received = Shared<[(length: String?, body: Data)]>([])
        let answering = Shared(500)
        let receiver = try await TestHTTPServer.start { router in
            router.post("/hook") { request, _ -> Response in
                var request = request
                let body = Data(buffer: try await request.collectBody(upTo: 1 << 20))
                received.with { $0.append((request.headers[.contentLength], body)) }
                return Response(status: .init(code: answering.current))
            }
        }
        defer { receiver.stop() }
        let exact = try exactClient()
        let callback = "\(receiver.baseURL)/hook"
        let elsewhere = try exact.call("POST", "webhooks/WebhookSubscriptions", ["CallbackURL": "http://hooks.example.org/hook", "Topic": "Accounts"])
        XCTAssertEqual(elsewhere.status, 400, "R-HOOK-5: https only")
        let refused = try exact.call("POST", "webhooks/WebhookSubscriptions", ["CallbackURL": callback, "Topic": "Accounts"])
        XCTAssertEqual(refused.status, 500)
        XCTAssertEqual(exactMessage(refused), "Invalid: Post to callback URL endpoint returns 500")
        XCTAssertEqual(received.current.map(\.body), [Data()], "the validation POST is empty")
        XCTAssertEqual(received.current.first?.length, "0")
        XCTAssertEqual(try exact.rows("webhooks/WebhookSubscriptions?$select=ID").count, 0, "not made")

        answering.with { $0 = 200 }
        let made = try exact.created("webhooks/WebhookSubscriptions", ["CallbackURL": callback, "Topic": "Accounts"])
        XCTAssertNotNil(made["ID"])
        let again = try exact.call("POST", "webhooks/WebhookSubscriptions", ["CallbackURL": callback, "Topic": "Accounts"])
        XCTAssertEqual(again.status, 500)
        XCTAssertEqual(exactMessage(again), "Data already exists", "R-HOOK-7: one per topic")

        let account = try XCTUnwrap(try exact.created("crm/Accounts", ["Name": "Bakkerij Brood", "Status": "C"])["ID"] as? String)
        _ = try exact.created("logistics/Items", ["Code": "NOT-ANNOUNCED", "Description": "Another topic"])
        try await waitUntil { received.current.count == 3 }
        try await Task.sleep(for: .milliseconds(700))
        XCTAssertEqual(received.current.count, 3, "an item is not an account: \(received.current.map { String(decoding: $0.body, as: UTF8.self) })")
        let raw = String(decoding: received.current[2].body, as: UTF8.self)
        let content = try XCTUnwrap(raw.firstMatch(of: #/"Content":(\{[^}]*\})/#)?.output.1).description
        let envelope = try XCTUnwrap(try JSONSerialization.jsonObject(with: received.current[2].body) as? [String: Any])
        let hash = HMAC<SHA256>.authenticationCode(for: Data(content.utf8), using: SymmetricKey(data: Data(sandbox.exact.options.webhookSecret.utf8)))
            .map { String(format: "%02X", $0) }.joined()
        XCTAssertEqual(envelope["HashCode"] as? String, hash)
        let fields = try XCTUnwrap(envelope["Content"] as? [String: Any])
        XCTAssertEqual(fields["Topic"] as? String, "Accounts")
        XCTAssertEqual(fields["Action"] as? String, "Update", "a create is announced as an update")
        XCTAssertEqual(fields["Key"] as? String, account)
        XCTAssertEqual(fields["Division"] as? Int, 123456)
        XCTAssertEqual(fields["ExactOnlineEndpoint"] as? String, "\(exact.test.exact)/api/v1/123456/crm/Accounts(guid'\(account)')")
        XCTAssertTrue(content.hasPrefix(#"{"Topic":"Accounts","ClientId":"#), content)
    }

    /// R-SYNC-1 (and R-TYPE-2): a sync feed takes only `Timestamp gt nL` and a `$select`,
    /// answers 1000 rows a page in row-version order with Timestamps as strings, and a
    /// changed record comes again with a higher Timestamp.
    func testExactRSYNC1SyncFeedsPageByRowVersion() throws {
        let exact = try exactClient()
        for index in 0..<1_005 { _ = try exact.created("crm/Accounts", ["Name": "Klant \(index)"]) }
        let feed = "sync/CRM/Accounts?$select=Timestamp,ID,Name&$filter=\(Self.filter("Timestamp gt 1L"))"
        let first = try exact.call("GET", feed)
        let body = try XCTUnwrap(first.object["d"] as? [String: Any])
        let rows = try XCTUnwrap(body["results"] as? [[String: Any]])
        XCTAssertEqual(rows.count, 1000)
        let versions = rows.compactMap { ($0["Timestamp"] as? String).flatMap { Int64($0) } }
        XCTAssertEqual(versions.count, 1000, "Timestamp is an Edm.Int64 written as a string")
        XCTAssertEqual(versions, versions.sorted())
        let next = try XCTUnwrap(body["__next"] as? String)
        let last = try XCTUnwrap(versions.last)
        XCTAssertTrue(next.contains("$skiptoken=\(last)L"), next)
        let rest = try XCTUnwrap((try call("GET", next, headers: exact.auth).object["d"] as? [String: Any])?["results"] as? [[String: Any]])
        XCTAssertEqual(rest.count, 5, "the second page holds the rest")
        for refused in ["Name eq 'Klant 1'", "Timestamp gt 1L and Name eq 'Klant 1'"] {
            let answer = try exact.call("GET", "sync/CRM/Accounts?$select=ID&$filter=\(Self.filter(refused))")
            XCTAssertEqual(answer.status, 400, refused)
        }
        XCTAssertEqual(try exact.call("GET", "sync/CRM/Accounts?$select=ID").status, 400, "the Timestamp filter is mandatory")
        XCTAssertEqual(try exact.call("GET", "sync/CRM/Accounts?$filter=\(Self.filter("Timestamp gt 1L"))").status, 400, "a $select is wanted")
        // A change moves the record past every earlier row version.
        let changed = try XCTUnwrap(rows.first?["ID"] as? String)
        XCTAssertEqual(try exact.call("PUT", "crm/Accounts(guid'\(changed)')", ["Name": "Klant nieuw"]).status, 204)
        let after = try exact.rows("sync/CRM/Accounts?$select=ID,Name&$filter=\(Self.filter("Timestamp gt \(last)L"))")
        XCTAssertEqual(after.compactMap { $0["Name"] as? String }.filter { $0 == "Klant nieuw" }.count, 1)
        XCTAssertEqual(try exact.call("GET", "sync/CRM/Accounts?$select=Nope&$filter=\(Self.filter("Timestamp gt 1L"))").status, 400, "R-SELECT-1 on a sync feed")
    }

    /// R-SYNC-2: a deleted record is not in its feed's answer; `sync/Deleted` lists it
    /// with its entity type (9: items).
    func testExactRSYNC2DeletionsAreListedInSyncDeleted() throws {
        let exact = try exactClient()
        let id = try XCTUnwrap(try exact.created("logistics/Items", ["Code": "D-1", "Description": "Weg"])["ID"] as? String)
        XCTAssertEqual(try exact.call("DELETE", "logistics/Items(guid'\(id)')").status, 204)
        let deleted = try exact.rows("sync/Deleted?$select=EntityKey,EntityType,DeletedDate&$filter=\(Self.filter("Timestamp gt 1L"))")
        XCTAssertEqual(deleted.count, 1)
        XCTAssertEqual(deleted.first?["EntityKey"] as? String, id)
        XCTAssertEqual(deleted.first?["EntityType"] as? Int, 9)
        XCTAssertEqual(try exact.rows("sync/Logistics/Items?$select=ID&$filter=\(Self.filter("Timestamp gt 1L"))").filter { $0["ID"] as? String == id }.count, 0)
    }

    /// R-SYNC-3 and R-SYNC-4: the sales-invoice feed interleaves each invoice's header
    /// (line 0) with its lines; SyncTimestamp gives where a date starts in it.
    func testExactRSYNC3AndRSYNC4InvoicesInterleavedAndTheirStartByDate() throws {
        let exact = try exactClient()
        let account = try XCTUnwrap(try exact.created("crm/Accounts", ["Name": "Koper"])["ID"] as? String)
        let item = try XCTUnwrap(try exact.created("logistics/Items", ["Code": "F-2", "Description": "Fiets"])["ID"] as? String)
        let line: [String: Any] = ["Item": item, "Quantity": 1, "UnitPrice": 10, "VATCode": "1"]
        let invoice = try exact.created("salesinvoice/SalesInvoices", ["Journal": "70", "OrderedBy": account, "SalesInvoiceLines": [line, line]])
        let rows = try exact.rows("sync/SalesInvoice/SalesInvoices?$select=InvoiceID,LineNumber,AmountFC,InvoiceNumber&$filter=\(Self.filter("Timestamp gt 1L"))")
        XCTAssertEqual(rows.compactMap { $0["LineNumber"] as? Int }.sorted(), [0, 1, 2])
        XCTAssertEqual(Set(rows.compactMap { $0["InvoiceID"] as? String }), [invoice["InvoiceID"] as! String])
        XCTAssertEqual(rows.first { $0["LineNumber"] as? Int == 0 }?["AmountFC"] as? Double, 24.2, "the header row carries the invoice's total")
        XCTAssertEqual(rows.first { $0["LineNumber"] as? Int == 1 }?["AmountFC"] as? Double, 10, "a line row its own amount")
        let start = try exact.rows("read/sync/Sync/SyncTimestamp?modified=datetime'2020-01-01'&endPoint='SalesInvoices'")
        let version = try XCTUnwrap((start.first?["TimeStampAsBigInt"] as? String).flatMap { Int64($0) })
        XCTAssertEqual(try exact.rows("sync/SalesInvoice/SalesInvoices?$select=InvoiceID&$filter=\(Self.filter("Timestamp gt \(version - 1)L"))").count, 3)
        XCTAssertEqual(try exact.call("GET", "read/sync/Sync/SyncTimestamp?endPoint='SalesInvoices'").status, 400, "both parameters are required")
    }

    /// R-BULK-1: a bulk feed is its entity set 1000 a page, with its mandatory filter and
    /// a mandatory `$select`.
    func testExactRBULK1BulkFeedsPageAThousandAndWantASelect() throws {
        let exact = try exactClient()
        for index in 0..<1_001 { _ = try exact.created("crm/Accounts", ["Name": "Bulk \(index)"]) }
        let filter = Self.filter("Created ge datetime'2000-01-01'")
        let page = try exact.call("GET", "bulk/CRM/Accounts?$select=ID,Name&$filter=\(filter)")
        let body = try XCTUnwrap(page.object["d"] as? [String: Any])
        XCTAssertEqual((body["results"] as? [[String: Any]])?.count, 1000)
        XCTAssertTrue((body["__next"] as? String)?.contains("/bulk/CRM/Accounts?") == true)
        XCTAssertEqual(try exact.call("GET", "bulk/CRM/Accounts?$filter=\(filter)").status, 400)
        XCTAssertEqual(try exact.call("GET", "bulk/CRM/Accounts?$select=ID").status, 400)
    }

    /// R-AUTH-7: a refresh token unused for 30 days is refused with Exact's wording.
    func testExactRAUTH7RefreshTokensDieAfterThirtyIdleDays() throws {
        let tokens = try exactTokens()
        let refresh = try XCTUnwrap(tokens["refresh_token"] as? String)
        _ = try call("POST", "\(exact)/_sandbox/exact/clock", json: ["advance": 30 * 86_400 + 1])
        let answer = try call("POST", "\(exact)/api/oauth2/token",
                              form: "grant_type=refresh_token&refresh_token=\(refresh)&client_id=koppel-sandbox&client_secret=sandbox-client-secret")
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.object["error"] as? String, "invalid_request")
        let description = try XCTUnwrap(answer.object["error_description"] as? String)
        XCTAssertNotNil(description.wholeMatch(of: /The refresh token expired at \d+\/\d+\/\d{4} \d+:\d\d:\d\d [AP]M and it is now \d+\/\d+\/\d{4} \d+:\d\d:\d\d [AP]M\./), description)
    }

    /// R-AUTH-9: a wrong client secret gets a bare `invalid_request`.
    func testExactRAUTH9AWrongClientSecretIsABareInvalidRequest() throws {
        let refresh = try XCTUnwrap(try exactTokens()["refresh_token"] as? String)
        let answer = try call("POST", "\(exact)/api/oauth2/token",
                              form: "grant_type=refresh_token&refresh_token=\(refresh)&client_id=koppel-sandbox&client_secret=wrong")
        XCTAssertEqual(answer.status, 400)
        XCTAssertEqual(answer.object.keys.sorted(), ["error"])
        XCTAssertEqual(answer.object["error"] as? String, "invalid_request")
    }

    /// R-RATE-6: eleven error answers on one endpoint within an hour block it (the fake
    /// answers 429) for an hour; other endpoints stay open.
    func testExactRRATE6ElevenErrorsAnHourBlockTheEndpoint() throws {
        let exact = try exactClient()
        let bad = "logistics/Items?$select=Nope&$filter=\(Self.filter("Code eq 'X'"))"
        let good = "logistics/Items?$select=ID&$filter=\(Self.filter("Code eq 'X'"))"
        for _ in 0..<10 { XCTAssertEqual(try exact.call("GET", bad).status, 400) }
        XCTAssertEqual(try exact.call("GET", good).status, 200, "ten errors are tolerated")
        XCTAssertEqual(try exact.call("GET", bad).status, 400)
        XCTAssertEqual(try exact.call("GET", good).status, 429, "the eleventh blocks the endpoint")
        XCTAssertEqual(try exact.call("GET", "crm/Accounts?$select=ID&$filter=\(Self.filter("Name eq 'X'"))").status, 200)
        _ = try call("POST", "\(self.exact)/_sandbox/exact/clock", json: ["advance": 3601])
        let fresh = try exactClient()
        XCTAssertEqual(try fresh.call("GET", good).status, 200, "free again after the hour")
    }

    /// R-FILTER-4: an account code is stored 18 characters wide, right-aligned, so an
    /// equality filter without the spaces finds nothing. R-TYPE-1: Edm.Byte flags come
    /// back as 0 or 1.
    func testExactRFILTER4PaddedAccountCodesAndByteFlags() throws {
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)"), ("Accept", "application/json")]
        let accounts = "\(exact)/api/v1/123456/crm/Accounts"
        XCTAssertEqual(try call("POST", accounts, headers: auth, json: ["Name": "Kassa", "Code": "1068"]).status, 201)
        func codes(_ filter: String) throws -> [String] {
            let encoded = filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let page = try call("GET", "\(accounts)?$select=Code&$filter=\(encoded)", headers: auth)
            return ((page.object["d"] as? [String: Any])?["results"] as? [[String: Any]] ?? []).compactMap { $0["Code"] as? String }
        }
        XCTAssertEqual(try codes("Code eq '1068'"), [])
        XCTAssertEqual(try codes("Code eq '              1068'"), ["              1068"])
        // A new account without a code gets the next number, padded as well (R-BIZ-6).
        let numbered = try call("POST", accounts, headers: auth, json: ["Name": "Nieuw"])
        let code = try XCTUnwrap((numbered.object["d"] as? [String: Any])?["Code"] as? String)
        XCTAssertEqual(code.count, 18)
        XCTAssertTrue(code.hasPrefix(" ") && code.trimmingCharacters(in: .whitespaces).allSatisfy(\.isNumber), "'\(code)'")

        let item = try call("POST", "\(exact)/api/v1/123456/logistics/Items", headers: auth, json: ["Code": "SET-1", "Description": "Set", "IsMakeItem": true])
        XCTAssertEqual((item.object["d"] as? [String: Any])?["IsMakeItem"] as? Int, 1)
        let warehouses = try call("GET", "\(exact)/api/v1/123456/inventory/Warehouses?$select=Code,Main", headers: auth)
        let mains = ((warehouses.object["d"] as? [String: Any])?["results"] as? [[String: Any]] ?? []).compactMap { $0["Main"] as? Int }
        XCTAssertEqual(mains.sorted(), [0, 0, 1])
    }

    /// R-PAGE-3: an expanded collection holds at most 60 rows and continues behind a
    /// `__next` of its own, a read of the line set filtered on its header.
    func testExactRPAGE3ExpandedLinesStopAtSixtyWithANestedNext() throws {
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)"), ("Accept", "application/json")]
        let base = "\(exact)/api/v1/123456"
        let account = try XCTUnwrap((try call("POST", "\(base)/crm/Accounts", headers: auth, json: ["Name": "Buyer"]).object["d"] as? [String: Any])?["ID"] as? String)
        let item = try XCTUnwrap((try call("POST", "\(base)/logistics/Items", headers: auth, json: ["Code": "A", "Description": "A"]).object["d"] as? [String: Any])?["ID"] as? String)
        let lines = (1...75).map { ["Item": item, "Quantity": $0, "UnitPrice": 1] as [String: Any] }
        let created = try call("POST", "\(base)/salesorder/SalesOrders", headers: auth, json: ["OrderedBy": account, "SalesOrderLines": lines])
        let id = try XCTUnwrap((created.object["d"] as? [String: Any])?["OrderID"] as? String)
        let order = try call("GET", "\(base)/salesorder/SalesOrders(guid'\(id)')?$expand=SalesOrderLines", headers: auth)
        let expanded = try XCTUnwrap((order.object["d"] as? [String: Any])?["SalesOrderLines"] as? [String: Any])
        XCTAssertEqual((expanded["results"] as? [Any])?.count, 60)
        let next = try XCTUnwrap(expanded["__next"] as? String)
        XCTAssertTrue(next.contains("/salesorder/SalesOrderLines?"), next)
        let rest = try call("GET", next, headers: auth)
        XCTAssertEqual(rest.status, 200)
        let more = try XCTUnwrap((rest.object["d"] as? [String: Any])?["results"] as? [[String: Any]])
        XCTAssertEqual(more.count, 15)
        XCTAssertEqual(more.compactMap { ($0["Quantity"] as? NSNumber)?.intValue }, Array(61...75))
    }

    /// R-SELECT-1: a property the entity does not have, in `$select`, `$filter`,
    /// `$orderby` or a POST body, is refused with 400 in Exact's error shape.
    func testExactRSELECT1UnknownPropertiesAreRefused() throws {
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)"), ("Accept", "application/json")]
        let orders = "\(exact)/api/v1/123456/salesorder/SalesOrders"
        let modified = "Modified ge datetime'2000-01-01T00:00:00'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        XCTAssertEqual(try call("GET", "\(orders)?$select=OrderID,AmountFC&$filter=\(modified)", headers: auth).status, 200)
        let select = try call("GET", "\(orders)?$select=OrderID,VATAmount&$filter=\(modified)", headers: auth)
        XCTAssertEqual(select.status, 400)
        XCTAssertEqual(exactMessage(select), "No property 'VATAmount' exists in type 'Exact.Web.Api.Models.SalesOrder' ($select).")
        let badFilter = "Modfied ge datetime'2000-01-01T00:00:00'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        XCTAssertEqual(try call("GET", "\(orders)?$filter=\(badFilter)", headers: auth).status, 400)
        XCTAssertEqual(try call("GET", "\(orders)?$filter=\(modified)&$orderby=Changed", headers: auth).status, 400)
        let body = try call("POST", "\(exact)/api/v1/123456/crm/Accounts", headers: auth, json: ["Name": "Buyer", "NotAField": "x"])
        XCTAssertEqual(body.status, 400)
        XCTAssertEqual(exactMessage(body), "Error processing request stream. The property name 'NotAField' specified for type 'Exact.Web.Api.Models.Account' is not valid.")
    }

    func testExactDeepInsertChecksItemsAndComputesTotals() throws {
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)")]
        let base = "\(exact)/api/v1/123456"
        let account = try call("POST", "\(base)/crm/Accounts", headers: auth, json: ["Name": "Bakkerij 't Hoekje"])
        let accountID = try XCTUnwrap((account.object["d"] as? [String: Any])?["ID"] as? String)
        let item = try call("POST", "\(base)/logistics/Items", headers: auth, json: ["Code": "SKU-1", "Description": "Mok"])
        let itemID = try XCTUnwrap((item.object["d"] as? [String: Any])?["ID"] as? String)
        XCTAssertEqual(try call("POST", "\(base)/logistics/Items", headers: auth, json: ["Code": "SKU-1", "Description": "Dubbel"]).status, 400)

        let unknown = "00000000-0000-0000-0000-00000000beef"
        let refused = try call("POST", "\(base)/salesinvoice/SalesInvoices", headers: auth, json: [
            "Journal": "70", "OrderedBy": accountID, "YourRef": "1001",
            "SalesInvoiceLines": [["Item": itemID, "Quantity": 2, "UnitPrice": 10.10, "VATCode": "1"], ["Item": unknown, "Quantity": 1, "UnitPrice": 5]],
        ])
        XCTAssertEqual(refused.status, 400)
        let message = ((refused.object["error"] as? [String: Any])?["message"] as? [String: Any])
        XCTAssertEqual(message?["lang"] as? String, "")
        XCTAssertEqual(message?["value"] as? String, "Item: Item '\(unknown)' does not exist")
        XCTAssertEqual((refused.object["error"] as? [String: Any])?["code"] as? String, "")

        let created = try call("POST", "\(base)/salesinvoice/SalesInvoices", headers: auth, json: [
            "Journal": "70", "OrderedBy": accountID, "YourRef": "1001",
            "SalesInvoiceLines": [["Item": itemID, "Quantity": 2, "UnitPrice": 10.10, "VATCode": "1"], ["Item": itemID, "Quantity": 3, "UnitPrice": 0.1, "VATCode": "2"]],
        ])
        XCTAssertEqual(created.status, 201)
        let invoice = try XCTUnwrap(created.object["d"] as? [String: Any])
        XCTAssertEqual("\(invoice["AmountFCExclVat"] ?? "")", "20.5")
        XCTAssertEqual("\(invoice["VATAmountFC"] ?? "")", "4.27")
        XCTAssertEqual("\(invoice["AmountFC"] ?? "")", "24.77")
        let stored = try call("GET", "\(exact)/_sandbox/exact/123456/salesinvoice/SalesInvoices?$filter=YourRef%20eq%20'1001'&$expand=SalesInvoiceLines")
        let results = try XCTUnwrap((stored.object["d"] as? [String: Any])?["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, 1)
        XCTAssertEqual(((results[0]["SalesInvoiceLines"] as? [String: Any])?["results"] as? [Any])?.count, 2)
    }

    func testExactRateLimitAnswers429WithItsHeaders() async throws {
        sandbox.stop()
        var options = Sandbox.Options()
        options.exact.minutelyLimit = 3
        sandbox = try await Sandbox.start(options)
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)")]
        var answers: [Answer] = []
        for _ in 0..<4 { answers.append(try call("GET", "\(exact)/api/v1/123456/vat/VATCodes", headers: auth)) }
        XCTAssertEqual(answers.map(\.status), [200, 200, 200, 429])
        XCTAssertEqual(answers.map { $0.headers["x-ratelimit-minutely-remaining"] }, ["2", "1", "0", "0"])
        let reset = try XCTUnwrap(answers[3].headers["x-ratelimit-minutely-reset"].flatMap(Double.init))
        XCTAssertGreaterThan(reset / 1000, Date().timeIntervalSince1970)
        XCTAssertEqual(answers[3].headers["x-ratelimit-limit"], "5000")
    }

    func testCommittedThenDroppedLeavesTheInvoiceStored() throws {
        let auth = [("Authorization", "Bearer \(try exactTokens()["access_token"]!)")]
        let base = "\(exact)/api/v1/123456"
        let accountID = try XCTUnwrap(((try call("POST", "\(base)/crm/Accounts", headers: auth, json: ["Name": "Jansen"])).object["d"] as? [String: Any])?["ID"] as? String)
        let itemID = try XCTUnwrap(((try call("POST", "\(base)/logistics/Items", headers: auth, json: ["Code": "SKU-9", "Description": "Kaars"])).object["d"] as? [String: Any])?["ID"] as? String)
        sandbox.faults.queue(.init(match: "POST /api/v1/123456/salesinvoice/SalesInvoices", fault: .dropAfterCommit))

        var request = OutboundRequest(method: "POST", url: "\(base)/salesinvoice/SalesInvoices", headers: auth + [("Content-Type", "application/json")], timeout: 10)
        request.body = try JSONSerialization.data(withJSONObject: ["Journal": "70", "OrderedBy": accountID, "YourRef": "2002",
                                                                   "SalesInvoiceLines": [["Item": itemID, "Quantity": 1, "UnitPrice": 3]]])
        guard case .unknown = client.send(request) else { return XCTFail("the answer was not dropped") }
        let stored = try call("GET", "\(exact)/_sandbox/exact/123456/salesinvoice/SalesInvoices?$filter=YourRef%20eq%20'2002'")
        XCTAssertEqual(((stored.object["d"] as? [String: Any])?["results"] as? [Any])?.count, 1)
        XCTAssertEqual(sandbox.faults.counts[.dropAfterCommit], 1)
    }

    // MARK: WooCommerce

    func signed(_ url: String, secret: String = "cs_sandbox_fedcba9876543210") throws -> String {
        var request = OutboundRequest(method: "GET", url: url)
        try OAuth1Authorizer(consumerKey: "ck_sandbox_0123456789abcdef", consumerSecret: secret).authorize(&request)
        return request.url
    }

    func testWooCommercePagesFiltersAndAuth() throws {
        let orders = "\(woo)/wp-json/wc/v3/orders"
        var seen: [Int] = []
        var page = 1
        var totalPages = 1
        repeat {
            let answer = try call("GET", try signed("\(orders)?per_page=100&page=\(page)&orderby=id&order=asc"))
            XCTAssertEqual(answer.status, 200)
            XCTAssertEqual(answer.headers["x-wp-total"], "225", "250 orders of which 25 are test orders the shop API does not list")
            totalPages = Int(answer.headers["x-wp-totalpages"] ?? "0") ?? 0
            seen += (answer.json as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
            page += 1
        } while page <= totalPages
        XCTAssertEqual(totalPages, 3)
        XCTAssertEqual(seen.count, 225)
        XCTAssertEqual(seen, seen.sorted())

        let tooMany = try call("GET", try signed("\(orders)?per_page=101"))
        XCTAssertEqual(tooMany.status, 400)
        XCTAssertEqual(tooMany.object["code"] as? String, "rest_invalid_param")
        XCTAssertEqual((tooMany.object["data"] as? [String: Any])?["status"] as? Int, 400)

        let recent = try call("GET", try signed("\(orders)?per_page=100&modified_after=2025-12-20T00:00:00&dates_are_gmt=true&status=processing,completed"))
        let rows = try XCTUnwrap(recent.json as? [[String: Any]])
        XCTAssertFalse(rows.isEmpty)
        XCTAssertTrue(rows.allSatisfy { ($0["date_modified_gmt"] as? String ?? "") > "2025-12-20T00:00:00" && ["processing", "completed"].contains($0["status"] as? String ?? "") })

        let forged = try call("GET", try signed("\(orders)?per_page=1", secret: "cs_wrong"))
        XCTAssertEqual(forged.status, 401)
        XCTAssertEqual(forged.object["code"] as? String, "woocommerce_rest_authentication_error")
        let basic = [("Authorization", "Basic " + Data("ck_sandbox_0123456789abcdef:cs_sandbox_fedcba9876543210".utf8).base64EncodedString())]
        XCTAssertEqual(try call("GET", "\(orders)?per_page=1", headers: basic).status, 401, "Basic auth over plain HTTP is refused")
        XCTAssertEqual(try call("GET", "\(orders)?per_page=1", headers: basic + [("X-Forwarded-Proto", "https")]).status, 200)
    }

    func testWooCommerceWebhooksAreSignedAndDisabledAfterFailures() async throws {
        let received = Shared<[(headers: [String: String], body: Data)]>([])
        let failing = Shared(false)
        let receiver = try await TestHTTPServer.start { router in
            router.post("/hook") { request, _ -> Response in
                var request = request
                let body = Data(buffer: try await request.collectBody(upTo: 1 << 20))
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
                received.with { $0.append((headers, body)) }
                return Response(status: failing.current ? .internalServerError : .ok)
            }
        }
        defer { receiver.stop() }
        let created = try call("POST", "\(woo)/wp-json/wc/v3/webhooks", headers: [("X-Forwarded-Proto", "https"), ("Authorization", "Basic " + Data("ck_sandbox_0123456789abcdef:cs_sandbox_fedcba9876543210".utf8).base64EncodedString())],
                               json: ["name": "Koppel", "topic": "order.created", "delivery_url": "\(receiver.baseURL)/hook", "secret": "hook-secret"])
        XCTAssertEqual(created.status, 201)
        try await waitUntil { received.current.count == 1 }
        XCTAssertEqual(String(decoding: received.current[0].body, as: UTF8.self), "webhook_id=\(created.object["id"]!)")
        XCTAssertNil(received.current[0].headers["x-wc-webhook-signature"], "WooCommerce's ping is unsigned")

        _ = try call("POST", "\(woo)/_sandbox/woocommerce/orders", json: ["count": 1])
        try await waitUntil { received.current.count == 2 }
        let delivery = received.current[1]
        XCTAssertEqual(delivery.headers["x-wc-webhook-topic"], "order.created")
        let expected = Data(HMAC<SHA256>.authenticationCode(for: delivery.body, using: SymmetricKey(data: Data("hook-secret".utf8)))).base64EncodedString()
        XCTAssertEqual(delivery.headers["x-wc-webhook-signature"], expected)

        // Disabled once more than five deliveries in a row failed (reference README).
        failing.with { $0 = true }
        let hooks = { () -> [[String: Any]] in
            (try? self.call("GET", "\(self.woo)/_sandbox/woocommerce/webhooks"))?.object["webhooks"] as? [[String: Any]] ?? []
        }
        for attempt in 1...6 {
            XCTAssertEqual(hooks().first?["status"] as? String, "active", "still active after \(attempt - 1) failures")
            _ = try call("POST", "\(woo)/_sandbox/woocommerce/orders", json: ["count": 1])
            try await waitUntil { received.current.count == 2 + attempt }
        }
        try await waitUntil { hooks().first?["status"] as? String == "disabled" }
        XCTAssertEqual(hooks().first?["failure_count"] as? Int, 6)
        let shown = try call("GET", "\(woo)/wp-json/wc/v3/webhooks/\(created.object["id"]!)", headers: [("X-Forwarded-Proto", "https"), ("Authorization", "Basic " + Data("ck_sandbox_0123456789abcdef:cs_sandbox_fedcba9876543210".utf8).base64EncodedString())]).object
        XCTAssertEqual(shown["status"] as? String, "disabled", "the API shows it")
        XCTAssertNil(shown["secret"], "the secret is shown only in the edit context")
        XCTAssertNil(shown["failure_count"])
        _ = try call("POST", "\(woo)/_sandbox/woocommerce/orders", json: ["count": 1])
        try await Task.sleep(for: .milliseconds(1_500))
        XCTAssertEqual(received.current.count, 8, "a disabled webhook still delivered")

        // Enabled again, a burst goes out from the queue in batches; deliveries of one
        // second share their delivery id.
        failing.with { $0 = false }
        _ = try call("PUT", "\(woo)/wp-json/wc/v3/webhooks/\(created.object["id"]!)", headers: [("X-Forwarded-Proto", "https"), ("Authorization", "Basic " + Data("ck_sandbox_0123456789abcdef:cs_sandbox_fedcba9876543210".utf8).base64EncodedString())], json: ["status": "active"])
        _ = try call("POST", "\(woo)/_sandbox/woocommerce/orders", json: ["count": 30])
        try await waitUntil { received.current.count == 38 }
        let ids = received.current.suffix(30).compactMap { $0.headers["x-wc-webhook-delivery-id"] }
        XCTAssertEqual(ids.count, 30)
        XCTAssertLessThan(Set(ids).count, 30, "deliveries within a second share an id")
        XCTAssertEqual(hooks().first?["failure_count"] as? Int, 0, "a success resets the count")
    }

    // MARK: Mijnwebwinkel

    func testMijnwebwinkelTokensPagingTestOrdersAndShipping() throws {
        let store = "token=mww-sandbox-store-token-7c1e", partner = "partner_token=mww-sandbox-partner-token-42"
        XCTAssertEqual(try call("GET", "\(mww)/v1/orders?\(store)").status, 401, "the partner token is required")
        XCTAssertEqual(try call("GET", "\(mww)/v1/orders?\(partner)").status, 401, "the store token is required")
        XCTAssertEqual(try call("GET", "\(mww)/v1/orders?token=wrong&\(partner)").object["description"] as? String, "Invalid store token")
        XCTAssertEqual(try call("GET", "\(mww)/v1/orders?\(store)&\(partner)&limit=101").status, 400, "limit is at most 100")
        XCTAssertEqual(try call("GET", "\(mww)/v1/orders?\(store)&\(partner)").array.count, 10, "limit defaults to 10")
        var numbers: [String] = []
        for offset in stride(from: 0, to: 1000, by: 100) {
            let page = try call("GET", "\(mww)/v1/orders?\(store)&\(partner)&limit=100&offset=\(offset)&test=true").array
            numbers += page.map { ($0["number"] as? String) ?? "\($0["number"]!)" }
            if page.count < 100 { break }
        }
        XCTAssertEqual(numbers.count, 250)
        XCTAssertEqual(numbers.filter { $0.hasPrefix("T-") }.count, 25)
        XCTAssertEqual(try call("GET", "\(mww)/v1/orders/count?\(store)&\(partner)").object["count"] as? Int, 225, "test orders only when asked")
        let shipped = try call("PATCH", "\(mww)/v1/orders/1001?\(store)&\(partner)", json: ["status": 2, "comments": ["internal": "PostNL: 3SABC123"]])
        XCTAssertEqual(shipped.object["status"] as? Int, 2)
        XCTAssertEqual(try call("PATCH", "\(mww)/v1/orders/1001?\(store)&\(partner)", json: ["finished": true]).status, 400, "finished cannot be written (R4.9)")
        XCTAssertEqual((try call("GET", "\(mww)/_sandbox/mijnwebwinkel/orders/1001").object["comments"] as? [String: Any])?["internal"] as? String, "PostNL: 3SABC123")
    }

    func waitUntil(timeout: TimeInterval = 10, _ condition: @escaping () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("condition not met within \(timeout) s")
    }

    // MARK: Optiply

    var optiply: String { sandbox.endpoints.first { $0.name == "optiply" }!.baseURL }

    /// R2.1, R2.6: the password grant with the app's id and secret as HTTP Basic only.
    func optiplyToken() throws -> String {
        let o = OptiplySandbox.Options()
        let form = "grant_type=password&username=\(o.username.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&password=\(o.password)"
        let inForm = try call("POST", "\(optiply)\(OptiplySandbox.tokenPath)", form: form + "&client_id=\(o.clientID)&client_secret=\(o.clientSecret)")
        XCTAssertEqual(inForm.status, 401, "the client's id and secret in the form alone are not enough")
        let wrong = try call("POST", "\(optiply)\(OptiplySandbox.tokenPath)", headers: [("Authorization", "Basic " + Data("\(o.clientID):nope".utf8).base64EncodedString())], form: form)
        XCTAssertEqual(wrong.status, 401)
        XCTAssertEqual(wrong.object["error_description"] as? String, "UserDetailsService returned null, which is an interface contract violation")
        let basic = ("Authorization", "Basic " + Data("\(o.clientID):\(o.clientSecret)".utf8).base64EncodedString())
        let refresh = try call("POST", "\(optiply)\(OptiplySandbox.tokenPath)", headers: [basic], form: "grant_type=refresh_token&refresh_token=x")
        XCTAssertEqual(refresh.status, 400, "no refresh grant to rely on (R2.3)")
        // R2.2: grant_type may come in the query.
        let token = try call("POST", "\(optiply)\(OptiplySandbox.tokenPath)?grant_type=password", headers: [basic],
                             form: "username=\(o.username.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&password=\(o.password)")
        XCTAssertEqual(token.status, 200)
        XCTAssertNotNil(token.object["refresh_token"])
        return try XCTUnwrap(token.object["access_token"] as? String)
    }

    func testOptiplyRefusesWhatOptiplyRefuses() throws {
        let token = try optiplyToken()
        let o = OptiplySandbox.Options()
        let api = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/vnd.api+json")]
        let scope = "accountId=\(o.accountID)&couplingId=\(o.couplingID)"
        func send(_ method: String, _ path: String, _ attributes: [String: Any], type: String? = nil, headers: [(String, String)]? = nil) throws -> Answer {
            var request = OutboundRequest(method: method, url: "\(optiply)\(path)", headers: headers ?? api, idempotent: false, timeout: 10)
            request.body = try JSONSerialization.data(withJSONObject: ["data": ["type": type ?? String(path.dropFirst(4).prefix { $0 != "?" && $0 != "/" }), "attributes": attributes]])
            guard case .response(let response) = client.send(request) else { throw TestFailure("no answer") }
            return Answer(status: response.status, headers: response.headers, json: try? JSONSerialization.jsonObject(with: response.body))
        }
        func detail(_ answer: Answer) -> String { ((answer.object["errors"] as? [[String: Any]])?.first?["meta"] as? [String: Any])?["message"] as? String ?? "" }

        // R3.1: the media type on every request, GETs included.
        XCTAssertEqual(try call("GET", "\(optiply)/v1/products", headers: [api[0]]).status, 415)
        // R3.7: writes name the account and the coupling.
        XCTAssertEqual(try send("POST", "/v1/products", ["name": "Kop", "stockLevel": 1]).status, 400)
        // R6.1: required attributes; R6.1/R3.4: integers are integers.
        let noStock = try send("POST", "/v1/products?\(scope)", ["name": "Kop"])
        XCTAssertEqual(noStock.status, 400)
        XCTAssertEqual(detail(noStock), "stockLevel: must not be null")
        XCTAssertEqual(detail(try send("POST", "/v1/products?\(scope)", ["name": "Kop", "stockLevel": 2.5])), "stockLevel: must be an integer")
        XCTAssertEqual(detail(try send("POST", "/v1/products?\(scope)", ["name": "Kop", "stockLevel": "2"])), "stockLevel: must be an integer")
        XCTAssertEqual(detail(try send("POST", "/v1/products?\(scope)", ["name": "Kop", "stockLevel": 1, "price": 1.005])),
                       "price: numeric value out of bounds (<9 digits>.<2 digits> expected)")
        let made = try send("POST", "/v1/products?\(scope)", ["name": "Kop", "stockLevel": 1, "unlimitedStock": false, "price": 12.5, "skuCode": "K-1", "remoteId": "K-1"])
        XCTAssertEqual(made.status, 201)
        let product = try XCTUnwrap((made.object["data"] as? [String: Any]))
        let productID = try XCTUnwrap(product["id"] as? String, "ids are strings (R3.4)")
        let shown = try XCTUnwrap(product["attributes"] as? [String: Any])
        XCTAssertEqual(shown["price"] as? String, "12.50", "decimals come back as strings (R3.5)")
        XCTAssertNil(shown["remoteId"], "remoteId is write-only (R5.1)")
        XCTAssertEqual(shown["remoteIdMap"] as? [String: String], ["\(o.couplingID)": "K-1"])
        // R5.2: no lookup by remote id.
        XCTAssertEqual(try call("GET", "\(optiply)/v1/products?filter%5BremoteId%5D=K-1", headers: api).status, 400)
        XCTAssertEqual((try call("GET", "\(optiply)/v1/products?filter%5BskuCode%5D=K-1", headers: api).object["data"] as? [Any])?.count, 1)
        // R4.1: at most 100 a page, the offset a multiple of the limit; R4.2 links.next.
        XCTAssertEqual(try call("GET", "\(optiply)/v1/products?page%5Blimit%5D=101", headers: api).status, 400)
        XCTAssertEqual(try call("GET", "\(optiply)/v1/products?page%5Blimit%5D=10&page%5Boffset%5D=5", headers: api).status, 400)
        let page = try call("GET", "\(optiply)/v1/products?page%5Blimit%5D=1&page%5Boffset%5D=0", headers: api)
        XCTAssertNotNil((page.object["links"] as? [String: Any])?["next"] as? String)
        XCTAssertEqual((try call("GET", "\(optiply)/v1/products?page%5Blimit%5D=1&page%5Boffset%5D=1", headers: api).object["data"] as? [Any])?.count, 0)

        // R6.5: a bad address; R5.3: one supplier product per pair.
        let badMail = try send("POST", "/v1/suppliers?\(scope)", ["name": "Groothandel", "emails": ["inkoop-at-example"]])
        XCTAssertEqual(badMail.status, 400)
        XCTAssertTrue(detail(badMail).contains("is not a valid address"), detail(badMail))
        let supplier = try send("POST", "/v1/suppliers?\(scope)", ["name": "Groothandel", "emails": ["inkoop@example.nl"]])
        let supplierID = try XCTUnwrap((supplier.object["data"] as? [String: Any])?["id"] as? String)
        let pair: [String: Any] = ["name": "Kop", "productId": Int(productID)!, "supplierId": Int(supplierID)!, "price": 1.8]
        XCTAssertEqual(try send("POST", "/v1/supplierProducts?\(scope)", pair).status, 201)
        let twice = try send("POST", "/v1/supplierProducts?\(scope)", pair)
        XCTAssertEqual(twice.status, 409)
        XCTAssertEqual(detail(twice), "supplier/product combination already exists")
        XCTAssertEqual(try send("POST", "/v1/supplierProducts?\(scope)", ["productId": Int(productID)!, "supplierId": Int(supplierID)!]).status, 400, "a name is required")

        // R6.2: a sell order with its lines; line quantities are integers.
        let line: [String: Any] = ["productId": Int(productID)!, "quantity": 1.5, "subtotalValue": 10]
        let fractional = try send("POST", "/v1/sellOrders?\(scope)", ["placed": "2026-12-01T10:00:00Z", "totalValue": 10, "orderLines": [line]])
        XCTAssertEqual(detail(fractional), "orderLines[0].quantity: must be an integer")
        // R5.4: a PATCH of a record that is gone.
        XCTAssertEqual(try send("PATCH", "/v1/products/999?\(scope)", ["stockLevel": 3], type: "products").status, 404)
        XCTAssertEqual(try send("PATCH", "/v1/products/\(productID)?\(scope)", ["remoteIdMap": [:] as [String: Any]], type: "products").status, 400, "read-only")
    }

    // MARK: Winstore

    func testWinstoreAnswersAsTheIPOSWebServiceDoes() throws {
        let root = sandbox.endpoints.first { $0.name == "winstore" }!.baseURL + "/iposws/api/osd"
        let o = WinstoreSandbox.Options()
        let basic = ("Authorization", "Basic " + Data("\(o.username):\(o.password)".utf8).base64EncodedString())
        let json = ("Accept", "application/json")
        let date = "2020-01-01T00%3A00%3A00%2B01%3A00"
        // R1.2: Basic with the web-service user.
        XCTAssertEqual(try call("GET", "\(root)/GetArticleDataChangesByDate?date=\(date)").status, 401)
        // R1.3: XML unless JSON is asked for.
        let request = OutboundRequest(method: "GET", url: "\(root)/GetSuppliers", headers: [basic], idempotent: true, timeout: 10)
        guard case .response(let xml) = client.send(request) else { return XCTFail("no answer") }
        XCTAssertTrue(xml.headers["content-type"]?.hasPrefix("application/xml") == true)
        XCTAssertTrue(String(decoding: xml.body, as: UTF8.self).contains("<ArrayOfSupplier><Supplier>"))
        // R1.6: an ATOM date, its + encoded; R2.1: everything changed since.
        XCTAssertEqual(try call("GET", "\(root)/GetArticleDataChangesByDate?date=2020-01-01", headers: [basic, json]).status, 400)
        XCTAssertEqual(try call("GET", "\(root)/GetArticleDataChangesByDate?date=\(date)", headers: [basic, json]).array.count, 100)
        // R1.5 and R2.2: `?` between parameters; a GTIN keeps its leading zero.
        let stock = try call("GET", "\(root)/GetStock?type=byGtin?gtin=0871000000007", headers: [basic, json])
        XCTAssertEqual(stock.array.map { $0["Warehouse"] as? Int }, [1, 2])
        XCTAssertEqual(stock.array.first?["Gtin"] as? String, "0871000000007")
        XCTAssertEqual(sandbox.winstore.ampersandQueries, 0)
        XCTAssertEqual(try call("GET", "\(root)/GetChangedStockWithWarehouse?date=\(date)&outOfStock=1", headers: [basic, json]).status, 200)
        XCTAssertEqual(sandbox.winstore.ampersandQueries, 1, "the & form is taken, and counted")

        // R3.1: the order's elements, in the client's order, the country in Dutch.
        func order(_ country: String, swap: Bool = false, contentType: String = "application/xml") throws -> Answer {
            let head = swap ? "<orderdate>2026-11-29 14:02:11</orderdate><ordernr>T-1</ordernr>" : "<ordernr>T-1</ordernr><orderdate>2026-11-29 14:02:11</orderdate>"
            let xml = "<order>\(head)<customerid>999999</customerid><email>a@example.nl</email><branch>1</branch><channel>Webshop</channel><total>12.10</total><currency>EUR</currency>"
                + "<invoice_add><fname>Truus</fname><lname>Voorbeeld</lname><street>Molenstraat</street><streetnr>62</streetnr><zip>5341 GE</zip><country>\(country)</country><countryISO>NL</countryISO></invoice_add>"
                + "<positions><position><product_id>WS-0001</product_id><amount>1</amount><single_price>12.1</single_price><type>S</type><branch>1</branch></position></positions></order>"
            var request = OutboundRequest(method: "POST", url: "\(root)/PostOrderWithStatusCode", headers: [basic, json, ("Content-Type", contentType)], idempotent: false, timeout: 10)
            request.body = Data(xml.utf8)
            guard case .response(let response) = client.send(request) else { throw TestFailure("no answer") }
            return Answer(status: response.status, headers: response.headers, json: try? JSONSerialization.jsonObject(with: response.body))
        }
        XCTAssertEqual(try order("Nederland", contentType: "application/json").status, 415)
        XCTAssertEqual(try order("Netherlands").status, 400)
        XCTAssertEqual(try order("Nederland", swap: true).status, 400)
        let stored = try order("Nederland")
        XCTAssertEqual(stored.status, 200)
        XCTAssertEqual(stored.array.first?["StatusCode"] as? Int, 201)
    }
}
