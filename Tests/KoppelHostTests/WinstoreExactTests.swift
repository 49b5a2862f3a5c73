import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Winstore <-> Exact Online end to end: the `koppel` binary with the real plugins,
/// against the sandbox's Winstore shop and Exact division over HTTP. Products go from
/// Winstore to Exact items (create everything, update only what the flow lists); paid
/// Exact sales orders go to Winstore orders with their customers.
final class WinstoreExactTests: XCTestCase {
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

    /// Extra Winstore settings (`prices_include_tax: true`).
    var winstoreSettings = ""

    var connections: String {
        """
        winstore:
          plugin: winstore
          settings: { base_url: "\(winstoreURL)"\(winstoreSettings) }
        exact:
          plugin: exact-online
          settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID), warehouse: "1" }
        """
    }

    func deploy(flows: String) throws {
        try deployment.fixture.write(load: ["winstore", "exact-online"], connections: connections, flows: flows)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "winstore", "api_key"], stdin: options.winstore.apiKey + "\n").status, 0)
        try deployment.signInToExact("exact")
    }

    /// A call to the shop's API with its key, as the merchant's other tools would make it.
    @discardableResult
    func winstore(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> Any? {
        try deployment.json(method, "\(winstoreURL)/api/v1/\(path)", body: body, headers: [("X-Api-Key", options.winstore.apiKey)])
    }

    /// What the shop holds, through the sandbox's inspection door.
    func shop(_ collection: String) throws -> [[String: Any]] {
        try deployment.json("GET", "\(winstoreURL)/_sandbox/winstore/\(collection)") as? [[String: Any]] ?? []
    }

    func winstoreCalls() throws -> Int {
        let stats = try deployment.json("GET", "\(winstoreURL)/_sandbox/winstore-stats") as? [String: Any]
        return (stats?["calls"] as? [String: Any] ?? [:]).values.reduce(0) { $0 + (($1 as? NSNumber)?.intValue ?? 0) }
    }

    func exactCalls(_ key: String) throws -> Int {
        let stats = try deployment.json("GET", "\(deployment.exactURL)/_sandbox/exact/stats") as? [String: Any]
        return ((stats?["calls"] as? [String: Any])?[key] as? NSNumber)?.intValue ?? 0
    }

    func testProductsReachExactItemsAndAnUpdateChangesOnlyTheListedFields() throws {
        try deploy(flows: """
            products:
              from: winstore.products
              to: exact.items
              mapping:
                update: [price]
                options: { item_attributes: { origin: FreeTextField_01 } }
            """)
        for number in 1...2 {
            try winstore("POST", "products", ["sku": "WS-VAR-\(number)", "type": "variable", "name": "Shirt \(number)", "price": "20.00",
                                               "vat_rate": "21", "variants": [["sku": "WS-VAR-\(number)-S"], ["sku": "WS-VAR-\(number)-M"]]])
        }
        let products = try shop("products")
        XCTAssertEqual(products.count, 102)

        let callsBefore = try deployment.exactCalls()
        let first = try deployment.sync("products")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        // Under Exact's 60 calls a minute: per new item, the lookup by code, the item, its
        // warehouse link and its price (R-BIZ-3), and a stock count for an item with
        // opening stock (R-BIZ-4); the warehouse itself is looked up once.
        let stocked = products.filter { $0["type"] as? String == "simple" && decimal($0["stock"]) != 0 }.count
        XCTAssertEqual(try deployment.exactCalls() - callsBefore, 4 * 100 + stocked + 1)
        XCTAssertTrue(first.stdout.contains("written 100,") && first.stdout.contains("skipped 2,") && first.stdout.contains("failed 0"), first.stdout)
        let log = try deployment.fixture.koppel(["log", "products", "--record", String(products.first { $0["sku"] as? String == "WS-VAR-1" }!["id"] as! Int)])
        XCTAssertTrue(log.stdout.contains("WS-VAR-1 is a variable product; Exact items are written for simple products only"), log.stdout)

        var items = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("logistics/Items").map { ($0["Code"] as! String, $0) })
        XCTAssertEqual(items.count, 100)
        XCTAssertNil(items["WS-VAR-1"])
        let links = try deployment.exactRecords("inventory/ItemWarehouses")
        for product in products where product["type"] as? String == "simple" {
            let sku = product["sku"] as! String
            let item = try XCTUnwrap(items[sku], sku)
            XCTAssertEqual(item["Description"] as? String, product["name"] as? String)
            XCTAssertEqual(item["ExtraDescription"] as? String, product["description"] as? String)
            XCTAssertEqual(item["Notes"] as? String, product["short_description"] as? String)
            XCTAssertEqual(item["Barcode"] as? String, product["ean"] as? String)
            XCTAssertEqual(decimal(item["StandardSalesPrice"]), decimal(product["price"]), sku)
            XCTAssertEqual(item["SalesVatCode"] as? String, product["vat_rate"] as? String == "9" ? "2" : "1", sku)
            XCTAssertEqual(item["FreeTextField_01"] as? String, ((product["attributes"] as? [[String: Any]])?.first?["value"] as? String), sku)
            let link = try XCTUnwrap(links.first { $0["ItemCode"] as? String == sku }, sku)
            XCTAssertEqual(link["WarehouseCode"] as? String, "1")
            XCTAssertEqual(decimal(link["CurrentStock"]), decimal(product["stock"]), sku)
        }

        // The merchant enriches five descriptions in Exact, and changes five prices (and
        // that product's description) in Winstore.
        let simple = products.filter { $0["type"] as? String == "simple" }
        for product in simple[0..<5] {
            try deployment.exactUpdate("logistics/Items", id: items[product["sku"] as! String]!["ID"] as! String, ["ExtraDescription": "Verrijkt in Exact"])
        }
        var newPrices: [String: Decimal] = [:]
        for product in simple[5..<10] {
            let price = decimal(product["price"]) + Decimal(string: "1.25")!
            newPrices[product["sku"] as! String] = price
            try winstore("PUT", "products/\(product["id"] as! Int)", ["price": "\(price)", "description": "<p>Nieuwe tekst in de winkel</p>"])
        }
        let putsBefore = try exactCalls("PUT logistics/Items"), postsBefore = try exactCalls("POST logistics/Items")
        let pricePutsBefore = try exactCalls("PUT logistics/SalesItemPrices")
        let second = try deployment.sync("products")
        XCTAssertEqual(second.status, 0, second.stdout + second.stderr)
        XCTAssertTrue(second.stdout.contains("read 5,") && second.stdout.contains("written 0, updated 5,"), second.stdout)
        XCTAssertEqual(try exactCalls("PUT logistics/SalesItemPrices") - pricePutsBefore, 5, "a price is changed on its price row")
        XCTAssertEqual(try exactCalls("PUT logistics/Items") - putsBefore, 0, "update: [price] leaves the item itself")
        XCTAssertEqual(try exactCalls("POST logistics/Items") - postsBefore, 0)

        items = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("logistics/Items").map { ($0["Code"] as! String, $0) })
        for product in simple[0..<5] {
            XCTAssertEqual(items[product["sku"] as! String]?["ExtraDescription"] as? String, "Verrijkt in Exact")
        }
        for product in simple[5..<10] {
            let item = items[product["sku"] as! String]
            XCTAssertEqual(decimal(item?["StandardSalesPrice"]), newPrices[product["sku"] as! String])
            XCTAssertEqual(item?["ExtraDescription"] as? String, product["description"] as? String, "update: [price] leaves the description")
        }
        let third = try deployment.sync("products")
        XCTAssertTrue(third.stdout.contains("written 0,") && !third.stdout.contains("updated"), third.stdout)
    }

    func testPaidExactSalesOrdersBecomeWinstoreOrdersOnceAndAnUnknownSKUIsParkedUntilItExists() throws {
        try deploy(flows: """
            orders:
              from: exact.sales_orders
              to: winstore.orders
              filter: { status: [paid] }
              mapping:
                value_maps:
                  payment_method: { from: payment_method, to: payment_method, values: { ID: ideal, "30": invoice }, default: invoice }
                  payment_term: { from: payment_method, to: payment_term, values: { "30": 30 }, default: 0 }
            """)
        // Exact holds ten Winstore products as items, one item Winstore does not sell,
        // five companies (each with a contact person) and five private buyers.
        var items: [String: String] = [:]
        for sku in (1...10).map({ String(format: "WS-%04d", $0) }) + ["EX-ONLY"] {
            items[sku] = try XCTUnwrap(deployment.exactCreate("logistics/Items", ["Code": sku, "Description": "Artikel \(sku)"])["ID"] as? String)
        }
        var accounts: [(id: String, contact: String?, email: String)] = []
        for index in 0..<10 {
            let company = index < 5
            let email = "koper\(index)@example.nl"
            var fields: [String: Any] = ["Name": company ? "Bakkerij \(index) B.V." : "Anna de Vries\(index)", "Email": email,
                                         "AddressLine1": "Kerkstraat \(10 + index)a", "Postcode": "1234 AB", "City": "Utrecht", "Country": "NL"]
            if company { fields["VATNumber"] = "NL00000000\(index)B01" }
            let id = try XCTUnwrap(deployment.exactCreate("crm/Accounts", fields)["ID"] as? String)
            let contact = company ? try deployment.exactCreate("crm/Contacts", ["Account": id, "FirstName": "Piet", "LastName": "Jansen\(index)"])["ID"] as? String : nil
            accounts.append((id, contact, email))
        }
        // 50 orders: 40 invoiced and paid, 5 invoiced but unpaid, 5 not invoiced; and one
        // paid order for the item Winstore lacks.
        var orders: [(number: Int, paid: Bool, invoice: Int?)] = []
        func place(_ index: Int, skus: [String], paid: Bool, invoiced: Bool) throws {
            let account = accounts[index % accounts.count]
            var fields: [String: Any] = [
                "OrderedBy": account.id, "PaymentCondition": index % 2 == 0 ? "ID" : "30", "Description": "Order \(index)",
                "SalesOrderLines": skus.enumerated().map { offset, sku in
                    ["Item": items[sku]!, "Quantity": offset + 1, "UnitPrice": 10 + index, "VATCode": "1"] as [String: Any]
                },
            ]
            if let contact = account.contact { fields["OrderedByContactPerson"] = contact }
            let order = try deployment.exactCreate("salesorder/SalesOrders", fields)
            let number = try XCTUnwrap(order["OrderNumber"] as? Int)
            var invoiceNumber: Int?
            if invoiced {
                // Invoiced from the order in Exact: its lines name the order (the API
                // cannot set that link; the inspection door stands in for Exact's screen).
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

        let shopCallsBefore = try winstoreCalls()
        let first = try deployment.sync("orders")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        // Per placed order: is it there, are its products there, the buyer by email, the
        // order; plus one creation per new buyer (10) and the parked order's two checks.
        XCTAssertEqual(try winstoreCalls() - shopCallsBefore, 4 * 40 + 10 + 2)
        XCTAssertTrue(first.stdout.contains("written 40,") && first.stdout.contains("skipped 10,") && first.stdout.contains("failed 1"), first.stdout)
        var placed = try shop("orders")
        XCTAssertEqual(placed.count, 40)
        XCTAssertEqual(Set(placed.compactMap { $0["reference"] as? String }), paidNumbers.subtracting([parked]))

        // Customers: one per buyer, companies with their contact, addresses split.
        let customers = try shop("customers")
        XCTAssertEqual(customers.count, 10)
        let company = try XCTUnwrap(customers.first { $0["email"] as? String == "koper2@example.nl" })
        XCTAssertEqual(company["type"] as? String, "company")
        XCTAssertEqual(company["company_name"] as? String, "Bakkerij 2 B.V.")
        XCTAssertEqual((company["contact"] as? [String: Any])?["last_name"] as? String, "Jansen2")
        let person = try XCTUnwrap(customers.first { $0["email"] as? String == "koper7@example.nl" })
        XCTAssertEqual(person["type"] as? String, "person")
        XCTAssertEqual(person["first_name"] as? String, "Anna")
        XCTAssertEqual(person["last_name"] as? String, "de Vries7")
        let address = try XCTUnwrap(person["billing_address"] as? [String: Any])
        XCTAssertEqual(address["street"] as? String, "Kerkstraat")
        XCTAssertEqual(address["house_number"] as? String, "17")
        XCTAssertEqual(address["house_number_addition"] as? String, "a")
        XCTAssertEqual(address["postcode"] as? String, "1234 AB")

        // Lines, prices and the mapped payment method and term.
        let exactOrders = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("salesorder/SalesOrders", expand: "SalesOrderLines")
            .map { (String($0["OrderNumber"] as! Int), $0) })
        for order in placed {
            let source = try XCTUnwrap(exactOrders[order["reference"] as! String])
            let sourceLines = (source["SalesOrderLines"] as? [String: Any])?["results"] as? [[String: Any]] ?? []
            let lines = try XCTUnwrap(order["lines"] as? [[String: Any]])
            XCTAssertEqual(lines.map { $0["sku"] as? String }, sourceLines.map { $0["ItemCode"] as? String })
            XCTAssertEqual(lines.map { decimal($0["quantity"]) }, sourceLines.map { decimal($0["Quantity"]) })
            XCTAssertEqual(lines.map { decimal($0["price"]) }, sourceLines.map { decimal($0["UnitPrice"]) })
            let condition = source["PaymentCondition"] as? String
            XCTAssertEqual(order["payment_method"] as? String, condition == "ID" ? "ideal" : "invoice")
            XCTAssertEqual(order["payment_term"] as? String, condition == "30" ? "30" : "0")
            let customer = customers.first { ($0["id"] as? Int) == (order["customer_id"] as? Int) }
            let buyer = accounts.first { $0.id == source["OrderedBy"] as? String }
            XCTAssertEqual(customer?["email"] as? String, buyer?.email)
        }

        // The order with the unknown SKU is parked naming it.
        let failed = try deployment.fixture.koppel(["failed", "orders"])
        XCTAssertTrue(failed.stdout.contains("Winstore has no product with SKU EX-ONLY"), failed.stdout)

        // A rerun places nothing; Winstore is asked nothing new.
        let rerun = try deployment.sync("orders")
        XCTAssertTrue(rerun.stdout.contains("written 0,"), rerun.stdout)
        XCTAssertEqual(try shop("orders").count, 40)

        // Once the product exists in Winstore the parked order replays, once.
        try winstore("POST", "products", ["sku": "EX-ONLY", "name": "Alleen in Exact", "price": "12.00", "vat_rate": "21"])
        let replay = try deployment.fixture.koppel(["replay", "orders", "--all-failed"])
        XCTAssertEqual(replay.status, 0, replay.stdout + replay.stderr)
        placed = try shop("orders")
        XCTAssertEqual(placed.count, 41)
        XCTAssertEqual(placed.filter { $0["reference"] as? String == parked }.count, 1)

        // An order paid later is not lost: the payment alone brings it.
        let late = orders[40]
        let receivable = try XCTUnwrap(try deployment.exactRecords("cashflow/Receivables").first { $0["InvoiceNumber"] as? Int == late.invoice })
        try deployment.exactUpdate("cashflow/Receivables", id: receivable["ID"] as! String, ["IsFullyPaid": true])
        let afterPayment = try deployment.sync("orders")
        XCTAssertTrue(afterPayment.stdout.contains("written 1,"), afterPayment.stdout)
        placed = try shop("orders")
        XCTAssertEqual(placed.count, 42)
        XCTAssertEqual(placed.filter { $0["reference"] as? String == String(late.number) }.count, 1)
        XCTAssertEqual(try shop("customers").count, 10)

        // With a default customer in the flow's options, a new buyer's order is placed
        // on that customer and no customer is made.
        let defaultCustomer = try XCTUnwrap(try shop("customers").first { $0["email"] as? String == "koper0@example.nl" })
        try deploy(flows: """
            orders:
              from: exact.sales_orders
              to: winstore.orders
              filter: { status: [paid] }
              mapping: { options: { default_customer: \(defaultCustomer["number"] as! String) } }
            """)
        let newBuyer = try XCTUnwrap(deployment.exactCreate("crm/Accounts", ["Name": "Nieuwe Klant", "Email": "nieuw@example.nl", "Country": "NL"])["ID"] as? String)
        accounts.append((newBuyer, nil, "nieuw@example.nl"))
        try place(accounts.count - 1, skus: ["WS-0002"], paid: true, invoiced: true)
        let onDefault = try deployment.sync("orders")
        XCTAssertTrue(onDefault.stdout.contains("written 1,"), onDefault.stdout)
        let placedOnDefault = try XCTUnwrap(try shop("orders").first { $0["reference"] as? String == String(orders.last!.number) })
        XCTAssertEqual(placedOnDefault["customer_id"] as? Int, defaultCustomer["id"] as? Int)
        XCTAssertEqual(try shop("customers").count, 10)
    }

    func testPricesEnteredIncludingVATReachExactExcludingIt() throws {
        winstoreSettings = ", prices_include_tax: true"
        try deploy(flows: "products: { from: winstore.products, to: exact.items }")
        let run = try deployment.sync("products")
        XCTAssertTrue(run.stdout.contains("written 100,"), run.stdout + run.stderr)
        let items = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("logistics/Items").map { ($0["Code"] as! String, $0) })
        for product in try shop("products") {
            let incl = decimal(product["price"]), rate = decimal(product["vat_rate"])
            var excl = incl * 100 / (100 + rate), rounded = Decimal()
            NSDecimalRound(&rounded, &excl, 2, .plain)
            XCTAssertEqual(decimal(items[product["sku"] as! String]?["StandardSalesPrice"]), rounded, product["sku"] as! String)
        }
    }

    func decimal(_ value: Any?) -> Decimal {
        switch value {
        case let number as NSNumber: return Decimal(string: number.stringValue) ?? -1
        case let text as String: return Decimal(string: text) ?? -1
        default: return -1
        }
    }
}
