import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// Exact Online -> Optiply end to end: the `koppel` binary with the real plugins against
/// the sandbox's Exact division and Optiply API over HTTP. Items become products, stock
/// of one warehouse or of all reaches their stock levels, and sales orders or sales
/// invoices become sell orders, each sale counted once.
final class ExactOptiplyTests: XCTestCase {
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

    var optiplyURL: String { deployment.endpoint("optiply").baseURL }

    func deploy(flows: String) throws {
        let connections = """
            exact:
              plugin: exact-online
              settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID) }
            optiply:
              plugin: optiply
              settings:
                base_url: "\(optiplyURL)"
                token_url: "\(optiplyURL)\(OptiplySandbox.tokenPath)"
                client_id: \(options.optiply.clientID)
                username: "\(options.optiply.username)"
                account_id: \(options.optiply.accountID)
                coupling_id: \(options.optiply.couplingID)
            """
        try deployment.fixture.write(load: ["exact-online", "optiply"], connections: connections, flows: flows)
    }

    func signIn() throws {
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "optiply", "client_secret"], stdin: options.optiply.clientSecret + "\n").status, 0)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "optiply", "password"], stdin: options.optiply.password + "\n").status, 0)
        try deployment.signInToExact("exact")
    }

    /// What Optiply holds, through the sandbox's inspection door: attributes by id.
    func optiply(_ collection: String) throws -> [String: [String: Any]] {
        let rows = try deployment.json("GET", "\(optiplyURL)/_sandbox/optiply/\(collection)") as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as! String, $0["attributes"] as! [String: Any]) })
    }

    func optiplyCalls() throws -> [String: Int] {
        let stats = try deployment.json("GET", "\(optiplyURL)/_sandbox/optiply-stats") as? [String: Any]
        return (stats?["calls"] as? [String: Any] ?? [:]).mapValues { ($0 as? NSNumber)?.intValue ?? 0 }
    }

    func totalCalls() throws -> Int { try optiplyCalls().values.reduce(0, +) }

    /// `count` items in Exact, each stocked in warehouses 1, 2 and 3; the last two are
    /// assembled (compositions). Returns the item GUIDs by code and the stock rows.
    func makeItems(_ count: Int) throws -> (items: [String: String], stock: [String: [String: (id: String, quantity: Int)]]) {
        let warehouses = try deployment.exactRecords("inventory/Warehouses")
        var items: [String: String] = [:]
        var stock: [String: [String: (id: String, quantity: Int)]] = [:]
        for index in 1...count {
            let code = String(format: "ART-%03d", index)
            let item = try deployment.exactCreate("logistics/Items", [
                "Code": code, "Description": "Artikel \(index)", "Barcode": String(format: "87100000%05d", index),
                "CostPriceStandard": "\(4 + index % 20).10", "IsStockItem": true, "IsMakeItem": index > count - 2,
            ])
            items[code] = item["ID"] as? String
            try deployment.exactCreate("logistics/SalesItemPrices", ["Item": items[code]!, "Price": "\(10 + index % 40).95"])
            for warehouse in warehouses {
                let warehouseCode = warehouse["Code"] as! String
                let quantity = (index * 7 + Int(warehouseCode)! * 13) % 60
                let row = try deployment.exactCreate("inventory/ItemWarehouses", [
                    "Item": items[code]!, "Warehouse": warehouse["ID"]!, "CurrentStock": quantity,
                ])
                stock[code, default: [:]][warehouseCode] = (row["ID"] as! String, quantity)
            }
        }
        return (items, stock)
    }

    func testStockOfOneWarehouseOrOfAllReachesOptiplyAndOnlyChangesCauseCalls() throws {
        try deploy(flows: """
            products: { from: exact.items, to: optiply.products }
            stock-2: { from: exact.stock, to: optiply.stock_levels, read_options: { warehouse: 2 } }
            stock-all: { from: exact.stock, to: optiply.stock_levels, read_options: { stock: global } }
            """)
        try signIn()
        var (_, stock) = try makeItems(300)
        XCTAssertEqual(try deployment.exactRecords("inventory/ItemWarehouses").count, 900)

        let products = try deployment.sync("products")
        XCTAssertEqual(products.status, 0, products.stdout + products.stderr)
        XCTAssertTrue(products.stdout.contains("written 300,") && products.stdout.contains("failed 0"), products.stdout)
        var planned = Dictionary(uniqueKeysWithValues: try optiply("products").map { ($0.value["skuCode"] as! String, $0.value) })
        XCTAssertEqual(planned.count, 300)
        let item = try XCTUnwrap(planned["ART-007"])
        XCTAssertEqual(item["name"] as? String, "Artikel 7")
        XCTAssertEqual(item["eanCode"] as? String, "8710000000007")
        XCTAssertEqual(decimal(item["price"]), Decimal(string: "17.95"))
        XCTAssertEqual(planned.values.filter { $0["assembled"] as? Bool == true }.map { $0["skuCode"] as! String }.sorted(), ["ART-299", "ART-300"])

        let two = try deployment.sync("stock-2")
        XCTAssertEqual(two.status, 0, two.stdout + two.stderr)
        XCTAssertTrue(two.stdout.contains("read 300,") && two.stdout.contains("updated 300,"), two.stdout)
        planned = Dictionary(uniqueKeysWithValues: try optiply("products").map { ($0.value["skuCode"] as! String, $0.value) })
        for (code, rows) in stock {
            XCTAssertEqual(decimal(planned[code]?["stockLevel"]), Decimal(rows["2"]!.quantity), code)
        }

        let all = try deployment.sync("stock-all")
        XCTAssertEqual(all.status, 0, all.stdout + all.stderr)
        XCTAssertTrue(all.stdout.contains("read 300,") && all.stdout.contains("updated 300,"), all.stdout)
        planned = Dictionary(uniqueKeysWithValues: try optiply("products").map { ($0.value["skuCode"] as! String, $0.value) })
        for (code, rows) in stock {
            XCTAssertEqual(decimal(planned[code]?["stockLevel"]), Decimal(rows.values.reduce(0) { $0 + $1.quantity }), code)
        }

        // Nothing changed: nothing reaches Optiply.
        var before = try totalCalls()
        for flow in ["products", "stock-all"] {
            let idle = try deployment.sync(flow)
            XCTAssertEqual(idle.status, 0, idle.stdout + idle.stderr)
            XCTAssertTrue(idle.stdout.contains("written 0,") && !idle.stdout.contains("updated"), idle.stdout)
        }
        XCTAssertEqual(try totalCalls(), before, "unchanged items cause no calls")

        // Three items' stock moves in warehouse 2: three stock levels change, three calls.
        for code in ["ART-010", "ART-150", "ART-300"] {
            let row = stock[code]!["2"]!
            try deployment.exactUpdate("inventory/ItemWarehouses", id: row.id, ["CurrentStock": row.quantity + 100])
            stock[code]!["2"] = (row.id, row.quantity + 100)
        }
        before = try totalCalls()
        let patches = try optiplyCalls()["PATCH /v1/products/{id}"] ?? 0
        let moved = try deployment.sync("stock-all")
        XCTAssertTrue(moved.stdout.contains("updated 3,"), moved.stdout)
        XCTAssertEqual(try totalCalls() - before, 3)
        XCTAssertEqual((try optiplyCalls()["PATCH /v1/products/{id}"] ?? 0) - patches, 3)
        planned = Dictionary(uniqueKeysWithValues: try optiply("products").map { ($0.value["skuCode"] as! String, $0.value) })
        for code in ["ART-010", "ART-150", "ART-300"] {
            XCTAssertEqual(decimal(planned[code]?["stockLevel"]), Decimal(stock[code]!.values.reduce(0) { $0 + $1.quantity }), code)
        }
        let again = try deployment.sync("stock-2")
        XCTAssertTrue(again.stdout.contains("updated 3,"), again.stdout)
        planned = Dictionary(uniqueKeysWithValues: try optiply("products").map { ($0.value["skuCode"] as! String, $0.value) })
        XCTAssertEqual(decimal(planned["ART-150"]?["stockLevel"]), Decimal(stock["ART-150"]!["2"]!.quantity))
    }

    /// An item deleted in Exact (read from `sync/Deleted`, R-SYNC-2) retires its Optiply
    /// product (`status: disabled`, its history kept), once; an item made and deleted
    /// before the flow delivered it changes nothing.
    func testAnItemDeletedInExactRetiresItsProductOnce() throws {
        try deploy(flows: "products: { from: exact.items, to: optiply.products }")
        try signIn()
        let (items, _) = try makeItems(4)
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 4,"))
        let brief = try XCTUnwrap(try deployment.exactCreate("logistics/Items", ["Code": "KORT", "Description": "Kort"])["ID"] as? String)
        for gone in [items["ART-002"]!, brief] { _ = try deployment.json("DELETE", "\(deployment.exactInspect)/logistics/Items(guid'\(gone)')") }

        let retired = try deployment.sync("products")
        XCTAssertEqual(retired.status, 0, retired.stdout + retired.stderr)
        XCTAssertTrue(retired.stdout.contains("deleted 1,") && retired.stdout.contains("failed 0"), retired.stdout)
        let planned = Dictionary(uniqueKeysWithValues: try optiply("products").map { ($0.value["skuCode"] as! String, $0.value) })
        XCTAssertEqual(planned.count, 4, "retired, not removed")
        XCTAssertEqual(planned["ART-002"]?["status"] as? String, "disabled")
        XCTAssertEqual(planned.values.filter { $0["status"] as? String == "disabled" }.count, 1)
        XCTAssertNil(planned["KORT"])

        let patches = try optiplyCalls()["PATCH /v1/products/{id}"] ?? 0
        let again = try deployment.sync("products")
        XCTAssertFalse(again.stdout.contains("deleted"), again.stdout)
        XCTAssertEqual(try optiplyCalls()["PATCH /v1/products/{id}"] ?? 0, patches, "a deletion is taken once")
    }

    func testSalesOrdersBecomeSellOrdersOnceAndSwitchingToInvoicesDoesNotCountThemAgain() throws {
        let flow = { (stream: String) in "sales: { from: exact.\(stream), to: optiply.sell_orders }\nproducts: { from: exact.items, to: optiply.products }" }
        try deploy(flows: flow("sales_orders"))
        try signIn()
        let (items, _) = try makeItems(20)
        var accounts: [String] = []
        for index in 0..<5 {
            accounts.append(try XCTUnwrap(deployment.exactCreate("crm/Accounts", ["Name": "Klant \(index)", "Email": "klant\(index)@example.nl"])["ID"] as? String))
        }
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 20,"))

        // 200 sales orders; 150 of them invoiced, and 20 invoices made without an order.
        var orderedQuantity = Decimal(0)
        var orders: [(id: String, item: String, quantity: Int)] = []
        for index in 0..<200 {
            let code = String(format: "ART-%03d", index % 20 + 1), quantity = index % 4 + 1
            let order = try deployment.exactCreate("salesorder/SalesOrders", [
                "OrderedBy": accounts[index % 5],
                "SalesOrderLines": [["Item": items[code]!, "Quantity": quantity, "UnitPrice": 10, "VATCode": "1"]],
            ])
            orders.append((order["OrderID"] as! String, items[code]!, quantity))
            orderedQuantity += Decimal(quantity)
        }
        let callsBefore = try totalCalls()
        let first = try deployment.sync("sales")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        // Optiply finds no sell order by its remote id: a new state file's first run lists
        // the sell orders once to fill the connection's map (none yet); as a first run it
        // also asks for each whether it exists already (the sell orders placed at that
        // second for that total), then creates it. The products' ids are remembered.
        XCTAssertEqual(try totalCalls() - callsBefore, 1 + 200 + 200, "one listing to fill the empty map, a lookup and a creation per sell order")
        XCTAssertTrue(first.stdout.contains("written 200,") && first.stdout.contains("failed 0"), first.stdout)
        XCTAssertEqual(try optiply("sellOrders").count, 200)
        XCTAssertEqual(try optiply("sellOrderLines").values.reduce(Decimal(0)) { $0 + decimal($1["quantity"]) }, orderedQuantity)
        let rerun = try deployment.sync("sales")
        XCTAssertTrue(rerun.stdout.contains("written 0,"), rerun.stdout)
        XCTAssertEqual(try optiply("sellOrders").count, 200)

        var directQuantity = Decimal(0)
        for (index, order) in orders.prefix(150).enumerated() {
            try deployment.exactCreate("salesinvoice/SalesInvoices", [
                "OrderedBy": accounts[index % 5], "Journal": "70",
                "SalesInvoiceLines": [["Item": order.item, "Quantity": order.quantity, "UnitPrice": 10, "VATCode": "1", "SalesOrder": order.id]],
            ])
        }
        for index in 0..<20 {
            try deployment.exactCreate("salesinvoice/SalesInvoices", [
                "OrderedBy": accounts[index % 5], "Journal": "70",
                "SalesInvoiceLines": [["Item": items[String(format: "ART-%03d", index + 1)]!, "Quantity": 2, "UnitPrice": 10, "VATCode": "1"]],
            ])
            directQuantity += 2
        }

        // The merchant switches the flow to sales invoices: the 150 invoices of orders
        // Optiply has are found, not counted again; the 20 direct invoices are new sales.
        try deploy(flows: flow("sales_invoices"))
        let switchBefore = try totalCalls()
        let switched = try deployment.sync("sales")
        XCTAssertEqual(switched.status, 0, switched.stdout + switched.stderr)
        XCTAssertTrue(switched.stdout.contains("read 170,") && switched.stdout.contains("written 170,"), switched.stdout)
        XCTAssertEqual(try optiply("sellOrders").count, 220)
        XCTAssertEqual(try totalCalls() - switchBefore, 20, "the map knows the orders' sell orders; a creation per direct invoice")
        XCTAssertEqual(try optiply("sellOrderLines").values.reduce(Decimal(0)) { $0 + decimal($1["quantity"]) }, orderedQuantity + directQuantity)
        let log = try deployment.fixture.koppel(["log", "sales", "--limit", "400"])
        XCTAssertEqual(log.stdout.components(separatedBy: "found ").count - 1, 150, log.stdout)
        XCTAssertTrue(try deployment.sync("sales").stdout.contains("written 0,"))
        XCTAssertEqual(try optiply("sellOrders").count, 220)

        // A second connection to the same Optiply coupling starts with an empty map (as
        // after a lost state file): it is rebuilt from the sell orders' remoteIdMap, so
        // every sale is found, none made again, and nothing is guessed.
        let config = try String(contentsOfFile: deployment.fixture.configFile, encoding: .utf8)
        let second = config.replacingOccurrences(of: "flows:\n", with: """
            flows:
              sales-again: { from: exact.sales_invoices, to: planner.sell_orders }

            """).replacingOccurrences(of: "connections:\n", with: """
            connections:
              planner:
                plugin: optiply
                settings: { base_url: "\(optiplyURL)", token_url: "\(optiplyURL)\(OptiplySandbox.tokenPath)", client_id: \(options.optiply.clientID), username: "\(options.optiply.username)", account_id: \(options.optiply.accountID), coupling_id: \(options.optiply.couplingID) }

            """)
        try second.write(toFile: deployment.fixture.configFile, atomically: true, encoding: .utf8)
        for (name, value) in [("client_secret", options.optiply.clientSecret), ("password", options.optiply.password)] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "planner", name], stdin: value + "\n").status, 0)
        }
        let rebuildBefore = try optiplyCalls()
        let again = try deployment.sync("sales-again")
        XCTAssertEqual(again.status, 0, again.stdout + again.stderr)
        XCTAssertTrue(again.stdout.contains("read 170,") && again.stdout.contains("failed 0"), again.stdout)
        XCTAssertEqual(try optiply("sellOrders").count, 220, "every sale found through the rebuilt map, none twice")
        XCTAssertEqual((try optiplyCalls()["POST /v1/sellOrders"] ?? 0) - (rebuildBefore["POST /v1/sellOrders"] ?? 0), 0)
        XCTAssertEqual((try optiplyCalls()["GET /v1/sellOrders"] ?? 0) - (rebuildBefore["GET /v1/sellOrders"] ?? 0), 3, "220 sell orders listed once, 100 a page")
    }

    /// Sell orders whose answers were lost are found again, not made twice: Optiply has
    /// no lookup by remote id, so the retry asks for the sell orders placed at that
    /// second for that total and reads their remote ids.
    func testASellOrderWhoseAnswerWasLostIsFoundNotMadeTwice() throws {
        try deploy(flows: "sales: { from: exact.sales_orders, to: optiply.sell_orders }\nproducts: { from: exact.items, to: optiply.products }")
        try signIn()
        let (items, _) = try makeItems(4)
        let account = try XCTUnwrap(deployment.exactCreate("crm/Accounts", ["Name": "Klant", "Email": "klant@example.nl"])["ID"] as? String)
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 4,"))
        for index in 0..<12 {
            try deployment.exactCreate("salesorder/SalesOrders", [
                "OrderedBy": account,
                "SalesOrderLines": [["Item": items[String(format: "ART-%03d", index % 4 + 1)]!, "Quantity": index % 3 + 1, "UnitPrice": 10, "VATCode": "1"]],
            ])
        }
        _ = try deployment.json("POST", "\(optiplyURL)/_sandbox/faults", body: ["queue": [["match": "POST /v1/sellOrders", "fault": "drop-after-commit", "count": 4]]])
        let first = try deployment.sync("sales")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertEqual(try optiply("sellOrders").count, 12, "the four lost answers were made all the same")
        let faults = try deployment.json("GET", "\(optiplyURL)/_sandbox/faults") as? [String: Any]
        XCTAssertEqual((faults?["drop-after-commit"] as? NSNumber)?.intValue, 4, "four answers were lost")
        let retried = try deployment.sync("sales", ["--retry-now"])
        XCTAssertEqual(retried.status, 0, retried.stdout + retried.stderr)
        XCTAssertTrue(retried.stdout.contains("failed 0"), retried.stdout)
        XCTAssertEqual(try optiply("sellOrders").count, 12, "each sale once")
        XCTAssertTrue(try deployment.sync("sales").stdout.contains("written 0,"))
        XCTAssertEqual(try optiply("sellOrders").count, 12)
    }

    func testSuppliersCarryTheirPurchasePricesAndOnlyAChangedSupplierIsSentAgain() throws {
        try deploy(flows: """
            products: { from: exact.items, to: optiply.products }
            suppliers: { from: exact.suppliers, to: optiply.suppliers }
            """)
        try signIn()
        let (items, _) = try makeItems(12)
        var suppliers: [String] = []
        for index in 1...3 {
            suppliers.append(try XCTUnwrap(deployment.exactCreate("crm/Accounts", [
                "Name": "Groothandel \(index)", "Email": "inkoop@groothandel\(index).nl", "IsSupplier": true,
            ])["ID"] as? String))
        }
        // Each item from one or two suppliers; the first is its main supplier.
        var links: [String: (id: String, price: Decimal)] = [:]
        for index in 1...12 {
            let code = String(format: "ART-%03d", index)
            for (offset, supplier) in [suppliers[index % 3], suppliers[(index + 1) % 3]].prefix(index % 2 == 0 ? 2 : 1).enumerated() {
                let price = Decimal(3 + index) + Decimal(offset) / 2
                let link = try deployment.exactCreate("logistics/SupplierItem", [
                    "Item": items[code]!, "Supplier": supplier, "SupplierItemCode": "S\(offset)-\(code)", "PurchasePrice": "\(price)",
                    "MinimumQuantity": 6, "PurchaseLeadTime": 3 + offset, "MainSupplier": offset == 0,
                ])
                links["\(code)|\(supplier)"] = (link["ID"] as! String, price)
            }
        }
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 12,"))
        let first = try deployment.sync("suppliers")
        XCTAssertEqual(first.status, 0, first.stdout + first.stderr)
        XCTAssertTrue(first.stdout.contains("read 3,") && first.stdout.contains("written 3,"), first.stdout)

        let planned = try optiply("suppliers")
        XCTAssertEqual(Set(planned.values.compactMap { $0["name"] as? String }), ["Groothandel 1", "Groothandel 2", "Groothandel 3"])
        XCTAssertEqual(planned.values.first { $0["name"] as? String == "Groothandel 2" }?["emails"] as? [String], ["inkoop@groothandel2.nl"])
        // The remote id is write-only; reads show it under the coupling (R5.1).
        let supplierByRemote = Dictionary(uniqueKeysWithValues: planned.map { (($0.value["remoteIdMap"] as! [String: Any])["\(options.optiply.couplingID)"] as! String, $0.key) })
        let productBySKU = Dictionary(uniqueKeysWithValues: try optiply("products").map { ($0.value["skuCode"] as! String, $0.key) })
        var supplied = try optiply("supplierProducts")
        XCTAssertEqual(supplied.count, links.count)
        for (key, link) in links {
            let parts = key.split(separator: "|").map(String.init)
            let row = try XCTUnwrap(supplied.values.first {
                "\($0["productId"]!)" == productBySKU[parts[0]] && "\($0["supplierId"]!)" == supplierByRemote[parts[1]]
            }, key)
            XCTAssertEqual(decimal(row["price"]), link.price, key)
            XCTAssertEqual(decimal(row["minimumPurchaseQuantity"]), 6, key)
            XCTAssertEqual(row["preferred"] as? Bool, (row["skuCode"] as? String)?.hasPrefix("S0-"), key)
        }

        // Nothing changed: nothing reaches Optiply.
        var before = try totalCalls()
        XCTAssertTrue(try deployment.sync("suppliers").stdout.contains("written 0,"))
        XCTAssertEqual(try totalCalls(), before)

        // One purchase price changes in Exact: that supplier alone is read and one
        // supplier product is patched.
        let changedKey = "ART-004|\(suppliers[1])"
        try deployment.exactUpdate("logistics/SupplierItem", id: links[changedKey]!.id, ["PurchasePrice": "9.99"])
        before = try totalCalls()
        let patches = try optiplyCalls()["PATCH /v1/supplierProducts/{id}"] ?? 0
        let changed = try deployment.sync("suppliers")
        XCTAssertTrue(changed.stdout.contains("read 1,") && changed.stdout.contains("updated 1,"), changed.stdout)
        XCTAssertEqual((try optiplyCalls()["PATCH /v1/supplierProducts/{id}"] ?? 0) - patches, 1)
        XCTAssertEqual(try totalCalls() - before, 3, "find the supplier, list its products, patch one")
        supplied = try optiply("supplierProducts")
        XCTAssertEqual(supplied.values.filter { decimal($0["price"]) == Decimal(string: "9.99") }.count, 1)

        // A new item supplied before the products flow knows it: the supplier is parked
        // naming the SKU, and replays once the product exists.
        let late = try XCTUnwrap(deployment.exactCreate("logistics/Items", ["Code": "ART-NEW", "Description": "Nieuw artikel"])["ID"] as? String)
        try deployment.exactCreate("logistics/SupplierItem", ["Item": late, "Supplier": suppliers[0], "PurchasePrice": "2.50", "MainSupplier": true])
        let parked = try deployment.sync("suppliers")
        XCTAssertTrue(parked.stdout.contains("failed 1"), parked.stdout)
        XCTAssertTrue(try deployment.fixture.koppel(["failed", "suppliers"]).stdout.contains("Optiply has no product with SKU ART-NEW"))
        XCTAssertTrue(try deployment.sync("products").stdout.contains("written 1,"))
        XCTAssertEqual(try deployment.fixture.koppel(["replay", "suppliers", "--all-failed"]).status, 0)
        supplied = try optiply("supplierProducts")
        XCTAssertEqual(supplied.count, links.count + 1)
        XCTAssertEqual(supplied.values.filter { decimal($0["price"]) == Decimal(string: "2.5") }.count, 1)
    }

    func testTheAccountSignsInByItselfAndAWrongPasswordIsNamedWithoutShowingIt() throws {
        try deploy(flows: "")
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "optiply", "client_secret"], stdin: options.optiply.clientSecret + "\n").status, 0)
        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "optiply", "password"], stdin: "not-the-password\n").status, 0)
        let refused = try deployment.fixture.koppel(["check", "optiply"])
        XCTAssertNotEqual(refused.status, 0)
        let said = refused.stdout + refused.stderr
        XCTAssertTrue(said.contains("refused the account sign-in") && said.contains("koppel secrets set optiply password"), said)
        XCTAssertFalse(said.contains("not-the-password") || said.contains(options.optiply.clientSecret), said)

        XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", "optiply", "password"], stdin: options.optiply.password + "\n").status, 0)
        let checked = try deployment.fixture.koppel(["check", "optiply"])
        XCTAssertEqual(checked.status, 0, checked.stdout + checked.stderr)
        XCTAssertTrue(checked.stdout.contains("optiply: ok"), checked.stdout)
        // The token is kept sealed in the vault: a second process signs in no more.
        XCTAssertEqual(try deployment.fixture.koppel(["check", "optiply"]).status, 0)
        let stats = try deployment.json("GET", "\(optiplyURL)/_sandbox/optiply-stats") as? [String: Any]
        XCTAssertEqual((stats?["sign_ins"] as? NSNumber)?.intValue, 1)
        let state = try deployment.fixture.stateBytes()
        for secret in [options.optiply.password, options.optiply.clientSecret] {
            XCTAssertNil(state.range(of: Data(secret.utf8)), "no secret in the state database in clear text")
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
