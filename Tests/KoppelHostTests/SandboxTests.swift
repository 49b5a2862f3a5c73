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

        failing.with { $0 = true }
        for attempt in 1...5 {
            _ = try call("POST", "\(woo)/_sandbox/woocommerce/orders", json: ["count": 1])
            try await waitUntil { received.current.count == 2 + attempt }
        }
        try await waitUntil { (try? self.call("GET", "\(self.woo)/_sandbox/woocommerce/webhooks"))?.object["webhooks"].flatMap { ($0 as? [[String: Any]])?.first?["status"] as? String } == "disabled" }
        _ = try call("POST", "\(woo)/_sandbox/woocommerce/orders", json: ["count": 1])
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertEqual(received.current.count, 7, "a disabled webhook still delivered")
    }

    // MARK: Mijnwebwinkel

    func testMijnwebwinkelTokenPagingTestOrdersAndShipping() throws {
        XCTAssertEqual(try call("GET", "\(mww)/api/v1/orders?token=wrong").status, 403)
        XCTAssertEqual(try call("GET", "\(mww)/api/v1/orders").status, 401)
        var numbers: [String] = []
        var page = 1, pages = 1
        repeat {
            let answer = try call("GET", "\(mww)/api/v1/orders?token=mww-sandbox-token-7c1e&page=\(page)&limit=100")
            XCTAssertEqual(answer.status, 200)
            pages = answer.object["pages"] as? Int ?? 0
            numbers += (answer.object["orders"] as? [[String: Any]] ?? []).compactMap { $0["number"] as? String }
            page += 1
        } while page <= pages
        XCTAssertEqual(numbers.count, 250)
        XCTAssertEqual(numbers.filter { $0.hasSuffix("-T") }.count, 25)
        let shipped = try call("PUT", "\(mww)/api/v1/orders/1001/shipment?token=mww-sandbox-token-7c1e", json: ["carrier": "PostNL", "track_and_trace": "3SABC123"])
        XCTAssertEqual(shipped.object["status"] as? String, "shipped")
        XCTAssertEqual(try call("GET", "\(mww)/_sandbox/mijnwebwinkel/orders/1001").object["status"] as? String, "shipped")
    }

    func waitUntil(timeout: TimeInterval = 10, _ condition: @escaping () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("condition not met within \(timeout) s")
    }
}
