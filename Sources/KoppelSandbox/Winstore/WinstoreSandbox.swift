import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import HTTPTypes
import Hummingbird
import NIOCore

/// A local Winstore web service: ACA's IPOS `osd` API as the one public client calls it
/// (the reference's rules R1–R3): RPC-style calls under `/iposws/api/osd/`, HTTP Basic
/// with a web-service user (R1.2), XML unless `Accept: application/json` (R1.3),
/// parameters joined with `?` (R1.5), ATOM dates (R1.6), reads by change date only
/// (R2.1), orders as one XML `<order>` (R3.1). No source shows a response field: the
/// names in `Fields` are invented and marked so, in one place (R5 of the guidance), and
/// listed in Sources/KoppelSandbox/README.md.
public final class WinstoreSandbox: @unchecked Sendable {
    public struct Options: Sendable {
        public var username = "koppel-ws"
        public var password = "winstore-sandbox-pass-3f9a"
        /// Articles in the shop at start.
        public var articles = 100
        /// The shop's warehouses (branches).
        public var warehouses = [1, 2]
        public init() {}
    }

    /// INVENTED response field names (no public source shows any); the plugin reads them
    /// through its `fields` setting, which a deployment can change once a live sample is
    /// known.
    public enum Fields {
        public static let key = "ArtikelKey", sku = "ArtikelNr", gtin = "Gtin", name = "Description", longDescription = "LongDescription"
        public static let price = "Price", vatRate = "VatRate", stock = "Stock", changed = "Changed", variants = "Variants"
        public static let origin = "Origin", warehouse = "Warehouse", supplierID = "SupplierId"
    }

    public let options: Options
    let lock = NSLock()
    /// Articles by key, as stored (stock per warehouse apart).
    private var articles: [Int: [String: Any]] = [:]
    private var stock: [Int: [Int: Int]] = [:]
    private var stockChanged: [Int: Date] = [:]
    private var nextKey = 1001
    /// Orders received, decoded from their XML, in arrival order.
    private var orders: [[String: Any]] = []
    private var calls: [String: Int] = [:]
    /// Requests whose parameters were joined with `&` (R1.5: the client joins with `?`).
    public private(set) var ampersandQueries = 0
    private var lastChange = Date.distantPast

    public init(options: Options = Options(), seed: SeedData) {
        self.options = options
        // Ten minutes apart, a year ago: each seeded change stands on its own.
        let start = Date(timeIntervalSince1970: 1_764_547_200)
        for index in 0..<options.articles {
            let base = seed.products.isEmpty ? nil : seed.products[index % seed.products.count]
            let price = SeedData.cents(Decimal(5 + (index * 37) % 120) + Decimal(index % 100) / 100)
            let key = insert([
                Fields.sku: String(format: "WS-%04d", index + 1), Fields.gtin: String(format: "0871%09d", index + 1),
                Fields.name: "\(base?.name ?? "Artikel") \(index + 1)", Fields.longDescription: "Artikel \(index + 1) uit de winkel",
                Fields.price: price, Fields.vatRate: index % 5 == 0 ? 9 : 21, Fields.origin: ["NL", "BE", "DE"][index % 3],
                Fields.supplierID: 17 + index % 3,
            ], at: start.addingTimeInterval(Double(index) * 600))
            for warehouse in options.warehouses { stock[key, default: [:]][warehouse] = (index * 7 + warehouse * 13) % 40 }
            stockChanged[key] = start.addingTimeInterval(Double(index) * 600)
        }
    }

    @discardableResult
    private func insert(_ fields: [String: Any], at: Date? = nil) -> Int {
        let key = nextKey
        nextKey += 1
        var article = fields
        article[Fields.key] = key
        article[Fields.changed] = at ?? tick()
        articles[key] = article
        return key
    }

    /// A change time after every earlier one.
    private func tick() -> Date {
        var now = Date()
        if now <= lastChange { now = lastChange.addingTimeInterval(1) }
        lastChange = now
        return now
    }

    /// A formatter in the shop's zone.
    static func amsterdam(_ format: String) -> DateFormatter {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Europe/Amsterdam")
        formatter.dateFormat = format
        return formatter
    }

    /// R1.6: ATOM (`2026-03-01T10:00:00+01:00`), written in the shop's zone. A new
    /// formatter each time: requests are answered side by side.
    static var atom: DateFormatter { amsterdam("yyyy-MM-dd'T'HH:mm:ssXXXXX") }
    /// R3.1: `YYYY-MM-DD HH:MM:SS`.
    static var orderDate: DateFormatter { amsterdam("yyyy-MM-dd HH:mm:ss") }

    /// The call's parameters, joined by `?` as the client joins them (or `&`, counted).
    private func parameters(_ request: Request) -> [String: String] {
        let raw = request.uri.query ?? ""
        if raw.contains("&") { lock.withLock { ampersandQueries += 1 } }
        var found: [String: String] = [:]
        for pair in raw.split(whereSeparator: { $0 == "?" || $0 == "&" }) {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            found[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        return found
    }

    private func denied(_ request: Request) -> Response? {
        let expected = "Basic " + Data("\(options.username):\(options.password)".utf8).base64EncodedString()
        guard request.headers[.authorization] == expected else {
            var response = Self.text(401, "Unauthorized")
            response.headers[.wwwAuthenticate] = "Basic realm=\"iposws\""
            return response
        }
        return nil
    }

    static func text(_ status: Int, _ text: String) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Records as JSON when asked for (R1.3), else XML: `<ArrayOf{element}>` with one
    /// element per record, values as text, empty for null.
    static func answer(_ records: [[String: Any]], element: String, request: Request) -> Response {
        let plain = records.map { $0.mapValues(jsonValue) }
        if request.headers[.accept]?.contains("application/json") == true { return .json(plain) }
        var xml = "<?xml version=\"1.0\" encoding=\"utf-8\"?><ArrayOf\(element)>"
        for record in plain { xml += "<\(element)>" + Self.xml(record) + "</\(element)>" }
        xml += "</ArrayOf\(element)>"
        return Response(status: .ok, headers: [.contentType: "application/xml; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: xml)))
    }

    static func xml(_ record: [String: Any]) -> String {
        record.sorted { $0.key < $1.key }.map { key, value in
            switch value {
            case let nested as [[String: Any]]: "<\(key)>" + nested.map { "<Item>" + xml($0) + "</Item>" }.joined() + "</\(key)>"
            case is NSNull: "<\(key)/>"
            default:
                "<\(key)>" + "\(value)".replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;") + "</\(key)>"
            }
        }.joined()
    }

    static func jsonValue(_ value: Any) -> Any {
        switch value {
        case let date as Date: atom.string(from: date)
        case let decimal as Decimal: NSDecimalNumber(decimal: decimal)
        case let list as [[String: Any]]: list.map { $0.mapValues(jsonValue) }
        default: value
        }
    }

    /// The `date` parameter: ATOM with its offset (R1.6), else nil.
    static func since(_ parameters: [String: String]) -> Date? {
        parameters["date"].flatMap { atom.date(from: $0) }
    }

    private func count(_ call: String) {
        lock.withLock { calls[call, default: 0] += 1 }
    }

    func routes(_ router: Router<SandboxContext>) {
        let base = "/iposws/api/osd"
        router.get("\(base)/GetArticleDataChangesByDate") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            self.count("GetArticleDataChangesByDate")
            guard let since = Self.since(self.parameters(request)) else { return Self.text(400, "date must be an ATOM date, e.g. 2026-03-01T10:00:00+01:00") }
            // R2.5: an article comes with all its variants; changed at or after `date`.
            let rows = self.lock.withLock { self.articles.values.filter { ($0[Fields.changed] as! Date) >= since }.sorted { ($0[Fields.key] as! Int) < ($1[Fields.key] as! Int) } }
            return Self.answer(rows, element: "Article", request: request)
        }
        router.get("\(base)/GetChangedStock") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            self.count("GetChangedStock")
            guard let since = Self.since(self.parameters(request)) else { return Self.text(400, "date must be an ATOM date") }
            return Self.answer(self.stockRows(since: since, perWarehouse: false, outOfStock: true), element: "Stock", request: request)
        }
        router.get("\(base)/GetChangedStockWithWarehouse") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            self.count("GetChangedStockWithWarehouse")
            let parameters = self.parameters(request)
            guard let since = Self.since(parameters) else { return Self.text(400, "date must be an ATOM date") }
            return Self.answer(self.stockRows(since: since, perWarehouse: true, outOfStock: parameters["outOfStock"] == "1"), element: "Stock", request: request)
        }
        router.get("\(base)/GetStock") { request, _ -> Response in
            // R2.2: by article key or by GTIN (a string: leading zeros count).
            if let denied = self.denied(request) { return denied }
            self.count("GetStock")
            let parameters = self.parameters(request)
            let key: Int? = self.lock.withLock {
                switch parameters["type"] {
                case "byArtikelKey": parameters["artkey"].flatMap(Int.init).flatMap { self.articles[$0] == nil ? nil : $0 }
                case "byGtin": self.articles.first { $0.value[Fields.gtin] as? String == parameters["gtin"] }?.key
                default: nil
                }
            }
            guard ["byArtikelKey", "byGtin"].contains(parameters["type"] ?? "") else { return Self.text(400, "type must be byArtikelKey or byGtin") }
            guard let key else { return Self.answer([], element: "Stock", request: request) }
            return Self.answer(self.stockRows(since: .distantPast, perWarehouse: true, outOfStock: true).filter { $0[Fields.key] as? Int == key }, element: "Stock", request: request)
        }
        router.get("\(base)/GetSuppliers") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            self.count("GetSuppliers")
            let rows: [[String: Any]] = [17, 18, 19].map { [Fields.supplierID: $0, Fields.name: "Leverancier \($0)"] }
            return Self.answer(rows, element: "Supplier", request: request)
        }
        router.get("\(base)/GetArticleDataBySupplierId") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            self.count("GetArticleDataBySupplierId")
            guard let id = self.parameters(request)["id"].flatMap(Int.init) else { return Self.text(400, "id must be a number") }
            let rows = self.lock.withLock { self.articles.values.filter { $0[Fields.supplierID] as? Int == id }.sorted { ($0[Fields.key] as! Int) < ($1[Fields.key] as! Int) } }
            return Self.answer(rows, element: "Article", request: request)
        }
        router.post("\(base)/PostOrderWithStatusCode") { request, _ -> Response in
            if let denied = self.denied(request) { return denied }
            self.count("PostOrderWithStatusCode")
            // R1.4: the order is XML whatever the answer's format.
            guard request.headers[.contentType]?.hasPrefix("application/xml") == true else { return Self.text(415, "the order must be application/xml") }
            var request = request
            let body = Data(buffer: try await request.collectBody(upTo: 1 << 20))
            guard let order = WinstoreOrderXML.parse(body) else { return Self.text(400, "the body is not an <order> XML document") }
            if let problem = WinstoreOrderXML.problem(order) { return Self.text(400, problem) }
            // Every position names an article the shop has (assumed: by key, GTIN or number).
            let unknown = self.lock.withLock {
                WinstoreOrderXML.positions(order).compactMap { $0["product_id"] }.filter { id in
                    !self.articles.values.contains { "\($0[Fields.key]!)" == id || $0[Fields.gtin] as? String == id || $0[Fields.sku] as? String == id }
                }
            }
            // R3.6: the answer reports a status code (its shape is invented here).
            let reply: [String: Any]
            if let missing = unknown.first {
                reply = ["StatusCode": 422, "Message": "Onbekend artikel \(missing)"]
            } else {
                reply = self.lock.withLock {
                    self.orders.append(order)
                    return ["StatusCode": 201, "Message": "Order opgeslagen", "OrderNr": order["ordernr"] as? String ?? ""]
                }
            }
            return Self.answer([reply], element: "Result", request: request)
        }

        // The merchant's side, for tests and the sandbox command.
        router.get("/_sandbox/winstore/articles") { _, _ -> Response in
            .json(self.lock.withLock { self.articles.values.sorted { ($0[Fields.key] as! Int) < ($1[Fields.key] as! Int) }.map { $0.mapValues(Self.jsonValue) } })
        }
        router.post("/_sandbox/winstore/articles") { request, _ -> Response in
            // An article made or changed in Winstore's back office, by its number.
            var request = request
            guard let fields = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))), let sku = fields[Fields.sku] as? String else {
                return .json(["error": "give at least \(Fields.sku)"], status: 400)
            }
            let article = self.lock.withLock { () -> [String: Any] in
                if let existing = self.articles.first(where: { $0.value[Fields.sku] as? String == sku }) {
                    var changed = existing.value.merging(fields) { _, new in new }
                    changed[Fields.changed] = self.tick()
                    self.articles[existing.key] = changed
                    return changed
                }
                let key = self.insert(fields)
                for warehouse in self.options.warehouses { self.stock[key, default: [:]][warehouse] = 0 }
                return self.articles[key]!
            }
            return .json(article.mapValues(Self.jsonValue))
        }
        router.post("/_sandbox/winstore/stock") { request, _ -> Response in
            // A sale or a delivery in a branch: `{ArtikelNr, Warehouse, Stock}`.
            var request = request
            let fields = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            let done = self.lock.withLock { () -> Bool in
                guard let key = self.articles.first(where: { $0.value[Fields.sku] as? String == fields[Fields.sku] as? String })?.key,
                      let warehouse = (fields[Fields.warehouse] as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }),
                      let level = (fields[Fields.stock] as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }) else { return false }
                self.stock[key, default: [:]][warehouse] = level
                self.stockChanged[key] = self.tick()
                return true
            }
            return done ? .json(["ok": true]) : .json(["error": "give \(Fields.sku), \(Fields.warehouse) and \(Fields.stock) of an article"], status: 400)
        }
        router.get("/_sandbox/winstore/orders") { _, _ -> Response in
            .json(self.lock.withLock { self.orders })
        }
        router.get("/_sandbox/winstore-stats") { _, _ -> Response in
            .json(self.lock.withLock { ["calls": self.calls, "ampersand_queries": self.ampersandQueries] as [String: Any] })
        }
    }

    /// Stock rows changed at or after `since`: per warehouse, or summed per article.
    private func stockRows(since: Date, perWarehouse: Bool, outOfStock: Bool) -> [[String: Any]] {
        lock.withLock {
            var rows: [[String: Any]] = []
            for (key, levels) in stock.sorted(by: { $0.key < $1.key }) where (stockChanged[key] ?? .distantPast) >= since {
                guard let article = articles[key] else { continue }
                let base: [String: Any] = [Fields.key: key, Fields.sku: article[Fields.sku] ?? "", Fields.gtin: article[Fields.gtin] ?? "",
                                           Fields.changed: stockChanged[key] ?? Date()]
                if perWarehouse {
                    for (warehouse, level) in levels.sorted(by: { $0.key < $1.key }) where outOfStock || level > 0 {
                        rows.append(base.merging([Fields.warehouse: warehouse, Fields.stock: level]) { a, _ in a })
                    }
                } else {
                    rows.append(base.merging([Fields.stock: levels.values.reduce(0, +)]) { a, _ in a })
                }
            }
            return rows
        }
    }
}

/// The `<order>` of `PostOrderWithStatusCode` (R3.1), read into nested dictionaries
/// (`positions` a list), and checked.
enum WinstoreOrderXML {
    /// The children of `<order>` in the order the client writes them (R3.1), and whether
    /// each must be there.
    static let elements: [(name: String, required: Bool)] = [
        ("ordernr", true), ("orderdate", true), ("customerid", true), ("email", true), ("branch", true), ("channel", true),
        ("total", true), ("currency", true), ("changeSavingPoints", false), ("invoice_add", true), ("positions", true),
    ]
    static let address = ["fname", "lname", "street", "streetnr", "zip", "country", "countryISO"]
    static let position: [(name: String, required: Bool)] = [
        ("product_id", true), ("amount", true), ("single_price", true), ("type", true), ("branch", true), ("reduction", false),
    ]
    /// R3.1: the country as its Dutch name, beside its ISO code (a table for the fake).
    static let dutchCountries = [
        "NL": "Nederland", "BE": "België", "DE": "Duitsland", "FR": "Frankrijk", "LU": "Luxemburg", "GB": "Verenigd Koninkrijk",
        "AT": "Oostenrijk", "ES": "Spanje", "IT": "Italië", "DK": "Denemarken", "SE": "Zweden", "PL": "Polen", "US": "Verenigde Staten",
    ]

    static func positions(_ order: [String: Any]) -> [[String: String]] {
        order["positions"] as? [[String: String]] ?? []
    }

    /// The document as `{child: text | {…} | [position]}` with the children's order kept
    /// under `_order`, or nil when it is no `<order>`.
    static func parse(_ data: Data) -> [String: Any]? {
        final class Reader: NSObject, XMLParserDelegate {
            var stack: [String] = []
            var order: [String: Any] = [:]
            var sequence: [String] = []
            var address: [String: String] = [:]
            var addressOrder: [String] = []
            var positions: [[String: String]] = []
            var positionOrders: [[String]] = []
            var text = ""
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                if stack.count == 1 { sequence.append(name) }
                if stack == ["order", "positions"] && name == "position" {
                    positions.append([:])
                    positionOrders.append([])
                }
                stack.append(name)
                text = ""
            }
            func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }
            func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
                stack.removeLast()
                switch stack {
                case ["order"] where !["invoice_add", "positions"].contains(name): order[name] = text
                case ["order", "invoice_add"]:
                    address[name] = text
                    addressOrder.append(name)
                case ["order", "positions", "position"]:
                    positions[positions.count - 1][name] = text
                    positionOrders[positionOrders.count - 1].append(name)
                default: break
                }
                text = ""
            }
        }
        let reader = Reader()
        let parser = XMLParser(data: data)
        parser.delegate = reader
        guard parser.parse(), reader.stack.isEmpty else { return nil }
        guard String(decoding: data, as: UTF8.self).contains("<order>") else { return nil }
        var order = reader.order
        order["invoice_add"] = reader.address
        order["positions"] = reader.positions
        order["_order"] = reader.sequence
        order["_address_order"] = reader.addressOrder
        order["_position_orders"] = reader.positionOrders
        return order
    }

    /// What is wrong with an order (nil: nothing): the elements and their order (R3.1),
    /// the date's form, numbers, the Dutch country name.
    static func problem(_ order: [String: Any]) -> String? {
        let sequence = order["_order"] as? [String] ?? []
        let expected = elements.filter { $0.required || sequence.contains($0.name) }.map(\.name)
        guard sequence == expected else { return "the elements of <order> must be \(expected.joined(separator: ", ")) in that order, not \(sequence.joined(separator: ", "))" }
        guard WinstoreSandbox.orderDate.date(from: order["orderdate"] as? String ?? "") != nil else { return "orderdate must be YYYY-MM-DD HH:MM:SS" }
        for name in ["customerid", "branch"] where Int(order[name] as? String ?? "") == nil { return "\(name) must be a whole number" }
        guard Decimal(string: order["total"] as? String ?? "x") != nil else { return "total must be a number" }
        guard (order["_address_order"] as? [String] ?? []) == address else { return "invoice_add must hold \(address.joined(separator: ", ")) in that order" }
        let invoice = order["invoice_add"] as? [String: String] ?? [:]
        guard let iso = invoice["countryISO"], let dutch = dutchCountries[iso] else { return "countryISO \(invoice["countryISO"] ?? "") is not a country the shop knows" }
        guard invoice["country"] == dutch else { return "country must be the Dutch name of \(iso) (\(dutch)), not \(invoice["country"] ?? "")" }
        let lines = positions(order)
        guard !lines.isEmpty else { return "positions must hold at least one position" }
        for (index, orderOfLine) in (order["_position_orders"] as? [[String]] ?? []).enumerated() {
            let expectedLine = position.filter { $0.required || orderOfLine.contains($0.name) }.map(\.name)
            guard orderOfLine == expectedLine else { return "position \(index + 1) must hold \(expectedLine.joined(separator: ", ")) in that order" }
            let line = lines[index]
            guard Decimal(string: line["amount"] ?? "x").map({ $0 > 0 }) == true else { return "position \(index + 1): amount must be a positive number" }
            guard Decimal(string: line["single_price"] ?? "x") != nil else { return "position \(index + 1): single_price must be a number" }
        }
        return nil
    }
}
