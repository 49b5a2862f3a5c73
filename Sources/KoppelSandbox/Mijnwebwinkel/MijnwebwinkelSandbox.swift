import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore

/// A local MyOnlineStore Connect API (Mijnwebwinkel), as its OpenAPI spec describes it
/// (`Tests/KoppelHostTests/Fixtures/mijnwebwinkel/openapi.yaml`, rules R1–R6 of the
/// reference): one host for every shop, the shop chosen by its `token` and the
/// application by its `partner_token`, both in the query; bare JSON arrays paged by
/// `limit` (default 10, at most 100) and `offset`, with `/count` beside them; orders keyed
/// by number with per-shop integer statuses (`/orderstatuses`), selected by order date or
/// by status change, test orders left out unless `test=true`; articles with stock per
/// article and per variant; amounts as decimal strings, dates and times in separate
/// fields, in the shop's time (Europe/Amsterdam). Some orders come in the live API's
/// shapes that differ from the spec (R3.7). See Sources/KoppelSandbox/README.md.
public final class MijnwebwinkelSandbox: @unchecked Sendable {
    public struct Options: Sendable {
        /// The merchant's store token.
        public var token = "mww-sandbox-store-token-7c1e"
        /// The application's partner token (Koppel's, given by Mijnwebwinkel).
        public var partnerToken = "mww-sandbox-partner-token-42"
        public init() {}
    }

    /// The shop's order statuses (`examples/orderstatuses.json`; ids other than 2, 3 and 6
    /// are guesses, as the reference says).
    static let statuses: [(id: Int, description: String, credit: Bool)] = [
        (1, "Nieuw", false), (2, "Verzonden", false), (3, "Betaald", false), (6, "Betaald & afgehaald", false),
        (7, "Geannuleerd", false), (9, "Creditorder", true),
    ]

    public let options: Options
    let lock = NSLock()
    /// Orders by their number as text.
    var orders: [String: [String: Any]] = [:]
    /// When each order's status last changed, for the `status_changed_*` filters.
    var statusChanged: [String: Date] = [:]
    var created: [String: Date] = [:]
    var articles: [Int: [String: Any]] = [:]
    var articleChanged: [Int: Date] = [:]

    public init(options: Options = Options(), seed: SeedData) {
        self.options = options
        for product in seed.products {
            articles[product.id] = Self.render(product)
            articleChanged[product.id] = product.modified
        }
        for order in seed.orders {
            let number = order.isTest ? "T-\(order.id)" : order.number
            orders[number] = Self.render(order, number: number)
            statusChanged[number] = order.modified
            created[number] = order.created
        }
    }

    // MARK: Shapes

    static let zone = TimeZone(identifier: "Europe/Amsterdam")!

    /// `2026-03-05` and `14:02:11` in the shop's time.
    static func split(_ date: Date) -> (date: String, time: String) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd"
        let day = formatter.string(from: date)
        formatter.dateFormat = "HH:mm:ss"
        return (day, formatter.string(from: date))
    }

    /// `yyyy-mm-dd hh:mm:ss` (or a plain date, deprecated but accepted) in the shop's time.
    static func parse(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        for format in ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    static func rate(_ value: Decimal) -> String { SeedData.text(value) }

    /// An amount excluding VAT to six decimals, from one including it, as the shop keeps it.
    static func excl(_ incl: Decimal, rate: Decimal) -> String {
        var value = incl * 100 / (100 + rate), rounded = Decimal()
        NSDecimalRound(&rounded, &value, 6, .plain)
        return NSDecimalNumber(decimal: rounded).stringValue
    }

    static func taxPrice(incl: Decimal, rate: Decimal) -> [String: Any] {
        ["rate": Self.rate(rate), "amount": excl(incl, rate: rate), "amount_including_tax": SeedData.text(incl)]
    }

    static func render(_ p: SeedData.Product) -> [String: Any] {
        let incl = SeedData.cents(p.price * (100 + p.vatRate) / 100)
        let (day, time) = split(p.modified)
        let (createdDay, createdTime) = split(p.modified.addingTimeInterval(-86_400 * 30))
        return [
            "id": p.id, "uuid": uuid(p.id, 0xA), "name": p.name, "description": p.description, "sku": p.sku, "taxable": true,
            "price": ["default": SeedData.text(incl), "purchase": SeedData.text(SeedData.cents(p.price * 6 / 10))],
            "stock": p.stock, "can_backorder": false, "delivery_days": 2,
            "extra": ["invisible": ["weight": "0.50", "barcode": p.ean], "visible": [String: Any]()],
            "categories": [["category_id": 748_020, "article_url_id": p.id, "is_active": true, "is_main": true]],
            "lists": [Any](), "variants": [Any](), "images": [Any](),
            "created_date": createdDay, "created_time": createdTime, "updated_date": day, "updated_time": time,
            // The tax rate of the article (the spec has no field for it; `taxable` only):
            // kept for the fake's own orders, never served.
            "_rate": NSDecimalNumber(decimal: p.vatRate),
        ]
    }

    /// A deterministic UUID from a number, for seed records.
    static func uuid(_ number: Int, _ kind: Int) -> String {
        String(format: "%08x-%04x-4%03x-8%03x-%012x", number, kind, number % 4096, kind % 4096, number)
    }

    static func address(_ c: SeedData.Customer) -> [String: Any] {
        ["name": "\(c.firstName) \(c.lastName)", "company": c.company ?? "", "street": c.street, "number": c.houseNumber,
         "zipcode": c.postcode, "city": c.city, "country_code": c.country, "phone": c.phone]
    }

    static let gateways = ["ideal": ("mollie", "ideal"), "paypal": ("paypal", "paypal"), "bacs": ("basic", "bank_transfer"), "cod": ("basic", "rembours")]

    /// An order as the spec's `Order` has it. Every fifth order comes in the live API's
    /// shapes (R3.7): its number as a string, `price.tax` as one object, its shipping
    /// country as an empty list; every sixth has no delivery address.
    static func render(_ o: SeedData.Order, number: String) -> [String: Any] {
        let quirky = o.id % 5 == 0
        var taxes: [Decimal: Decimal] = [:]
        var lines: [[String: Any]] = o.lines.enumerated().map { index, line in
            let rate = line.product.vatRate
            let unitIncl = SeedData.cents(line.product.price * (100 + rate) / 100)
            taxes[rate, default: 0] += line.tax
            return [
                "id": uuid(o.id * 100 + index, 0xB), "type": "article", "quantity": line.quantity, "description": line.product.name,
                "weight": "0.50", "unit_price": taxPrice(incl: unitIncl, rate: rate), "price": taxPrice(incl: line.total + line.tax, rate: rate),
                "articles": [["id": line.product.id, "sku": line.product.sku, "description": line.product.name,
                              "price": ["amount": excl(unitIncl, rate: rate), "rate": Self.rate(rate)], "options": [Any]()]],
            ]
        }
        var costs: [(String, Decimal, Decimal)] = [("Verzendkosten: \(o.shipping.name)", o.shipping.amount + o.shipping.tax, o.shipping.tax)]
        if let fee = o.fee { costs.append(("Betaalkosten: \(o.paymentTitle)", fee.amount + fee.tax, fee.tax)) }
        for (index, (description, incl, tax)) in costs.enumerated() {
            taxes[21, default: 0] += tax
            lines.append(["id": uuid(o.id * 100 + 50 + index, 0xB), "type": "custom", "quantity": 1, "description": description,
                          "unit_price": taxPrice(incl: incl, rate: 21), "price": taxPrice(incl: incl, rate: 21)])
        }
        let taxList: [[String: Any]] = taxes.sorted { $0.key > $1.key }.map { ["rate": Self.rate($0.key), "amount": SeedData.text($0.value)] }
        let (day, time) = split(o.created)
        let (changedDay, changedTime) = split(o.modified)
        let status = o.status == "pending" ? 1 : o.status == "cancelled" ? 7 : 3
        let invoice = address(o.customer).merging(o.customer.vatNumber.map { ["taxnumber": $0] } ?? [:]) { a, _ in a }
        var debtorAddress: [String: Any] = ["invoice": invoice]
        if o.id % 6 != 0 { debtorAddress["delivery"] = address(o.customer) }
        var order: [String: Any] = [
            "number": quirky || number.hasPrefix("T-") ? number as Any : Int(number) as Any, "uuid": uuid(o.id, 0xC),
            "date": day, "time": time, "status": status, "status_changed_date": changedDay, "status_changed_time": changedTime,
            "weight": "1.00", "archived": false, "finished": true, "locale": "nl_NL", "currency": "EUR",
            "business_model": o.customer.company == nil ? "B2C" : "B2B", "comments": ["customer": "", "internal": ""],
            "debtor": ["email": o.customer.email, "address": debtorAddress],
            "price": ["total": SeedData.text(o.total), "tax": quirky && taxList.count == 1 ? taxList[0] as Any : taxList as Any],
            "orderlines": lines,
            "shipping": [["country": quirky ? [Any]() as Any : ["isocode": o.customer.country, "description": o.customer.country] as Any]],
        ]
        if let coupon = o.coupon { order["discountcode"] = coupon.code }
        if o.customer.company != nil { order["reference"] = "PO-\(o.id)" }
        if o.total != 0, let gateway = gateways[o.paymentMethod] {
            order["payment"] = ["gateway_name": gateway.0, "method_name": gateway.1,
                                "status": o.paid == nil ? ["id": 5, "text": "Pending"] : ["id": 1, "text": "Successful"]]
        }
        return order
    }

    // MARK: Requests

    /// An error answer in place of a result.
    struct Refusal: Error {
        let response: Response
        init(_ response: Response) { self.response = response }
    }

    static func error(_ status: Int, _ message: String, _ description: String) -> Response {
        .json(["code": status, "message": message, "description": description], status: status)
    }

    /// Both tokens, or the Error the spec describes (which token is named is assumed).
    func denied(_ request: Request) -> Response? {
        let query = request.uri.queryParameters
        guard let partner = query["partner_token"], !partner.isEmpty else {
            return Self.error(401, "Unauthorized", "partner_token is missing")
        }
        guard String(partner) == options.partnerToken else { return Self.error(403, "Forbidden", "Invalid partner token") }
        guard let token = query["token"], !token.isEmpty else { return Self.error(401, "Unauthorized", "token is missing") }
        guard String(token) == options.token else { return Self.error(403, "Forbidden", "Invalid store token") }
        return nil
    }

    /// `limit` (1 to 100, default 10) and `offset`, or a 400.
    func window(_ request: Request) -> Result<(limit: Int, offset: Int), Refusal> {
        let query = request.uri.queryParameters
        let limit = query["limit"].map { Int(String($0)) } ?? 10
        guard let limit, (1...100).contains(limit) else {
            return .failure(Refusal(Self.error(400, "Bad Request", "limit: must be an integer from 1 to 100")))
        }
        let offset = query["offset"].map { Int(String($0)) } ?? 0
        guard let offset, offset >= 0 else { return .failure(Refusal(Self.error(400, "Bad Request", "offset: must be a non-negative integer"))) }
        return .success((limit, offset))
    }

    /// The orders the list's filters select, ordered by number (`ordering`, default asc).
    func selectOrders(_ request: Request) -> Result<[[String: Any]], Refusal> {
        let query = request.uri.queryParameters
        func time(_ name: String) -> Result<Date?, Refusal> {
            guard let text = query[Substring(name)].map(String.init) else { return .success(nil) }
            guard let date = Self.parse(text) else { return .failure(Refusal(Self.error(400, "Bad Request", "\(name): not a date (yyyy-mm-dd hh:mm:ss)"))) }
            return .success(date)
        }
        var bounds: [String: Date] = [:]
        for name in ["start_date", "end_date", "status_changed_start_date", "status_changed_end_date"] {
            switch time(name) {
            case .failure(let refusal): return .failure(refusal)
            case .success(let date): if let date { bounds[name] = date }
            }
        }
        let test = query["test"].map { ["1", "true"].contains(String($0)) } ?? false
        let status = query["status_id"].flatMap { Int(String($0)) }
        let descending = query["ordering"].map(String.init) == "desc"
        return .success(lock.withLock {
            let numbers = orders.keys.filter { number in
                if !test && number.hasPrefix("T-") { return false }
                let placed = created[number] ?? .distantPast, changed = statusChanged[number] ?? .distantPast
                // Order dates are whole days: `end_date` takes the whole of its day.
                if let start = bounds["start_date"], placed < start { return false }
                if let end = bounds["end_date"], placed >= end.addingTimeInterval(86_400) { return false }
                if let start = bounds["status_changed_start_date"], changed < start { return false }
                if let end = bounds["status_changed_end_date"], changed > end { return false }
                if let status, orders[number]?["status"] as? Int != status { return false }
                return true
            }
            func key(_ number: String) -> (Int, String) { (Int(number.drop { !$0.isNumber }) ?? 0, number) }
            let sorted = numbers.sorted { descending ? key($0) > key($1) : key($0) < key($1) }
            return sorted.compactMap { orders[$0] }
        })
    }

    func routes(_ router: Router<SandboxContext>) {
        router.get("/v1/orders") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            let window: (limit: Int, offset: Int)
            switch self.window(request) {
            case .failure(let refusal): return refusal.response
            case .success(let value): window = value
            }
            switch self.selectOrders(request) {
            case .failure(let refusal): return refusal.response
            case .success(let rows): return .json(Array(rows.dropFirst(window.offset).prefix(window.limit)))
            }
        }
        router.get("/v1/orders/count") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            switch self.selectOrders(request) {
            case .failure(let refusal): return refusal.response
            case .success(let rows): return .json(["count": rows.count])
            }
        }
        router.get("/v1/orders/:number") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            let number = context.parameters.get("number") ?? ""
            guard let order = self.lock.withLock({ self.orders[number] }) else {
                return Self.error(404, "Not found", "Order \(number) does not exist")
            }
            return .json(order)
        }
        router.patch("/v1/orders/:number") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            var request = request
            guard let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) else {
                return Self.error(400, "Bad Request", "the body is not a JSON object")
            }
            // OrderPatchable: archived, status, comments.internal, reference, offline_location_id.
            let allowed: Set<String> = ["archived", "status", "comments", "reference", "offline_location_id"]
            if let unknown = body.keys.first(where: { !allowed.contains($0) }) {
                return Self.error(400, "Bad Request", "\(unknown): this field cannot be changed")
            }
            let number = context.parameters.get("number") ?? ""
            if let status = body["status"] {
                guard let id = (status as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }), Self.statuses.contains(where: { $0.id == id }) else {
                    return Self.error(400, "Bad Request", "status: unknown order status")
                }
            }
            let updated = self.lock.withLock { () -> [String: Any]? in
                guard var order = self.orders[number] else { return nil }
                if let status = (body["status"] as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }), status != order["status"] as? Int {
                    order["status"] = status
                    let (day, time) = Self.split(Date())
                    order["status_changed_date"] = day
                    order["status_changed_time"] = time
                    self.statusChanged[number] = Date()
                }
                if let archived = body["archived"] as? Bool { order["archived"] = archived }
                if let note = (body["comments"] as? [String: Any])?["internal"] as? String {
                    var comments = order["comments"] as? [String: Any] ?? [:]
                    comments["internal"] = note
                    order["comments"] = comments
                }
                if let reference = body["reference"] as? String { order["reference"] = reference }
                self.orders[number] = order
                return order
            }
            guard let updated else { return Self.error(404, "Not found", "Order \(number) does not exist") }
            return .json(updated)
        }
        router.get("/v1/orderstatuses") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            return .json(Self.statuses.map { ["status": $0.id, "description": $0.description, "credit_order": $0.credit] })
        }
        router.get("/v1/store") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            return .json([
                "id": Self.uuid(1, 0xD), "name": "Sandbox Winkel", "primary_domain": "sandbox-winkel.myonline.store", "open": true,
                "version": "PREMIUM", "currency": "EUR", "prices_include_tax": true, "default_language": "nl_NL",
                "administration_language": "nl_NL", "currency_format_locale": "NL",
            ])
        }
        router.get("/v1/articles") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            switch (self.window(request), self.selectArticles(request)) {
            case (.failure(let refusal), _), (_, .failure(let refusal)): return refusal.response
            case (.success(let window), .success(let rows)): return .json(Array(rows.dropFirst(window.offset).prefix(window.limit)))
            }
        }
        router.get("/v1/articles/count") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            switch self.selectArticles(request) {
            case .failure(let refusal): return refusal.response
            case .success(let rows): return .json(["count": rows.count])
            }
        }
        router.get("/v1/articles/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            guard let id = context.parameters.get("id", as: Int.self), let article = self.lock.withLock({ self.articles[id] }) else {
                return Self.error(404, "Not found", "Article does not exist")
            }
            return .json(Self.served(article))
        }
        router.patch("/v1/articles/:id") { request, context -> Response in
            if let denied = self.denied(request) { return denied }
            // R5.3: `use_url_id` is required; false means the path holds the article id.
            guard request.uri.queryParameters["use_url_id"] != nil else { return Self.error(400, "Bad Request", "use_url_id: this value is required") }
            var request = request
            guard let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) else {
                return Self.error(400, "Bad Request", "the body is not a JSON object")
            }
            guard let id = context.parameters.get("id", as: Int.self) else { return Self.error(404, "Not found", "Article does not exist") }
            let updated = self.lock.withLock { () -> [String: Any]? in
                guard var article = self.articles[id] else { return nil }
                if body.keys.contains("stock") { article["stock"] = (body["stock"] as? Decimal).map { NSDecimalNumber(decimal: $0).intValue } ?? NSNull() }
                if let sku = body["sku"] as? String { article["sku"] = sku }
                let (day, time) = Self.split(Date())
                article["updated_date"] = day
                article["updated_time"] = time
                self.articles[id] = article
                self.articleChanged[id] = Date()
                return article
            }
            guard let updated else { return Self.error(404, "Not found", "Article does not exist") }
            return .json(Self.served(updated))
        }
        router.get("/_sandbox/mijnwebwinkel/orders/:number") { _, context -> Response in
            guard let order = self.lock.withLock({ self.orders[context.parameters.get("number") ?? ""] }) else {
                return .json(["error": "not found"], status: 404)
            }
            return .json(order)
        }
        router.get("/_sandbox/mijnwebwinkel/orders") { _, _ -> Response in
            .json(self.lock.withLock { Array(self.orders.values) })
        }
    }

    /// An article without the fake's own bookkeeping fields.
    static func served(_ article: [String: Any]) -> [String: Any] { article.filter { !$0.key.hasPrefix("_") } }

    /// The articles the filters select (`changed_*`, `created_*` as `yyyy-mm-dd hh:mm:ss`), by id.
    func selectArticles(_ request: Request) -> Result<[[String: Any]], Refusal> {
        let query = request.uri.queryParameters
        var bounds: [String: Date] = [:]
        for name in ["changed_start_date", "changed_end_date"] {
            guard let text = query[Substring(name)].map(String.init) else { continue }
            guard let date = Self.parse(text) else { return .failure(Refusal(Self.error(400, "Bad Request", "\(name): not a date (yyyy-mm-dd hh:mm:ss)"))) }
            bounds[name] = date
        }
        return .success(lock.withLock {
            articles.keys.sorted().filter { id in
                let changed = articleChanged[id] ?? .distantPast
                if let start = bounds["changed_start_date"], changed < start { return false }
                if let end = bounds["changed_end_date"], changed > end { return false }
                return true
            }.compactMap { articles[$0].map(Self.served) }
        })
    }
}
