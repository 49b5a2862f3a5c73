import Foundation
import Hummingbird
import HTTPTypes
import HummingbirdCore
import NIOCore

/// A local Winstore shop API. Winstore publishes next to nothing about its API, so this
/// is a plausible JSON REST shape (`/api/v1/products`, `/customers`, `/orders`, an API key
/// in `X-Api-Key`, pages of `data` with `meta`); every assumption is listed in
/// Sources/KoppelSandbox/README.md and kept in this file and the plugin.
///
/// Prices are strings excluding VAT with the product's VAT rate beside them.
public final class WinstoreSandbox: @unchecked Sendable {
    public struct Options: Sendable {
        public var apiKey = "winstore-sandbox-key-3f9a"
        /// Simple products in the shop at start.
        public var products = 100
        public var pageSize = 50
        public init() {}
    }

    public let options: Options
    let lock = NSLock()
    private var products: [Int: [String: Any]] = [:]
    private var customers: [Int: [String: Any]] = [:]
    private var orders: [Int: [String: Any]] = [:]
    private var nextID = ["product": 1, "customer": 1, "order": 1]
    private var lastChange = Date.distantPast
    private var calls: [String: Int] = [:]

    public init(options: Options = Options(), seed: SeedData) {
        self.options = options
        let start = Date(timeIntervalSince1970: 1_764_547_200)
        for index in 0..<options.products {
            let base = seed.products.isEmpty ? nil : seed.products[index % seed.products.count]
            let price = SeedData.cents(Decimal(5 + (index * 37) % 120) + Decimal(index % 100) / 100)
            _ = insertProduct([
                "sku": String(format: "WS-%04d", index + 1), "type": "simple",
                "name": "\(base?.name ?? "Artikel") \(index + 1)",
                "description": "<p>\(base?.description ?? "Een artikel uit de winkel.")</p>",
                "short_description": "Artikel \(index + 1)", "price": SeedData.text(price),
                "vat_rate": index % 5 == 0 ? "9" : "21", "stock": (index * 7) % 40, "ean": String(format: "871%010d", index + 1),
                "currency": "EUR", "attributes": [["name": "origin", "value": ["NL", "BE", "DE"][index % 3]]],
            ], at: start.addingTimeInterval(Double(index)))
        }
    }

    /// The API calls answered so far, by `METHOD /path` without ids.
    public var callCounts: [String: Int] { lock.withLock { calls } }

    static func iso(_ date: Date) -> String { Date.ISO8601FormatStyle().format(date) }

    /// A change time after every earlier one (the shop's clock in whole seconds would let
    /// two changes share a second; the fake keeps milliseconds and never repeats one).
    private func tick() -> String {
        var now = Date()
        if now <= lastChange { now = lastChange.addingTimeInterval(0.001) }
        lastChange = now
        return Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(now)
    }

    private func insertProduct(_ fields: [String: Any], at: Date? = nil) -> [String: Any] {
        var product = fields
        let id = nextID["product"]!
        nextID["product"] = id + 1
        product["id"] = id
        product["variants"] = product["variants"] ?? []
        product["updated_at"] = at.map(Self.iso) ?? tick()
        products[id] = product
        return product
    }

    private func count(_ request: Request) {
        let path = request.uri.path.split(separator: "/").map { Int($0) == nil ? String($0) : "{id}" }.joined(separator: "/")
        calls["\(request.method.rawValue) /\(path)", default: 0] += 1
    }

    private func denied(_ request: Request) -> Response? {
        guard let key = request.headers[HTTPField.Name("X-Api-Key")!], !key.isEmpty else {
            return Self.error(401, "unauthorized", "The X-Api-Key header is missing")
        }
        guard key == options.apiKey else { return Self.error(401, "unauthorized", "The API key is not valid for this shop") }
        return nil
    }

    static func error(_ status: Int, _ code: String, _ message: String, fields: [String: Any]? = nil) -> Response {
        var error: [String: Any] = ["code": code, "message": message]
        if let fields { error["fields"] = fields }
        return .json(["error": error], status: status)
    }

    private func page(_ rows: [[String: Any]], query: FlatDictionary<Substring, Substring>) -> Response {
        let perPage = min(max(1, query["per_page"].flatMap { Int(String($0)) } ?? options.pageSize), 100)
        let page = max(1, query["page"].flatMap { Int(String($0)) } ?? 1)
        let last = max(1, (rows.count + perPage - 1) / perPage)
        let start = (page - 1) * perPage
        let slice = start < rows.count ? Array(rows[start..<min(rows.count, start + perPage)]) : []
        return .json(["data": slice, "meta": ["current_page": page, "last_page": last, "per_page": perPage, "total": rows.count]])
    }

    private func body(_ request: Request) async throws -> [String: Any] {
        var request = request
        return SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))) ?? [:]
    }

    func routes(_ router: Router<SandboxContext>) {
        let api = "/api/v1"
        router.get("\(api)/products") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            self.lock.withLock { self.count(request) }
            let query = request.uri.queryParameters
            var rows = self.lock.withLock { Array(self.products.values) }
            if let after = query["updated_after"].map(String.init) {
                guard let date = Self.parse(after) else { return Self.error(400, "invalid_parameter", "updated_after is not an ISO 8601 time") }
                rows = rows.filter { (Self.parse($0["updated_at"] as? String ?? "") ?? .distantPast) > date }
            }
            if let skus = query["sku"].map({ Set(String($0).split(separator: ",").map { $0.lowercased() }) }) {
                rows = rows.filter { skus.contains(($0["sku"] as? String ?? "").lowercased()) }
            }
            rows.sort { (Self.parse($0["updated_at"] as? String ?? "") ?? .distantPast, $0["id"] as? Int ?? 0)
                < (Self.parse($1["updated_at"] as? String ?? "") ?? .distantPast, $1["id"] as? Int ?? 0) }
            return self.page(rows, query: query)
        }
        router.post("\(api)/products") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let fields = try await self.body(request)
            return self.lock.withLock { () -> Response in
                self.count(request)
                guard let sku = fields["sku"] as? String, !sku.isEmpty else { return Self.error(422, "validation_failed", "sku is required") }
                if self.products.values.contains(where: { ($0["sku"] as? String)?.lowercased() == sku.lowercased() }) {
                    return Self.error(422, "validation_failed", "a product with SKU \(sku) already exists")
                }
                var product = fields
                product["type"] = product["type"] ?? "simple"
                product["currency"] = product["currency"] ?? "EUR"
                return .json(self.insertProduct(product), status: 201)
            }
        }
        router.put("\(api)/products/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            let fields = try await self.body(request)
            let id = context.parameters.get("id").flatMap(Int.init) ?? 0
            return self.lock.withLock { () -> Response in
                self.count(request)
                guard var product = self.products[id] else { return Self.error(404, "not_found", "product \(id) does not exist") }
                for (key, value) in fields where !["id", "sku", "updated_at"].contains(key) { product[key] = value }
                product["updated_at"] = self.tick()
                self.products[id] = product
                return .json(product)
            }
        }
        router.get("\(api)/customers") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let query = request.uri.queryParameters
            return self.lock.withLock { () -> Response in
                self.count(request)
                var rows = self.customers.values.sorted { ($0["id"] as? Int ?? 0) < ($1["id"] as? Int ?? 0) }
                if let email = query["email"].map({ String($0).lowercased() }) {
                    rows = rows.filter { ($0["email"] as? String)?.lowercased() == email }
                }
                if let number = query["number"].map(String.init) { rows = rows.filter { $0["number"] as? String == number } }
                return self.page(rows, query: query)
            }
        }
        router.post("\(api)/customers") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let fields = try await self.body(request)
            return self.lock.withLock { () -> Response in
                self.count(request)
                if let problem = Self.customerProblem(fields) { return problem }
                if let email = (fields["email"] as? String)?.lowercased(),
                   self.customers.values.contains(where: { ($0["email"] as? String)?.lowercased() == email }) {
                    return Self.error(422, "validation_failed", "a customer with email \(email) already exists")
                }
                var customer = fields
                let id = self.nextID["customer"]!
                self.nextID["customer"] = id + 1
                customer["id"] = id
                customer["number"] = "C\(10_000 + id)"
                customer["updated_at"] = self.tick()
                self.customers[id] = customer
                return .json(customer, status: 201)
            }
        }
        router.put("\(api)/customers/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            let fields = try await self.body(request)
            let id = context.parameters.get("id").flatMap(Int.init) ?? 0
            return self.lock.withLock { () -> Response in
                self.count(request)
                guard var customer = self.customers[id] else { return Self.error(404, "not_found", "customer \(id) does not exist") }
                for (key, value) in fields where !["id", "number", "updated_at"].contains(key) { customer[key] = value }
                if let problem = Self.customerProblem(customer) { return problem }
                customer["updated_at"] = self.tick()
                self.customers[id] = customer
                return .json(customer)
            }
        }
        router.get("\(api)/orders") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let query = request.uri.queryParameters
            return self.lock.withLock { () -> Response in
                self.count(request)
                var rows = self.orders.values.sorted { ($0["id"] as? Int ?? 0) < ($1["id"] as? Int ?? 0) }
                if let reference = query["reference"].map(String.init) { rows = rows.filter { $0["reference"] as? String == reference } }
                return self.page(rows, query: query)
            }
        }
        router.post("\(api)/orders") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let fields = try await self.body(request)
            return self.lock.withLock { () -> Response in
                self.count(request)
                return self.placeOrder(fields)
            }
        }
        router.get("/_sandbox/winstore/:collection") { _, context -> Response in
            self.lock.withLock {
                let rows: [Int: [String: Any]] = switch context.parameters.get("collection") {
                case "orders": self.orders
                case "customers": self.customers
                default: self.products
                }
                return .json(rows.values.sorted { ($0["id"] as? Int ?? 0) < ($1["id"] as? Int ?? 0) })
            }
        }
        router.get("/_sandbox/winstore-stats") { _, _ -> Response in .json(["calls": self.callCounts]) }
    }

    /// Checks and stores an order: the customer must exist, every line must name a
    /// product the shop has (422 naming the unknown SKUs), and a reference is used once.
    private func placeOrder(_ fields: [String: Any]) -> Response {
        guard let customerID = (fields["customer_id"] as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }), customers[customerID] != nil else {
            return Self.error(422, "validation_failed", "customer_id does not name a customer", fields: ["customer_id": "unknown"])
        }
        guard let lines = fields["lines"] as? [[String: Any]], !lines.isEmpty else {
            return Self.error(422, "validation_failed", "an order needs at least one line")
        }
        let known = Set(products.values.compactMap { ($0["sku"] as? String)?.lowercased() })
        let unknown = lines.compactMap { $0["sku"] as? String }.filter { !known.contains($0.lowercased()) }
        if !unknown.isEmpty || lines.contains(where: { $0["sku"] == nil }) {
            return Self.error(422, "validation_failed", "unknown products: \(unknown.joined(separator: ", "))", fields: ["lines": unknown])
        }
        if let reference = fields["reference"] as? String, orders.values.contains(where: { $0["reference"] as? String == reference }) {
            return Self.error(422, "validation_failed", "an order with reference \(reference) already exists")
        }
        var order = fields
        let id = nextID["order"]!
        nextID["order"] = id + 1
        order["id"] = id
        order["number"] = "W\(200_000 + id)"
        order["status"] = order["status"] ?? "new"
        var total = Decimal(0)
        for line in lines {
            let quantity = line["quantity"] as? Decimal ?? 0
            let price = Decimal(string: line["price"] as? String ?? "", locale: Locale(identifier: "en_US_POSIX")) ?? 0
            total += quantity * price
        }
        order["total_excl_vat"] = SeedData.text(SeedData.cents(total))
        order["created_at"] = tick()
        orders[id] = order
        return .json(order, status: 201)
    }

    /// A company needs a company name and a contact; a person a last name.
    private static func customerProblem(_ customer: [String: Any]) -> Response? {
        switch customer["type"] as? String {
        case "company":
            guard (customer["company_name"] as? String).map({ !$0.isEmpty }) == true else {
                return error(422, "validation_failed", "company_name is required for a company", fields: ["company_name": "required"])
            }
            guard let contact = customer["contact"] as? [String: Any], (contact["last_name"] as? String).map({ !$0.isEmpty }) == true else {
                return error(422, "validation_failed", "a company needs a contact with a last name", fields: ["contact.last_name": "required"])
            }
        case "person":
            guard (customer["last_name"] as? String).map({ !$0.isEmpty }) == true else {
                return error(422, "validation_failed", "last_name is required for a person", fields: ["last_name": "required"])
            }
        default:
            return error(422, "validation_failed", "type is company or person", fields: ["type": "invalid"])
        }
        return nil
    }

    static func parse(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}
