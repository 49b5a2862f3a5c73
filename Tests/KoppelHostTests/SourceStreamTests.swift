import Foundation
import KoppelHost
import KoppelSandbox
import XCTest

/// The source streams that feed flows other than orders: Exact's stock, items and sales
/// orders, WooCommerce's products, and the overlap window that keeps a late record in
/// the boundary second from being missed. The target is the null connector, so what is
/// checked is exactly what the source hands over (`sync --dry-run` prints it) and how
/// many calls the source costs.
final class SourceStreamTests: XCTestCase {
    var deployment: SandboxDeployment!

    override func setUp() async throws {
        var options = Sandbox.Options()
        options.seed.orders = 250
        options.seed.testOrderEvery = 0
        options.exact.minutelyLimit = 100_000
        options.exact.dailyLimit = 1_000_000
        deployment = try await SandboxDeployment(options)
        try deployment.fixture.write(
            load: ["woocommerce", "exact-online", "null"],
            connections: """
                shop:
                  plugin: woocommerce
                  settings: { base_url: "\(deployment.wooURL)", consumer_key: \(options.wooCommerce.consumerKey) }
                exact-shop:
                  plugin: woocommerce
                  settings: { base_url: "\(deployment.wooURL)", consumer_key: \(options.wooCommerce.consumerKey), overlap_seconds: 0, recheck_days: 0 }
                exact:
                  plugin: exact-online
                  settings: { base_url: "\(deployment.exactURL)", division: \(deployment.division), client_id: \(options.exact.clientID) }
                sink:
                  plugin: "null"
                """,
            flows: """
                stock-main: { from: exact.stock, to: sink.records, schedule: manual }
                stock-two: { from: exact.stock, to: sink.records, schedule: manual, read_options: { warehouse: 2 } }
                stock-all: { from: exact.stock, to: sink.records, schedule: manual, read_options: { stock: global } }
                items: { from: exact.items, to: sink.records, schedule: manual }
                open-orders: { from: exact.sales_orders, to: sink.records, schedule: manual, read_options: { statuses: [12] } }
                products: { from: shop.products, to: sink.records, schedule: manual }
                orders: { from: shop.orders, to: sink.records, schedule: manual }
                orders-no-overlap: { from: exact-shop.orders, to: sink.records, schedule: manual }
                """)
        for shop in ["shop", "exact-shop"] {
            XCTAssertEqual(try deployment.fixture.koppel(["secrets", "set", shop, "consumer_secret"], stdin: options.wooCommerce.consumerSecret + "\n").status, 0)
        }
        try deployment.signInToExact("exact")
    }

    override func tearDown() async throws {
        deployment.stop()
    }

    /// Items in Exact with stock in three warehouses: item i holds i, 10 + i and 100 + i.
    func seedStock(items count: Int) throws -> [String: (item: String, rows: [String: String])] {
        let warehouses = Dictionary(uniqueKeysWithValues: try deployment.exactRecords("inventory/Warehouses").map {
            ($0["Code"] as! String, $0["ID"] as! String)
        })
        var items: [String: (item: String, rows: [String: String])] = [:]
        for i in 1...count {
            let sku = String(format: "ART-%03d", i)
            let item = try XCTUnwrap(try deployment.exactCreate("logistics/Items", ["Code": sku, "Description": "Artikel \(i)", "IsStockItem": true])["ID"] as? String)
            var rows: [String: String] = [:]
            for (code, base) in [("1", 0), ("2", 10), ("3", 100)] {
                let row = try deployment.exactCreate("inventory/ItemWarehouses", ["Item": item, "Warehouse": warehouses[code]!, "CurrentStock": base + i])
                rows[code] = row["ID"] as? String
            }
            items[sku] = (item, rows)
        }
        return items
    }

    func testStockOfOneWarehouseOrSummedAndOnlyWhatChanged() throws {
        let items = try seedStock(items: 12)

        let main = try deployment.wouldWrite("stock-main")
        XCTAssertEqual(main.count, 12)
        XCTAssertEqual(main["ART-005@1"]?["quantity"] as? String, "5", "the main warehouse by default")
        let two = try deployment.wouldWrite("stock-two")
        XCTAssertEqual(Set(two.keys), Set(items.keys.map { "\($0)@2" }))
        for (sku, _) in items {
            let i = Int(sku.suffix(3))!
            XCTAssertEqual(two["\(sku)@2"]?["quantity"] as? String, String(10 + i), sku)
            XCTAssertEqual(two["\(sku)@2"]?["warehouse"] as? String, "2")
        }
        let all = try deployment.wouldWrite("stock-all")
        XCTAssertEqual(Set(all.keys), Set(items.keys))
        for (sku, _) in items {
            let i = Int(sku.suffix(3))!
            XCTAssertEqual(all[sku]?["quantity"] as? String, String(110 + 3 * i), "\(sku): summed over the three warehouses")
            XCTAssertTrue(all[sku]?["warehouse"] is NSNull || all[sku]?["warehouse"] == nil)
        }
        for flow in ["stock-two", "stock-all"] {
            XCTAssertTrue(try deployment.sync(flow).stdout.contains("written 12"))
        }

        // Nothing changed: one call to ask, nothing handed on (the boundary record is read
        // again on purpose and absorbed by the ledger).
        var before = try deployment.exactCalls()
        let quiet = try deployment.sync("stock-two")
        XCTAssertTrue(quiet.stdout.contains("written 0,") && !quiet.stdout.contains("updated"), quiet.stdout)
        XCTAssertEqual(try deployment.exactCalls() - before, 1, "an unchanged catalogue costs one call")

        // A sale in warehouse 2 of item 3 and a receipt in warehouse 3 of item 7.
        try deployment.exactUpdate("inventory/ItemWarehouses", id: items["ART-003"]!.rows["2"]!, ["CurrentStock": 4.5])
        try deployment.exactUpdate("inventory/ItemWarehouses", id: items["ART-007"]!.rows["3"]!, ["CurrentStock": 150])
        XCTAssertEqual(try deployment.wouldWrite("stock-two").mapValues { $0["quantity"] as? String }, ["ART-003@2": "4.5"])
        XCTAssertEqual(try deployment.wouldWrite("stock-all").mapValues { $0["quantity"] as? String },
                       ["ART-003": "110.5", "ART-007": "174"], "items 3 and 7 re-summed, nothing else")
        before = try deployment.exactCalls()
        let run = try deployment.sync("stock-all")
        XCTAssertTrue(run.stdout.contains("updated 2"), run.stdout)
        XCTAssertEqual(try deployment.exactCalls() - before, 2, "one call for what changed, one to sum it")
        let settled = try deployment.sync("stock-all")
        XCTAssertTrue(settled.stdout.contains("written 0,") && !settled.stdout.contains("updated"), settled.stdout)
    }

    func testItemsAsProductsAndAChangeReadOnce() throws {
        _ = try seedStock(items: 3)
        let art2 = try XCTUnwrap(try deployment.exactRecords("logistics/Items").first { $0["Code"] as? String == "ART-002" }?["ID"] as? String)
        try deployment.exactUpdate("logistics/Items", id: art2, ["Barcode": "8712345678906", "CostPriceStandard": 7.1])
        // The sales price is a row of Exact's price list (R-BIZ-3), not a field of the item.
        let price = try XCTUnwrap(try deployment.exactCreate("logistics/SalesItemPrices", ["Item": art2, "Price": 19.95])["ID"] as? String)
        let products = try deployment.wouldWrite("items")
        XCTAssertEqual(products.count, 3)
        let product = try XCTUnwrap(products.values.first { $0["sku"] as? String == "ART-002" })
        XCTAssertEqual(product["name"] as? String, "Artikel 2")
        XCTAssertEqual(product["ean"] as? String, "8712345678906")
        XCTAssertEqual(product["price_excl_vat"] as? String, "19.95")
        XCTAssertEqual(product["purchase_price"] as? String, "7.1")
        XCTAssertTrue(try deployment.sync("items").stdout.contains("written 3"))
        // A backfill reads the feeds from their start, whatever the cursor says.
        let backfill = try deployment.sync("items", ["--since", "2000-01-01"])
        XCTAssertTrue(backfill.stdout.contains("read 3,"), backfill.stdout + backfill.stderr)
        let id = try XCTUnwrap(product["source_key"] as? String)
        try deployment.exactUpdate("logistics/Items", id: id, ["Description": "Artikel 2, nu in blauw"])
        let changed = try deployment.wouldWrite("items")
        XCTAssertEqual(changed.values.map { $0["name"] as? String }, ["Artikel 2, nu in blauw"])
        XCTAssertTrue(try deployment.sync("items").stdout.contains("updated 1"))
        // A new price alone brings the item again, with it.
        try deployment.exactUpdate("logistics/SalesItemPrices", id: price, ["Price": 21.5])
        let repriced = try deployment.wouldWrite("items")
        XCTAssertEqual(repriced.values.map { $0["price_excl_vat"] as? String }, ["21.5"])
    }

    func testSalesOrdersOfTheFlowsStatusesWithTheirLines() throws {
        let account = try XCTUnwrap(try deployment.exactCreate("crm/Accounts", ["Name": "Bakkerij de Vries", "Email": "info@devries.nl", "ChamberOfCommerce": "12345678"])["ID"] as? String)
        let item = try XCTUnwrap(try deployment.exactCreate("logistics/Items", ["Code": "MEEL-5", "Description": "Meel 5 kg"])["ID"] as? String)
        let vat = try XCTUnwrap(try deployment.exactRecords("vat/VATCodes").first { $0["Code"] as? String == "2" }?["Code"] as? String)
        for (status, quantity) in [(12, 3), (21, 1), (12, 2)] {
            try deployment.exactCreate("salesorder/SalesOrders", [
                "OrderedBy": account, "Status": status, "YourRef": "R\(quantity)",
                "SalesOrderLines": [["Item": item, "Quantity": quantity, "UnitPrice": 12.5, "VATCode": vat]],
            ])
        }
        let orders = try deployment.wouldWrite("open-orders")
        XCTAssertEqual(orders.count, 2, "only status 12 (open)")
        for order in orders.values {
            let lines = try XCTUnwrap(order["lines"] as? [[String: Any]])
            XCTAssertEqual(lines.count, 1)
            XCTAssertEqual(lines[0]["sku"] as? String, "MEEL-5")
            let quantity = decimal(lines[0]["quantity"])
            XCTAssertEqual(decimal(lines[0]["total"]), quantity * Decimal(string: "12.5")!)
            XCTAssertEqual(decimal(lines[0]["vat_rate"]), 9)
            let totals = try XCTUnwrap(order["totals"] as? [String: Any])
            var vat = quantity * Decimal(string: "12.5")! * Decimal(string: "0.09")!, rounded = Decimal()
            NSDecimalRound(&rounded, &vat, 2, .plain)
            XCTAssertEqual(decimal(totals["total"]), quantity * Decimal(string: "12.5")! + rounded, "net plus VAT to the cent, as Exact books it")
            // The buyer is the account, read along with the order: a company (it has a
            // chamber of commerce number) with its email address.
            XCTAssertEqual((order["customer"] as? [String: Any])?["company_name"] as? String, "Bakkerij de Vries")
            XCTAssertEqual((order["customer"] as? [String: Any])?["email"] as? String, "info@devries.nl")
        }
    }

    /// R-PAGE-3: Exact inlines at most 60 expanded lines; an order of 75 lines is read
    /// with all 75, the rest fetched from the lines' own `__next`.
    func testAnOrderOfSeventyFiveLinesIsReadWhole() throws {
        let account = try XCTUnwrap(try deployment.exactCreate("crm/Accounts", ["Name": "Groothandel", "Email": "inkoop@groothandel.nl"])["ID"] as? String)
        var lines: [[String: Any]] = []
        for index in 1...75 {
            let item = try XCTUnwrap(try deployment.exactCreate("logistics/Items", ["Code": "ART-\(index)", "Description": "Artikel \(index)"])["ID"] as? String)
            lines.append(["Item": item, "Quantity": index, "UnitPrice": 2, "VATCode": "1"])
        }
        try deployment.exactCreate("salesorder/SalesOrders", ["OrderedBy": account, "Status": 12, "SalesOrderLines": lines])
        let orders = try deployment.wouldWrite("open-orders")
        XCTAssertEqual(orders.count, 1)
        let read = try XCTUnwrap(orders.values.first?["lines"] as? [[String: Any]])
        XCTAssertEqual(read.count, 75)
        XCTAssertEqual(Set(read.compactMap { $0["sku"] as? String }), Set((1...75).map { "ART-\($0)" }))
        XCTAssertEqual(read.reduce(Decimal(0)) { $0 + decimal($1["total"]) }, Decimal(2 * (1...75).reduce(0, +)))
    }

    func testWooCommerceProductsAreRead() throws {
        let shopProducts = try deployment.woo("products?per_page=100") as? [[String: Any]] ?? []
        XCTAssertFalse(shopProducts.isEmpty)
        let read = try deployment.wouldWrite("products")
        let variations = try XCTUnwrap(try deployment.woo("products/9000/variations") as? [[String: Any]])
        XCTAssertEqual(variations.count, 2, "the seed has one variable product with two variations")
        XCTAssertEqual(read.count, shopProducts.count + variations.count, "every product, and each variation as a product of its own")
        for variation in variations {
            XCTAssertEqual(read["\(variation["id"]!)"]?["sku"] as? String, variation["sku"] as? String)
        }
        for product in shopProducts {
            let record = try XCTUnwrap(read["\(product["id"]!)"], "product \(product["id"]!)")
            XCTAssertEqual(record["sku"] as? String, product["sku"] as? String)
            XCTAssertEqual(record["name"] as? String, product["name"] as? String)
        }
    }

    /// An order the shop owner changes while Koppel reads moves to the end of the list;
    /// paging by page number would then skip the order that slid into its place.
    func testAnOrderChangedDuringTheReadCostsNoOtherOrder() throws {
        let oldest = try XCTUnwrap(try deployment.wooOrders().min { ($0["date_modified_gmt"] as! String) < ($1["date_modified_gmt"] as! String) })
        _ = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/change-during-read", body: ["order": oldest["id"]!])
        let run = try deployment.sync("orders")
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.contains("written 250, updated 1,"), "every order once, the changed one again: \(run.stdout)")
    }

    /// A backfill takes the orders placed in the window, however recently they changed,
    /// and leaves the flow's cursor alone.
    func testABackfillTakesTheOrdersPlacedInTheWindow() throws {
        let iso = ISO8601DateFormatter()
        let placed = try deployment.wooOrders().filter {
            let created = iso.date(from: ($0["date_created_gmt"] as! String) + "Z")!
            return created >= iso.date(from: "2025-12-01T00:00:00Z")! && created < iso.date(from: "2025-12-15T00:00:00Z")!
        }
        XCTAssertGreaterThan(placed.count, 10)
        let run = try deployment.sync("orders", ["--since", "2025-12-01", "--until", "2025-12-15"])
        XCTAssertTrue(run.stdout.contains("read \(placed.count), written \(placed.count),"), run.stdout)
        XCTAssertTrue(try deployment.sync("orders").stdout.contains("written \(250 - placed.count),"), "the cursor had not moved")
    }

    /// A record committed late in a second the last read already covered is still read:
    /// the overlap window reads that second again and the ledger absorbs what it saw.
    func testALateOrderInTheBoundarySecondIsNotMissed() throws {
        for flow in ["orders", "orders-no-overlap"] {
            XCTAssertTrue(try deployment.sync(flow).stdout.contains("written 250"))
        }
        let last = try XCTUnwrap(try deployment.wooOrders().compactMap { $0["date_modified_gmt"] as? String }.max())
        _ = try deployment.json("POST", "\(deployment.wooURL)/_sandbox/woocommerce/orders", body: ["count": 1, "modified": last + "Z"])
        let run = try deployment.sync("orders")
        XCTAssertTrue(run.stdout.contains("written 1,"), run.stdout)
        // Without the overlap, `modified_after` (exclusive) skips it: why the window exists.
        XCTAssertTrue(try deployment.sync("orders-no-overlap").stdout.contains("written 0,"))
    }
}
