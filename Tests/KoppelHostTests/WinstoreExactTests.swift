import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Winstore <-> Exact Online end to end: the `koppel` binary with the real plugins,
/// against the sandbox's Winstore web service (ACA's IPOS `osd` calls) and Exact division
/// over HTTP. Articles go from Winstore to Exact items (create everything, update only
/// what the flow lists); paid Exact sales orders go to Winstore as `<order>` XML; stock
/// per branch reaches Optiply.
final class WinstoreExactTests: XCTestCase {
    typealias Fields = WinstoreSandbox.Fields
    var deployment: SandboxDeployment!
    var options = Sandbox.Options()

    override func setUp() async throws {
        options.exact.minutelyLimit = 100_000
        options.exact.dailyLimit = 1_000_000
        deployment = try await SandboxDeployment(options)
    }

    override func tearDown() async throws {
        deployment.stop()
    }

    var winstoreURL: String { deployment.endpoint("winstore").baseURL }

    /// Extra Winstore settings (`prices_include_tax: false`).
    var winstoreSettings = ""

    var connections: String {
        """
        winstore:
          plugin: winstore
          settings: { base_url: "\(winstoreURL)/iposws/api/osd", username: \(options.winstore.username), overlap_seconds: 0\(winstoreSettings) }
        exact:
          plugin: exact-online
          settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID), warehouse: "1" }
        """
    }

    func deploy(flows: String) throws {
        try deployment.fixture.write(load: ["winstore", "exact-online"], connections: connections, flows: flows)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "winstore", "password"], stdin: options.winstore.password + "\n").status, 0)
        try deployment.signInToExact("exact")
    }

    /// An article made or changed in Winstore's back office.
    @discardableResult
    func article(_ fields: [String: Any]) throws -> [String: Any] {
        try deployment.json("POST", "\(winstoreURL)/_sandbox/winstore/articles", body: fields) as? [String: Any] ?? [:]
    }

    /// What the shop holds, through the sandbox's inspection door.
    func shop(_ collection: String) throws -> [[String: Any]] {
        try deployment.json("GET", "\(winstoreURL)/_sandbox/winstore/\(collection)") as? [[String: Any]] ?? []
    }

    func winstoreStats() throws -> (calls: [String: Int], ampersands: Int) {
        let stats = try deployment.json("GET", "\(winstoreURL)/_sandbox/winstore-stats") as? [String: Any]
        return ((stats?["calls"] as? [String: Any] ?? [:]).mapValues { ($0 as? NSNumber)?.intValue ?? 0 }, (stats?["ampersand_queries"] as? NSNumber)?.intValue ?? -1)
    }

    func exactCalls(_ key: String) throws -> Int {
        let stats = try deployment.json("GET", "\(deployment.exactURL)/_sandbox/exact/stats") as? [String: Any]
        return ((stats?["calls"] as? [String: Any])?[key] as? NSNumber)?.intValue ?? 0
    }

    func testProductsReachExactItemsAndAnUpdateChangesOnlyTheListedFields() throws {
        winstoreSettings = ", prices_include_tax: false, attribute_fields: { origin: Origin }"
        try deploy(flows: """
            products:
              from: winstore.products
              to: exact.items
              mapping:
                update: [price]
                options: { item_attributes: { origin: FreeTextField_01 } }
            """)
        for number in 1...2 {
            try article([Fields.sku: "WS-VAR-\(number)", Fields.name: "Shirt \(number)", Fields.price: 20, Fields.vatRate: 21,
                         Fields.variants: [[Fields.key: 9000 + number * 10, Fields.sku: "WS-VAR-\(number)-S"], [Fields.key: 9001 + number * 10, Fields.sku: "WS-VAR-\(number)-M"]]])
        }
        let articles = try shop("articles")
        XCTAssertEqual(articles.count, 102)

        let callsBefore = try deployment.exactCalls()
        let first = try deployment.sync("products")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        // Under Exact's 60 calls a minute: per new item, the lookup by code, the item, its
        // warehouse link and its price (R-BIZ-3); the warehouse itself is looked up once.
        // Articles carry no stock here (that is the stock_levels stream's).
        XCTAssertEqual(try deployment.exactCalls() - callsBefore, 4 * 100 + 1, first.stdout)
        // Each article with variants is read with them (R2.5): two articles, four variants.
        XCTAssertTrue(first.stdout.contains("read 106,") && first.stdout.contains("written 100,") && first.stdout.contains("skipped 6,")
                      && first.stdout.contains("failed 0"), first.stdout)
        let variable = try XCTUnwrap(articles.first { $0[Fields.sku] as? String == "WS-VAR-1" })
        let log = try deployment.fixture.koppel(["log", "products", "--record", "\(variable[Fields.key]!)"])
        XCTAssertTrue(log.stdout.contains("WS-VAR-1 is a variable product; Exact items are written for simple products only"), log.stdout)
        let variant = try deployment.fixture.koppel(["log", "products", "--record", "9011"])
        XCTAssertTrue(variant.stdout.contains("WS-VAR-1-M is a variant product"), variant.stdout)
        XCTAssertEqual(try winstoreStats().ampersands, 0, "parameters joined with ? (R1.5)")

        var items = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("logistics/Items").map { ($0["Code"] as! String, $0) })
        XCTAssertEqual(items.count, 100)
        XCTAssertNil(items["WS-VAR-1"])
        let simple = articles.filter { $0[Fields.variants] == nil }
        for article in simple {
            let sku = article[Fields.sku] as! String
            let item = try XCTUnwrap(items[sku], sku)
            XCTAssertEqual(item["Description"] as? String, article[Fields.name] as? String)
            XCTAssertEqual(item["ExtraDescription"] as? String, article[Fields.longDescription] as? String)
            XCTAssertEqual(item["Barcode"] as? String, article[Fields.gtin] as? String, "a GTIN keeps its leading zero")
            XCTAssertEqual(decimal(item["StandardSalesPrice"]), decimal(article[Fields.price]), sku)
            XCTAssertEqual(item["SalesVatCode"] as? String, decimal(article[Fields.vatRate]) == 9 ? "2" : "1", sku)
            XCTAssertEqual(item["FreeTextField_01"] as? String, article[Fields.origin] as? String, sku)
        }

        // The merchant enriches five descriptions in Exact, and changes five prices (and
        // that article's description) in Winstore.
        for article in simple[0..<5] {
            try deployment.exactUpdate("logistics/Items", id: items[article[Fields.sku] as! String]!["ID"] as! String, ["ExtraDescription": "Verrijkt in Exact"])
        }
        var newPrices: [String: Decimal] = [:]
        for article in simple[5..<10] {
            let price = decimal(article[Fields.price]) + Decimal(string: "1.25")!
            newPrices[article[Fields.sku] as! String] = price
            try self.article([Fields.sku: article[Fields.sku]!, Fields.price: price, Fields.longDescription: "Nieuwe tekst in de winkel"])
        }
        let putsBefore = try exactCalls("PUT logistics/Items"), postsBefore = try exactCalls("POST logistics/Items")
        let pricePutsBefore = try exactCalls("PUT logistics/SalesItemPrices")
        let second = try deployment.sync("products")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertTrue(second.stdout.contains("updated 5,"), second.stdout)
        XCTAssertEqual(try exactCalls("PUT logistics/SalesItemPrices") - pricePutsBefore, 5, "a price is changed on its price row")
        XCTAssertEqual(try exactCalls("PUT logistics/Items") - putsBefore, 0, "update: [price] leaves the item itself")
        XCTAssertEqual(try exactCalls("POST logistics/Items") - postsBefore, 0)

        items = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("logistics/Items").map { ($0["Code"] as! String, $0) })
        for article in simple[0..<5] {
            XCTAssertEqual(items[article[Fields.sku] as! String]?["ExtraDescription"] as? String, "Verrijkt in Exact")
        }
        for article in simple[5..<10] {
            let item = items[article[Fields.sku] as! String]
            XCTAssertEqual(decimal(item?["StandardSalesPrice"]), newPrices[article[Fields.sku] as! String])
            XCTAssertEqual(item?["ExtraDescription"] as? String, article[Fields.longDescription] as? String, "update: [price] leaves the description")
        }
        let third = try deployment.sync("products")
        XCTAssertTrue(third.stdout.contains("written 0,") && !third.stdout.contains("updated"), third.stdout)
    }

    func testPaidExactSalesOrdersBecomeWinstoreOrdersOnceAndAnUnknownArticleIsParkedUntilItExists() throws {
        try deploy(flows: """
            orders:
              from: exact.sales_orders
              to: winstore.orders
              filter: { status: [paid] }
            """)
        // Exact holds ten Winstore articles as items, one item Winstore does not sell, and
        // ten buyers.
        var items: [String: String] = [:]
        for sku in (1...10).map({ String(format: "WS-%04d", $0) }) + ["EX-ONLY"] {
            items[sku] = try XCTUnwrap(deployment.exactCreate("logistics/Items", ["Code": sku, "Description": "Artikel \(sku)"])["ID"] as? String)
        }
        var accounts: [(id: String, email: String)] = []
        for index in 0..<10 {
            let email = "koper\(index)@example.nl"
            let id = try XCTUnwrap(deployment.exactCreate("crm/Accounts", [
                "Name": "Anna de Vries\(index)", "Email": email, "AddressLine1": "Kerkstraat \(10 + index)a", "Postcode": "1234 AB",
                "City": "Utrecht", "Country": index == 9 ? "BE" : "NL",
            ])["ID"] as? String)
            accounts.append((id, email))
        }
        // 50 orders: 40 invoiced and paid, 5 invoiced but unpaid, 5 not invoiced; and one
        // paid order for the item Winstore lacks.
        var orders: [(number: Int, paid: Bool, invoice: Int?)] = []
        func place(_ index: Int, skus: [String], paid: Bool, invoiced: Bool) throws {
            let account = accounts[index % accounts.count]
            let order = try deployment.exactCreate("salesorder/SalesOrders", [
                "OrderedBy": account.id, "Description": "Order \(index)",
                "SalesOrderLines": skus.enumerated().map { offset, sku in
                    ["Item": items[sku]!, "Quantity": offset + 1, "UnitPrice": 10 + index, "VATCode": "1"] as [String: Any]
                },
            ])
            let number = try XCTUnwrap(order["OrderNumber"] as? Int)
            var invoiceNumber: Int?
            if invoiced {
                let invoice = try deployment.exactCreate("salesinvoice/SalesInvoices", [
                    "OrderedBy": account.id, "Journal": "70", "YourRef": "\(number)",
                    "SalesInvoiceLines": [["Item": items[skus[0]]!, "Quantity": 1, "UnitPrice": 10, "VATCode": "1", "SalesOrder": order["OrderID"]!]],
                ])
                invoiceNumber = invoice["InvoiceNumber"] as? Int
                try deployment.exactCreate("cashflow/Receivables", ["InvoiceNumber": invoiceNumber!, "Account": account.id, "IsFullyPaid": paid])
            }
            orders.append((number, paid, invoiceNumber))
        }
        for index in 0..<50 {
            let skus = [String(format: "WS-%04d", index % 10 + 1)] + (index % 3 == 0 ? [String(format: "WS-%04d", (index + 3) % 10 + 1)] : [])
            try place(index, skus: skus, paid: index < 40, invoiced: index < 45)
        }
        try place(50, skus: ["WS-0001", "EX-ONLY"], paid: true, invoiced: true)
        let paidNumbers = Set(orders.filter(\.paid).map { String($0.number) })
        let parked = String(orders.last!.number)

        let first = try deployment.sync("orders")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertEqual(try winstoreStats().calls["PostOrderWithStatusCode"], 41, "one call per order, none to ask first: Winstore has no lookup")
        XCTAssertTrue(first.stdout.contains("written 40,") && first.stdout.contains("skipped 10,") && first.stdout.contains("failed 1"), first.stdout)
        var placed = try shop("orders")
        XCTAssertEqual(placed.count, 40)
        XCTAssertEqual(Set(placed.compactMap { $0["ordernr"] as? String }), paidNumbers.subtracting([parked]))

        // The order as Winstore got it: the walk-in customer, the buyer's address with the
        // country's Dutch name, one position per line at its price including VAT.
        let exactOrders = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("salesorder/SalesOrders", expand: "SalesOrderLines")
            .map { (String($0["OrderNumber"] as! Int), $0) })
        for order in placed {
            let source = try XCTUnwrap(exactOrders[order["ordernr"] as! String])
            let buyer = try XCTUnwrap(accounts.firstIndex { $0.id == source["OrderedBy"] as? String })
            XCTAssertEqual(order["customerid"] as? String, "999999")
            XCTAssertEqual(order["email"] as? String, accounts[buyer].email)
            XCTAssertEqual(order["branch"] as? String, "1")
            XCTAssertEqual(order["currency"] as? String, "EUR")
            XCTAssertNotNil((order["orderdate"] as? String)?.range(of: #"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"#, options: .regularExpression), "YYYY-MM-DD HH:MM:SS")
            let address = try XCTUnwrap(order["invoice_add"] as? [String: Any])
            XCTAssertEqual(address["street"] as? String, "Kerkstraat")
            XCTAssertEqual(address["streetnr"] as? String, "\(10 + buyer)a")
            XCTAssertEqual(address["country"] as? String, buyer == 9 ? "België" : "Nederland")
            XCTAssertEqual(address["countryISO"] as? String, buyer == 9 ? "BE" : "NL")
            let sourceLines = (source["SalesOrderLines"] as? [String: Any])?["results"] as? [[String: Any]] ?? []
            let positions = try XCTUnwrap(order["positions"] as? [[String: Any]])
            XCTAssertEqual(positions.map { $0["product_id"] as? String }, sourceLines.map { $0["ItemCode"] as? String })
            XCTAssertEqual(positions.map { decimal($0["amount"]) }, sourceLines.map { decimal($0["Quantity"]) })
            XCTAssertEqual(positions.map { decimal($0["single_price"]) }, sourceLines.map { decimal($0["UnitPrice"]) * Decimal(string: "1.21")! })
            let vatIncluded = sourceLines.reduce(Decimal(0)) { $0 + decimal($1["AmountDC"]) + decimal($1["VATAmountDC"]) }
            XCTAssertEqual(decimal(order["total"]), vatIncluded, "the order's total including VAT")
        }

        // The order with the unknown article is parked with Winstore's words.
        let failed = try deployment.fixture.koppel(["failed", "orders"])
        XCTAssertTrue(failed.stdout.contains("Winstore refused order \(parked): Onbekend artikel EX-ONLY"), failed.stdout)

        // A rerun places nothing and asks Winstore nothing.
        let rerun = try deployment.sync("orders")
        XCTAssertTrue(rerun.stdout.contains("written 0,"), rerun.stdout)
        XCTAssertEqual(try shop("orders").count, 40)
        XCTAssertEqual(try winstoreStats().calls["PostOrderWithStatusCode"], 41)

        // Once the article exists in Winstore the parked order replays, once.
        try article([Fields.sku: "EX-ONLY", Fields.name: "Alleen in Exact", Fields.price: 12, Fields.vatRate: 21])
        let replay = try deployment.fixture.koppel(["replay", "orders", "--all-failed"])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
        placed = try shop("orders")
        XCTAssertEqual(placed.count, 41)
        XCTAssertEqual(placed.filter { $0["ordernr"] as? String == parked }.count, 1)

        // An order paid later is not lost: the payment alone brings it. Its answer is
        // lost: Winstore cannot be asked, so the retry parks it for a person instead of
        // sending it twice.
        let late = orders[40]
        let receivable = try XCTUnwrap(try deployment.exactRecords("cashflow/Receivables").first { $0["InvoiceNumber"] as? Int == late.invoice })
        try deployment.exactUpdate("cashflow/Receivables", id: receivable["ID"] as! String, ["IsFullyPaid": true])
        _ = try deployment.json("POST", "\(winstoreURL)/_sandbox/faults", body: ["queue": [["match": "POST /iposws/api/osd/PostOrderWithStatusCode", "fault": "drop-after-commit", "count": 1]]])
        XCTAssertEqual(try deployment.sync("orders").status, 0)
        let retried = try deployment.sync("orders", ["--retry-now"])
        XCTAssertTrue(retried.stdout.contains("failed 1"), retried.stdout)
        XCTAssertTrue(try deployment.fixture.koppel(["failed", "orders"]).stdout.contains("its answer was lost, and Winstore cannot be asked whether it arrived: look for order \(late.number) in Winstore"))
        XCTAssertTrue(try deployment.sync("orders", ["--retry-now"]).stdout.contains("written 0,"))
        placed = try shop("orders")
        XCTAssertEqual(placed.count, 42)
        XCTAssertEqual(placed.filter { $0["ordernr"] as? String == String(late.number) }.count, 1, "sent once")

        // With a customer in the flow's options, orders are placed on that customer.
        try deploy(flows: """
            orders:
              from: exact.sales_orders
              to: winstore.orders
              filter: { status: [paid] }
              mapping: { options: { customer_id: 4711 } }
            """)
        try place(3, skus: ["WS-0002"], paid: true, invoiced: true)
        let onCustomer = try deployment.sync("orders")
        XCTAssertTrue(onCustomer.stdout.contains("written 1,"), onCustomer.stdout)
        let placedOnCustomer = try XCTUnwrap(try shop("orders").first { $0["ordernr"] as? String == String(orders.last!.number) })
        XCTAssertEqual(placedOnCustomer["customerid"] as? String, "4711")

        // A call cut before Winstore took the order is parked the same way (Koppel cannot
        // tell the two apart); the person finds no order in Winstore and replays it: once.
        try place(4, skus: ["WS-0003"], paid: true, invoiced: true)
        let cut = String(orders.last!.number)
        _ = try deployment.json("POST", "\(winstoreURL)/_sandbox/faults", body: ["queue": [["match": "POST /iposws/api/osd/PostOrderWithStatusCode", "fault": "reset", "count": 1]]])
        XCTAssertEqual(try deployment.sync("orders").status, 0)
        XCTAssertTrue(try deployment.sync("orders", ["--retry-now"]).stdout.contains("failed 1"))
        XCTAssertEqual(try shop("orders").filter { $0["ordernr"] as? String == cut }.count, 0)
        let cutOrder = try XCTUnwrap(try deployment.exactRecords("salesorder/SalesOrders").first { String($0["OrderNumber"] as? Int ?? 0) == cut })
        let advice = try deployment.fixture.koppel(["failed", "orders"]).stdout
        XCTAssertTrue(advice.contains("send it with `koppel replay FLOW --record \(cutOrder["OrderID"]!)`"), advice)
        let replayed = try deployment.fixture.koppel(["replay", "orders", "--record", "\(cutOrder["OrderID"]!)"])
        XCTAssertEqual(replayed.status, 0, replayed.stdout + replayed.stderr)
        XCTAssertEqual(try shop("orders").filter { $0["ordernr"] as? String == cut }.count, 1)
        XCTAssertEqual(try winstoreStats().ampersands, 0, "parameters joined with ? (R1.5)")
    }

    /// The field names are the deployment's to change; a name that is not one is refused.
    func testFieldNamesComeFromTheDeploymentAndAMisspeltOneIsRefused() throws {
        winstoreSettings = ", fields: { skuu: ArtikelNr }"
        try deployment.fixture.write(load: ["winstore", "exact-online"], connections: connections, flows: "")
        let refused = try deployment.fixture.koppel(["check", "winstore"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("koppel.yaml:9: connections.winstore.settings.fields.skuu: unknown setting"), refused.stdout + refused.stderr)

        // The article number read from another field: every record lacks it, and each is
        // parked naming the field, none guessed.
        winstoreSettings = ", fields: { sku: ArticleNumber }"
        try deploy(flows: "products: { from: winstore.products, to: exact.items }")
        let run = try deployment.sync("products")
        XCTAssertTrue(run.stdout.contains("written 0,") && run.stdout.contains("failed 100"), run.stdout + run.stderr)
        XCTAssertTrue(try deployment.fixture.koppel(["failed", "products"]).stdout.contains("$.ArticleNumber (article number) is missing"))
    }

    /// Winstore's prices include VAT; Exact's item price excludes it, to the cent. The
    /// expected prices are worked out by hand (price / (1 + rate), rounded half up).
    func testPricesIncludingVATReachExactExcludingIt() throws {
        try deploy(flows: "products: { from: winstore.products, to: exact.items }")
        let cases: [(sku: String, incl: String, rate: Int, excl: String)] = [
            ("VAT-1", "12.10", 21, "10.00"), ("VAT-2", "10.90", 9, "10.00"), ("VAT-3", "9.99", 21, "8.26"),
            ("VAT-4", "19.95", 9, "18.30"), ("VAT-5", "0.05", 21, "0.04"), ("VAT-6", "7.50", 0, "7.50"),
        ]
        for (sku, incl, rate, _) in cases {
            try article([Fields.sku: sku, Fields.name: "Artikel \(sku)", Fields.price: Decimal(string: incl)!, Fields.vatRate: rate])
        }
        let run = try deployment.sync("products")
        XCTAssertTrue(run.stdout.contains("written 106,"), run.stdout + run.stderr)
        let items = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("logistics/Items").map { ($0["Code"] as! String, $0) })
        for (sku, _, _, excl) in cases {
            XCTAssertEqual(decimal(items[sku]?["StandardSalesPrice"]), Decimal(string: excl)!, sku)
        }
    }

    /// Stock per branch, read by change date, reaches Optiply's products; a sale in the
    /// branch moves only that article's stock level.
    func testStockOfOneBranchReachesOptiply() throws {
        let optiplyURL = deployment.endpoint("optiply").baseURL
        try deployment.fixture.write(load: ["winstore", "optiply"], connections: """
            winstore:
              plugin: winstore
              settings: { base_url: "\(winstoreURL)/iposws/api/osd", username: \(options.winstore.username), overlap_seconds: 0 }
            optiply:
              plugin: optiply
              settings: { base_url: "\(optiplyURL)", token_url: "\(optiplyURL)\(OptiplySandbox.tokenPath)", client_id: \(options.optiply.clientID), username: "\(options.optiply.username)", account_id: \(options.optiply.accountID), coupling_id: \(options.optiply.couplingID) }
            """, flows: """
            products: { from: winstore.products, to: optiply.products }
            stock: { from: winstore.stock_levels, to: optiply.stock_levels, read_options: { warehouse: "2" } }
            """)
        for (connection, name, value) in [("winstore", "password", options.winstore.password), ("optiply", "client_secret", options.optiply.clientSecret),
                                          ("optiply", "password", options.optiply.password)] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", connection, name], stdin: value + "\n").status, 0)
        }
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 100,"))
        let first = try deployment.sync("stock")
        XCTAssertTrue(first.stdout.contains("written 0, updated 100,"), first.stdout + first.stderr)
        func levels() throws -> [String: Decimal] {
            let rows = try deployment.json("GET", "\(optiplyURL)/_sandbox/optiply/products") as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: rows.map { (($0["attributes"] as! [String: Any])["skuCode"] as! String, decimal(($0["attributes"] as! [String: Any])["stockLevel"])) })
        }
        // The sandbox's stock in branch 2 of article n is (n' * 7 + 2 * 13) % 40, n' = n - 1.
        for (sku, level) in try levels() {
            let index = Int(sku.dropFirst(3))! - 1
            XCTAssertEqual(level, Decimal((index * 7 + 26) % 40), sku)
        }
        _ = try deployment.json("POST", "\(winstoreURL)/_sandbox/winstore/stock", body: [Fields.sku: "WS-0007", Fields.warehouse: 2, Fields.stock: 3])
        let second = try deployment.sync("stock")
        // The change is read (with the row of the last change before, at the cursor's second).
        XCTAssertTrue(second.stdout.contains("written 0, updated 1,"), second.stdout)
        XCTAssertEqual(try levels()["WS-0007"], 3)
    }

    func decimal(_ value: Any?) -> Decimal {
        switch value {
        case let number as NSNumber: return Decimal(string: number.stringValue) ?? -1
        case let text as String: return Decimal(string: text) ?? -1
        default: return -1
        }
    }
}
