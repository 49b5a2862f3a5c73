import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore

/// A local Mijnwebwinkel shop API. Mijnwebwinkel publishes little about its API, so this
/// models what is known (a shop at `{shop}.myonline.store`, an API token made in the shop's
/// admin, test orders recognisable by the "-T" suffix of their number, marking orders
/// shipped) with a plausible REST shape; every assumption is listed in
/// Sources/KoppelSandbox/README.md and kept in this file and the plugin.
///
/// Amounts are strings including VAT, as a Dutch consumer shop shows them.
public final class MijnwebwinkelSandbox: @unchecked Sendable {
    public struct Options: Sendable {
        public var token = "mww-sandbox-token-7c1e"
        /// The shop's name: a request addressed to `{other}.myonline.store` (or
        /// `{other}.localhost`) answers 404 "shop not found"; a bare address is this shop.
        public var shop = "sandbox-shop"
        public var pageSize = 50
        public init() {}
    }

    public let options: Options
    let lock = NSLock()
    var orders: [String: [String: Any]] = [:]
    var products: [String: [String: Any]] = [:]
    private var nextNumber = 90_000

    public init(options: Options = Options(), seed: SeedData) {
        self.options = options
        for product in seed.products { products[product.sku] = Self.render(product) }
        for order in seed.orders { orders[order.number] = Self.render(order) }
    }

    static func iso(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
    static func incl(_ excl: Decimal, _ rate: Decimal) -> Decimal { SeedData.cents(excl * (100 + rate) / 100) }

    static func render(_ p: SeedData.Product) -> [String: Any] {
        ["id": p.id, "sku": p.sku, "ean": p.ean, "name": p.name, "description": p.description,
         "price_incl": SeedData.text(incl(p.price, p.vatRate)), "vat_rate": NSDecimalNumber(decimal: p.vatRate),
         "stock": p.stock, "modified": iso(p.modified)]
    }

    static func address(_ c: SeedData.Customer) -> [String: Any] {
        ["name": "\(c.firstName) \(c.lastName)", "company": c.company ?? "", "street": c.street, "number": c.houseNumber,
         "suffix": "", "zipcode": c.postcode, "city": c.city, "country": c.country]
    }

    static func render(_ o: SeedData.Order) -> [String: Any] {
        let lines: [[String: Any]] = o.lines.map { line in
            let unitIncl = incl(line.product.price, line.product.vatRate)
            let totalIncl = line.total + line.tax
            return ["sku": line.product.sku, "ean": line.product.ean, "name": line.product.name, "quantity": line.quantity,
                    "unit_price_incl": SeedData.text(unitIncl), "vat_rate": NSDecimalNumber(decimal: line.product.vatRate),
                    "discount_incl": SeedData.text(unitIncl * Decimal(line.quantity) - totalIncl), "total_incl": SeedData.text(totalIncl),
                    "total_vat": SeedData.text(line.tax)]
        }
        let status = o.status == "pending" ? "new" : o.status == "cancelled" ? "cancelled" : "paid"
        var order: [String: Any] = [
            "id": o.id, "number": o.number, "status": status, "created": iso(o.created), "modified": iso(o.modified),
            "paid_at": o.paid.map(iso) ?? NSNull(), "currency": "EUR",
            "customer": ["email": o.customer.email, "first_name": o.customer.firstName, "last_name": o.customer.lastName,
                         "company": o.customer.company ?? "", "vat_number": o.customer.vatNumber ?? "", "coc_number": o.customer.cocNumber ?? "",
                         "phone": o.customer.phone],
            "billing_address": address(o.customer), "shipping_address": address(o.customer), "lines": lines,
            "shipping": ["method": o.shipping.name, "cost_incl": SeedData.text(o.shipping.amount + o.shipping.tax), "vat_rate": 21],
            "payment": ["method": o.paymentTitle, "cost_incl": SeedData.text((o.fee?.amount ?? 0) + (o.fee?.tax ?? 0)), "vat_rate": 21],
            "total_incl": SeedData.text(o.total), "total_vat": SeedData.text(o.totalTax), "shipment": NSNull(),
        ]
        if let coupon = o.coupon { order["discount"] = ["code": coupon.code, "percentage": NSDecimalNumber(decimal: coupon.percent)] }
        return order
    }

    func denied(_ request: Request) -> Response? {
        let host = request.head.authority.map { String($0.split(separator: ":")[0]) } ?? ""
        for domain in [".myonline.store", ".localhost"] where host.hasSuffix(domain) && host.dropLast(domain.count) != options.shop {
            return .json(["error": ["code": 404, "message": "Shop not found"]], status: 404)
        }
        guard let token = request.uri.queryParameters["token"], !token.isEmpty else {
            return .json(["error": ["code": 401, "message": "API token missing"]], status: 401)
        }
        guard String(token) == options.token else {
            return .json(["error": ["code": 403, "message": "Authentication failed: unknown or inactive API token"]], status: 403)
        }
        return nil
    }

    func routes(_ router: Router<SandboxContext>) {
        router.get("/api/v1/orders") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let query = request.uri.queryParameters
            var rows = self.lock.withLock { Array(self.orders.values) }
            if let since = query["modified_since"].flatMap({ ISO8601DateFormatter().date(from: String($0)) }) {
                rows = rows.filter { (ISO8601DateFormatter().date(from: $0["modified"] as? String ?? "") ?? .distantPast) > since }
            }
            if let until = query["modified_until"].flatMap({ ISO8601DateFormatter().date(from: String($0)) }) {
                rows = rows.filter { (ISO8601DateFormatter().date(from: $0["modified"] as? String ?? "") ?? .distantFuture) < until }
            }
            if let since = query["created_since"].flatMap({ ISO8601DateFormatter().date(from: String($0)) }) {
                rows = rows.filter { (ISO8601DateFormatter().date(from: $0["created"] as? String ?? "") ?? .distantPast) >= since }
            }
            if let until = query["created_until"].flatMap({ ISO8601DateFormatter().date(from: String($0)) }) {
                rows = rows.filter { (ISO8601DateFormatter().date(from: $0["created"] as? String ?? "") ?? .distantFuture) < until }
            }
            if let status = query["status"].map(String.init) { rows = rows.filter { $0["status"] as? String == status } }
            rows.sort { ($0["modified"] as? String ?? "", $0["number"] as? String ?? "") < ($1["modified"] as? String ?? "", $1["number"] as? String ?? "") }
            return self.page(rows, key: "orders", query: query)
        }
        router.get("/api/v1/orders/:number") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            guard let order = self.lock.withLock({ self.orders[context.parameters.get("number") ?? ""] }) else {
                return .json(["error": ["code": 404, "message": "Order not found"]], status: 404)
            }
            return .json(order)
        }
        router.put("/api/v1/orders/:number/shipment") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            let number = context.parameters.get("number") ?? ""
            let updated: [String: Any]? = self.lock.withLock {
                guard var order = self.orders[number] else { return nil }
                order["status"] = "shipped"
                order["shipment"] = ["carrier": body["carrier"] as? String ?? "", "track_and_trace": body["track_and_trace"] as? String ?? "",
                                     "shipped_at": Self.iso(Date())]
                order["modified"] = Self.iso(Date())
                self.orders[number] = order
                return order
            }
            guard let updated else { return .json(["error": ["code": 404, "message": "Order not found"]], status: 404) }
            return .json(updated)
        }
        router.get("/api/v1/products") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            var rows = self.lock.withLock { Array(self.products.values) }
            if let since = request.uri.queryParameters["modified_since"].flatMap({ ISO8601DateFormatter().date(from: String($0)) }) {
                rows = rows.filter { (ISO8601DateFormatter().date(from: $0["modified"] as? String ?? "") ?? .distantPast) > since }
            }
            rows.sort { ($0["modified"] as? String ?? "", $0["sku"] as? String ?? "") < ($1["modified"] as? String ?? "", $1["sku"] as? String ?? "") }
            return self.page(rows, key: "products", query: request.uri.queryParameters)
        }
        router.get("/api/v1/stock") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let rows = self.lock.withLock {
                self.products.values.sorted { ($0["sku"] as? String ?? "") < ($1["sku"] as? String ?? "") }
                    .map { ["sku": $0["sku"] ?? "", "quantity": $0["stock"] ?? 0, "modified": $0["modified"] ?? ""] }
            }
            return self.page(rows, key: "stock", query: request.uri.queryParameters)
        }
        router.get("/_sandbox/mijnwebwinkel/orders/:number") { _, context -> Response in
            guard let order = self.lock.withLock({ self.orders[context.parameters.get("number") ?? ""] }) else {
                return .json(["error": "not found"], status: 404)
            }
            return .json(order)
        }
    }

    private func page(_ rows: [[String: Any]], key: String, query: FlatDictionary<Substring, Substring>) -> Response {
        let limit = min(max(1, query["limit"].flatMap { Int(String($0)) } ?? options.pageSize), 250)
        let page = max(1, query["page"].flatMap { Int(String($0)) } ?? 1)
        let pages = max(1, (rows.count + limit - 1) / limit)
        let start = (page - 1) * limit
        let slice = start < rows.count ? Array(rows[start..<min(rows.count, start + limit)]) : []
        return .json([key: slice, "page": page, "pages": pages, "total": rows.count])
    }
}
