import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The REST server's own 404 for a path below `/wp-json` that no route takes
/// (`rest_no_route`), instead of the router's empty one.
struct WooNoRouteMiddleware: RouterMiddleware {
    typealias Context = SandboxContext

    func handle(_ request: Request, context: SandboxContext, next: (Request, SandboxContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound && request.uri.path.hasPrefix("/wp-json") {
            return WooCommerceSandbox.error("rest_no_route", "No route was found matching the URL and request method.", status: 404)
        }
    }
}

extension WooCommerceSandbox {
    /// What the shop's web server does before WordPress routes a request: a host that
    /// strips the `Authorization` header drops it; with plain permalinks `/wp-json` is
    /// WordPress's HTML 404 page and `/?rest_route=/wc/v3/...` reaches the API (with
    /// `rest_route` still in the query, as it stays in PHP's `$_GET`).
    @Sendable func frontDoor(_ request: Request) -> Sandbox.FrontDoor {
        let (plain, strips) = lock.withLock { (plainPermalinks, stripsAuthorization) }
        var head = request.head
        if strips { head.headerFields[.authorization] = nil }
        if request.uri.path == "/", let route = request.uri.queryParameters["rest_route"].map(String.init) {
            head.path = "/wp-json" + route + (request.uri.query.map { "?" + $0 } ?? "")
        } else if plain, request.uri.path.hasPrefix("/wp-json") {
            return .answer(Response(
                status: .notFound, headers: [.contentType: "text/html; charset=UTF-8"],
                body: .init(byteBuffer: ByteBuffer(string: "<!DOCTYPE html><html><head><title>Page not found</title></head><body>Nothing was found at this location.</body></html>"))))
        }
        return .route(Request(head: head, body: request.body))
    }
}

extension WooCommerceSandbox {
    /// Topics WooCommerce accepts (`wc_is_webhook_valid_topic`): a resource and an event,
    /// or a custom `action.*`.
    static func validTopic(_ topic: String) -> Bool {
        if topic.hasPrefix("action.") && topic.count > 7 { return true }
        let parts = topic.split(separator: ".").map(String.init)
        return parts.count == 2 && ["coupon", "customer", "order", "product"].contains(parts[0])
            && ["created", "updated", "deleted", "restored"].contains(parts[1])
    }

    /// The VAT of a tax class (`taxes.json`: standard 21%, reduced-rate 9%) and its rate id.
    static func tax(of taxClass: String) -> (rate: Decimal, id: Int) {
        taxClass == "reduced-rate" ? (9, 2) : (21, 1)
    }

    /// A new order as WooCommerce's REST controller makes one from a POST body: the
    /// number is the id, the status the body's (default `pending`), each line priced from
    /// its product with the VAT of its tax class, shipping and fee lines taxed at the
    /// standard rate, and the totals computed; `set_paid` marks it paid and processing.
    func createOrder(_ body: [String: Any], id: Int, at now: Date) -> Result<[String: Any], WooError> {
        func decimal(_ value: Any?) -> Decimal? {
            switch value {
            case let d as Decimal: d
            case let n as NSNumber: n.decimalValue
            case let t as String: Decimal(string: t)
            default: nil
            }
        }
        var taxTotals: [Int: (rate: Decimal, items: Decimal, shipping: Decimal)] = [:]
        var lines: [[String: Any]] = []
        for (index, item) in (body["line_items"] as? [[String: Any]] ?? []).enumerated() {
            let product = lock.withLock { () -> [String: Any]? in
                if let productID = decimal(item["variation_id"] ?? item["product_id"]).map({ NSDecimalNumber(decimal: $0).intValue }), productID > 0 {
                    return products[productID]
                }
                return (item["sku"] as? String).flatMap { sku in products.values.first { $0["sku"] as? String == sku } }
            }
            guard let product, let price = decimal(product["price"]) else {
                return .failure(WooError(code: "woocommerce_rest_invalid_product_id", message: "Product ID provided is invalid.", status: 400))
            }
            let quantity = decimal(item["quantity"]) ?? 1
            let subtotal = SeedData.cents(price * quantity)
            let tax = Self.tax(of: product["tax_class"] as? String ?? "")
            let lineTax = SeedData.cents(subtotal * tax.rate / 100)
            taxTotals[tax.id, default: (tax.rate, 0, 0)].items += lineTax
            lines.append([
                "id": id * 100 + index, "name": product["name"] ?? "", "product_id": product["parent_id"] as? Int ?? 0 > 0 ? product["parent_id"]! : product["id"]!,
                "variation_id": product["type"] as? String == "variation" ? product["id"]! : 0, "quantity": NSDecimalNumber(decimal: quantity),
                "tax_class": product["tax_class"] ?? "", "subtotal": SeedData.text(subtotal), "subtotal_tax": SeedData.text(lineTax),
                "total": SeedData.text(subtotal), "total_tax": SeedData.text(lineTax), "sku": product["sku"] ?? "", "price": NSDecimalNumber(decimal: price),
                "taxes": [["id": tax.id, "total": SeedData.text(lineTax), "subtotal": SeedData.text(lineTax)]], "meta_data": [],
            ])
        }
        func charges(_ key: String, _ title: String) -> [[String: Any]] {
            (body[key] as? [[String: Any]] ?? []).enumerated().map { index, line in
                let amount = SeedData.cents(decimal(line["total"]) ?? 0)
                let tax = SeedData.cents(amount * 21 / 100)
                taxTotals[1, default: (21, 0, 0)].shipping += key == "shipping_lines" ? tax : 0
                if key != "shipping_lines" { taxTotals[1, default: (21, 0, 0)].items += tax }
                var charge = line.mapValues(Self.plain)
                charge["id"] = id * 10 + index + (key == "shipping_lines" ? 5 : 6)
                charge[title] = line[title] ?? ""
                charge["total"] = SeedData.text(amount)
                charge["total_tax"] = SeedData.text(tax)
                charge["taxes"] = [["id": 1, "total": SeedData.text(tax), "subtotal": ""]]
                return charge
            }
        }
        let shipping = charges("shipping_lines", "method_title")
        let fees = charges("fee_lines", "name")
        func sum(_ rows: [[String: Any]], _ field: String) -> Decimal { rows.reduce(0) { $0 + (decimal($1[field]) ?? 0) } }
        let totalTax = taxTotals.values.reduce(Decimal(0)) { $0 + $1.items + $1.shipping }
        let total = sum(lines, "total") + sum(shipping, "total") + sum(fees, "total") + totalTax
        let paid = body["set_paid"] as? Bool == true
        let stamp = Self.wooDate(now)
        var order: [String: Any] = body.mapValues(Self.plain)
        order.removeValue(forKey: "set_paid")
        let itemTax = taxTotals.values.reduce(Decimal(0)) { $0 + $1.items }
        let shippingTax = taxTotals.values.reduce(Decimal(0)) { $0 + $1.shipping }
        let taxLines: [[String: Any]] = taxTotals.sorted { $0.key < $1.key }.map { rateID, totals in
            let label: String = rateID == 1 ? "BTW hoog" : "BTW laag"
            return ["id": id * 10 + rateID, "rate_code": rateID == 1 ? "NL-BTW HOOG-1" : "NL-BTW LAAG-1", "rate_id": rateID, "label": label,
                    "compound": false, "tax_total": SeedData.text(totals.items), "shipping_tax_total": SeedData.text(totals.shipping),
                    "rate_percent": NSDecimalNumber(decimal: totals.rate)]
        }
        let paidAt: Any = paid ? stamp : NSNull()
        let customerID = body["customer_id"].flatMap(decimal).map { NSDecimalNumber(decimal: $0).intValue } ?? 0
        var fields: [String: Any] = ["id": id, "parent_id": 0, "number": String(id), "order_key": "wc_order_\(id)"]
        fields["created_via"] = "rest-api"
        fields["version"] = "11.0.1"
        fields["status"] = paid ? "processing" : (body["status"] as? String ?? "pending")
        fields["currency"] = body["currency"] as? String ?? "EUR"
        fields["prices_include_tax"] = false
        for field in ["date_created", "date_created_gmt", "date_modified", "date_modified_gmt"] { fields[field] = stamp }
        fields["date_paid"] = paidAt
        fields["date_paid_gmt"] = paidAt
        fields["date_completed"] = NSNull()
        fields["date_completed_gmt"] = NSNull()
        fields["discount_total"] = "0.00"
        fields["discount_tax"] = "0.00"
        fields["shipping_total"] = SeedData.text(sum(shipping, "total"))
        fields["shipping_tax"] = SeedData.text(shippingTax)
        fields["cart_tax"] = SeedData.text(itemTax)
        fields["total"] = SeedData.text(total)
        fields["total_tax"] = SeedData.text(totalTax)
        fields["customer_id"] = customerID
        fields["customer_note"] = body["customer_note"] ?? ""
        fields["billing"] = (body["billing"] as? [String: Any]).map { $0.mapValues(Self.plain) } ?? [:]
        fields["shipping"] = (body["shipping"] as? [String: Any]).map { $0.mapValues(Self.plain) } ?? [:]
        fields["line_items"] = lines
        fields["shipping_lines"] = shipping
        fields["fee_lines"] = fees
        fields["coupon_lines"] = [[String: Any]]()
        fields["refunds"] = [[String: Any]]()
        fields["meta_data"] = [[String: Any]]()
        fields["tax_lines"] = taxLines
        order.merge(fields) { _, new in new }
        order.merge(Self.orderFields) { mine, _ in mine }
        return .success(order)
    }

    /// Refunds an order as wp-admin does: `lines` (index in `line_items` and quantity)
    /// are refunded with their share of VAT; `amount` alone is a refund by amount, with
    /// no lines. The order lists the refund (`refunds: [{id, reason, total}]`); a refund
    /// of everything sets the status to `refunded`, which saves the order and moves its
    /// `date_modified`; a partial refund on classic order storage leaves it.
    func refund(order id: Int, lines wanted: [(index: Int, quantity: Int)], amount: Decimal?, reason: String, at now: Date) -> [String: Any]? {
        lock.withLock {
            guard var order = orders[id] else { return nil }
            let refundID = nextChildID()
            var lines: [[String: Any]] = []
            var refunded = Decimal(0)
            let items = order["line_items"] as? [[String: Any]] ?? []
            for (index, quantity) in wanted where index < items.count {
                let item = items[index]
                let ordered = Decimal((item["quantity"] as? NSNumber)?.intValue ?? (item["quantity"] as? Int ?? 1))
                let total = SeedData.cents((Decimal(string: item["total"] as? String ?? "0") ?? 0) * Decimal(quantity) / ordered)
                let tax = SeedData.cents((Decimal(string: item["total_tax"] as? String ?? "0") ?? 0) * Decimal(quantity) / ordered)
                let taxID = ((item["taxes"] as? [[String: Any]])?.first?["id"] as? Int) ?? 1
                refunded += total + tax
                lines.append([
                    "id": refundID * 100 + index, "name": item["name"] ?? "", "product_id": item["product_id"] ?? 0, "variation_id": item["variation_id"] ?? 0,
                    "quantity": -quantity, "tax_class": item["tax_class"] ?? "", "subtotal": SeedData.text(-total), "subtotal_tax": SeedData.text(-tax),
                    "total": SeedData.text(-total), "total_tax": SeedData.text(-tax), "sku": item["sku"] ?? "",
                    "taxes": [["id": taxID, "total": SeedData.text(-tax), "subtotal": SeedData.text(-tax)]],
                    "meta_data": [["id": refundID * 10, "key": "_refunded_item_id", "value": String(item["id"] as? Int ?? 0)]],
                    "refund_total": NSDecimalNumber(decimal: total + tax),
                ])
            }
            let value = amount ?? refunded
            let stamp = Self.wooDate(now)
            let refund: [String: Any] = [
                "id": refundID, "date_created": stamp, "date_created_gmt": stamp, "amount": SeedData.text(value), "reason": reason,
                "refunded_by": 5001, "refunded_payment": false, "meta_data": [], "line_items": lines, "shipping_lines": [], "tax_lines": [],
                "fee_lines": [],
            ]
            refunds[id, default: []].insert(refund, at: 0)
            var listed = order["refunds"] as? [[String: Any]] ?? []
            listed.insert(["id": refundID, "reason": reason, "total": SeedData.text(-value)], at: 0)
            order["refunds"] = listed
            let refundedSoFar = listed.reduce(Decimal(0)) { $0 - (Decimal(string: $1["total"] as? String ?? "0") ?? 0) }
            if refundedSoFar >= (Decimal(string: order["total"] as? String ?? "0") ?? 0) {
                order["status"] = "refunded"
                order["date_modified"] = stamp
                order["date_modified_gmt"] = stamp
            }
            orders[id] = order
            return refund
        }
    }
}

/// An error answer of the REST API.
struct WooError: Error {
    var code: String
    var message: String
    var status: Int
}
