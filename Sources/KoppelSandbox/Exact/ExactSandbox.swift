import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A local Exact Online: OAuth 2 with rotating refresh tokens, `current/Me`, the entity
/// sets of `ExactEntity` under `/api/v1/{division}/`, OData `$filter`, `$select`,
/// `$top`, `$orderby`, `$expand` and `__next` paging (60 a page), per-division rate
/// limits with Exact's headers, and errors in Exact's shape. See Sources/KoppelSandbox/README.md.
public final class ExactSandbox: @unchecked Sendable {
    /// What the fake is set up with.
    public struct Options: Sendable {
        public var divisions: [Int] = [123456]
        public var clientID = "koppel-sandbox"
        public var clientSecret = "sandbox-client-secret"
        public var accessTokenLifetime: TimeInterval = 600
        public var minutelyLimit = 60
        public var dailyLimit = 5000
        public var pageSize = 60
        /// The app's webhook secret, which signs every delivery (R-HOOK-4).
        public var webhookSecret = "sandbox-webhook-secret"
        /// Seconds from a subscription's POST to its validation POST (R-HOOK-2: about one).
        public var webhookValidationDelay: TimeInterval = 1
        /// Seconds from a change to its delivery.
        public var webhookDeliveryDelay: TimeInterval = 0.5
        public init() {}
    }

    public let options: Options
    let auth: ExactAuth
    let limiter: ExactRateLimiter
    let divisions: [Int: ExactDivision]
    let webhooks: ExactWebhooks
    /// Set once the server listens: how the fake writes its own URLs (`__next`, a
    /// webhook's `ExactOnlineEndpoint`).
    var baseURL = "" {
        didSet { webhooks.baseURL = baseURL }
    }
    private let callLock = NSLock()
    private var calls: [String: Int] = [:]
    /// R-RATE-6: error answers per division and endpoint, and the endpoints blocked.
    private var errorTimes: [String: [Date]] = [:]
    private var blockedUntil: [String: Date] = [:]

    public init(options: Options = Options()) {
        self.options = options
        auth = ExactAuth(client: .init(id: options.clientID, secret: options.clientSecret), accessLifetime: options.accessTokenLifetime)
        limiter = ExactRateLimiter(minutely: options.minutelyLimit, daily: options.dailyLimit)
        divisions = Dictionary(uniqueKeysWithValues: options.divisions.map { ($0, ExactDivision(number: $0, name: "Sandbox administratie \($0)")) })
        let webhooks = ExactWebhooks(options: .init(
            clientID: options.clientID, secret: options.webhookSecret, validationDelay: options.webhookValidationDelay,
            deliveryDelay: options.webhookDeliveryDelay))
        self.webhooks = webhooks
        for division in divisions.values {
            division.onChange = { [unowned division] path, record, removed in webhooks.changed(path, record, deleted: removed, division: division) }
        }
    }

    /// Tokens as if the merchant had just signed in.
    public func issueTokens() -> [String: Any] { auth.issueTokens() }

    /// API calls per "METHOD entity" so far (for the calls-per-order figures).
    public var callCounts: [String: Int] { callLock.withLock { calls } }

    func count(_ label: String) {
        callLock.withLock { calls[label, default: 0] += 1 }
    }

    // MARK: Routes

    func routes(_ router: Router<SandboxContext>) {
        router.post("/api/oauth2/token") { request, _ -> Response in
            let (status, body, headers) = self.auth.token(form: try await request.form())
            return .json(body, status: status, headers: headers)
        }
        router.get("/api/oauth2/auth") { request, _ -> Response in
            let query = request.uri.queryParameters
            guard query["client_id"].map(String.init) == self.options.clientID, let redirect = query["redirect_uri"].map(String.init),
                query["response_type"] == "code"
            else { return .json(["error": "invalid_request"], status: 400) }
            let code = self.auth.issueCode(redirectURI: redirect)
            let state = query["state"].map { "&state=\(String($0).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" } ?? ""
            return Response(status: .found, headers: [.location: "\(redirect)\(redirect.contains("?") ? "&" : "?")code=\(code)\(state)"])
        }
        router.get("/api/v1/current/Me") { request, _ -> Response in
            guard self.auth.valid(request.headers[.authorization]) else { return self.unauthorized() }
            let division = self.options.divisions[0]
            let (allowed, headers) = self.limiter.take(division: division)
            guard allowed else { return .json(ExactError(status: 429, message: "API rate limit exceeded").body, status: 429, headers: headers) }
            self.count("GET current/Me")
            let me: [String: Any] = ["UserID": "00000000-0000-0000-0000-000000000001", "FullName": "Sandbox Gebruiker",
                                     "CurrentDivision": division, "Email": "sandbox@koppel.invalid", "LanguageCode": "nl-NL"]
            return .json(["d": ["results": [me]]], headers: headers)
        }
        for method in ["GET", "POST", "PUT", "DELETE"] {
            router.on("/api/v1/:division/:service/:resource", method: HTTPRequest.Method(method)!) { request, context -> Response in
                guard self.auth.valid(request.headers[.authorization]) else { return self.unauthorized() }
                return try await self.handle(request, context: context, inspecting: false)
            }
            router.on("/_sandbox/exact/:division/:service/:resource", method: HTTPRequest.Method(method)!) { request, context -> Response in
                try await self.handle(request, context: context, inspecting: true)
            }
        }
        // Three segments: the Sync API (`sync/CRM/Accounts`), bulk feeds (`bulk/CRM/Accounts`)
        // and reports (`read/logistics/StockPosition`); four: `read/sync/Sync/SyncTimestamp`.
        for route in ["/api/v1/:division/:service/:resource/:sub", "/api/v1/:division/:service/:resource/:sub/:leaf"] {
            router.get(RouterPath(route)) { request, context -> Response in
                guard self.auth.valid(request.headers[.authorization]) else { return self.unauthorized() }
                return try await self.handle(request, context: context, inspecting: false)
            }
        }
        router.get("/_sandbox/exact/stats") { _, _ -> Response in
            var stats: [String: Any] = self.auth.stats
            stats["rate_limited"] = self.limiter.refused
            stats["calls"] = self.callCounts
            return .json(stats)
        }
        router.post("/_sandbox/exact/tokens") { _, _ -> Response in .json(self.issueTokens()) }
        // The envelopes sent so far, with the status each receiver answered at last.
        router.get("/_sandbox/exact/webhooks/sent") { _, _ -> Response in
            .json(self.webhooks.sent.map { ["topic": $0.topic, "key": $0.key, "action": $0.action, "status": $0.status ?? 0] })
        }
        // Moves the fake's clock: `{"advance": 600}` lets tokens expire and the refresh
        // floor pass without waiting.
        router.post("/_sandbox/exact/clock") { request, _ -> Response in
            let body = SandboxJSON.object(Data(buffer: try await request.body.collect(upTo: 4096))) ?? [:]
            self.auth.advance(by: (body["advance"] as? NSNumber)?.doubleValue ?? 0)
            return .json(["now": ExactJSON.date(self.auth.now)])
        }
    }

    private func unauthorized() -> Response {
        .json(ExactError(status: 401, message: "Access token is missing, invalid or expired.").body, status: 401,
              headers: ["WWW-Authenticate": "Bearer"])
    }

    /// One OData request on an entity set. Inspection requests (from tests and the demo)
    /// skip auth and the rate limit and are not counted.
    private func handle(_ request: Request, context: SandboxContext, inspecting: Bool) async throws -> Response {
        let divisionText = context.parameters.get("division") ?? ""
        guard let number = Int(divisionText), let division = divisions[number] else {
            return .json(ExactError(status: 403, message: "Forbidden: division \(divisionText) is not accessible").body, status: 403)
        }
        var headers: [String: String] = [:]
        // R-HOST-5: a URL of more than 6,000 characters (as sent, percent-encoded) is
        // refused; Exact's status and wording for it are not known (400 assumed).
        if !inspecting, request.uri.description.count > 6_000 {
            return .json(ExactError(status: 400, message: "The URL is longer than 6000 characters").body, status: 400)
        }
        if !inspecting {
            let (allowed, limitHeaders) = limiter.take(division: number)
            headers = limitHeaders
            guard allowed else { return .json(ExactError(status: 429, message: "API rate limit exceeded").body, status: 429, headers: headers) }
        }
        var segments = ["service", "resource", "sub", "leaf"].compactMap { context.parameters.get($0) }
        var resource = segments.popLast() ?? ""
        let service = segments.joined(separator: "/")
        resource = resource.removingPercentEncoding ?? resource
        var key: String?
        if let open = resource.firstIndex(of: "("), resource.hasSuffix(")") {
            let inside = resource[resource.index(after: open)..<resource.index(before: resource.endIndex)]
            key = inside.replacingOccurrences(of: "guid'", with: "").replacingOccurrences(of: "'", with: "").lowercased()
            resource = String(resource[..<open])
        }
        let path = "\(service)/\(resource)"
        let endpoint = "\(number)/\(path.lowercased())"
        if !inspecting {
            count("\(request.method.rawValue) \(path)")
            if let until = blocked(endpoint) {
                return .json(ExactError(status: 429, message: "This endpoint is blocked until \(ExactJSON.date(until)): too many errors in the last hour").body,
                             status: 429, headers: headers)
            }
        }
        var request = request
        let body = request.method == .post || request.method == .put ? try await request.collectBody(upTo: 4 << 20) : nil
        let query = Dictionary(request.uri.queryParameters.map { (String($0.key), String($0.value)) }, uniquingKeysWith: { _, last in last })
        if !inspecting, request.method == .post, path.lowercased() == ExactWebhooks.subscriptionSet.lowercased(), key == nil,
            let refusal = await webhooks.admit((try? Self.decode(body)) ?? [:], division: division)
        {
            noteError(refusal.status, endpoint: endpoint)
            return .json(refusal.body, status: refusal.status, headers: headers)
        }
        let result: Result<(Int, Any?), ExactError> = division.lock.withLock {
            Result { () throws(ExactError) in
                try self.perform(request.method.rawValue, path: path, key: key, query: query, body: body, division: division, strict: !inspecting)
            }
        }
        switch result {
        case .success(let (status, payload)):
            guard let payload else { return Response(status: .init(code: status), headers: Self.fields(headers)) }
            return .json(payload, status: status, headers: headers)
        case .failure(let error):
            if !inspecting { noteError(error.status, endpoint: endpoint) }
            return .json(error.body, status: error.status, headers: headers)
        }
    }

    /// R-RATE-6: more than ten 400, 401, 403 or 404 answers on one endpoint of a division
    /// within an hour (of the fake's clock) block that endpoint for an hour. How Exact
    /// answers during a block is not documented; the fake answers 429.
    private func noteError(_ status: Int, endpoint: String) {
        guard [400, 401, 403, 404].contains(status) else { return }
        let now = auth.now
        callLock.withLock {
            let recent = (errorTimes[endpoint] ?? []).filter { now.timeIntervalSince($0) < 3600 } + [now]
            errorTimes[endpoint] = recent
            if recent.count > 10 { blockedUntil[endpoint] = now.addingTimeInterval(3600) }
        }
    }

    private func blocked(_ endpoint: String) -> Date? {
        let now = auth.now
        return callLock.withLock { blockedUntil[endpoint].flatMap { $0 > now ? $0 : nil } }
    }

    /// One request's work. `strict` (every API call; not the inspection door) applies the
    /// reference's refusals: mandatory filters, unknown properties.
    private func perform(
        _ method: String, path: String, key: String?, query: [String: String], body: ByteBuffer?, division: ExactDivision, strict: Bool
    ) throws(ExactError) -> (Int, Any?) {
        if let feed = ExactFeed(path: path) {
            guard method == "GET" else { throw ExactError(status: 405, message: "Method not allowed on \(path)") }
            if strict { try Self.checkQuery(path: feed.referencePath, key: key, query: query) }
            return (200, try read(feed, query: query, division: division))
        }
        let header = ExactEntity.header(forLinePath: path)
        guard let entity = ExactEntity.named(path) ?? header else {
            throw ExactError(status: 404, message: "Resource not found: \(path)")
        }
        let path = entity.path == path || header == nil ? entity.path : path
        switch method {
        case "GET":
            if strict { try Self.checkQuery(path: path, key: key, query: query) }
            return (200, try read(entity: entity, linePath: header != nil ? path : nil, key: key, query: query, division: division))
        case "POST":
            guard entity.writable, header == nil, key == nil, !(strict && entity.seededOnly) else {
                throw ExactError(status: 405, message: "Method not allowed on \(path)")
            }
            var record = try Self.decode(body)
            if strict { record = try Self.checkBody(record, entity: entity, method: method) }
            record[entity.key] = (record[entity.key] as? String)?.lowercased() ?? ExactJSON.guid()
            record["Division"] = division.number
            let now = division.stamp()
            record["Created"] = now
            record["Modified"] = now
            try entity.complete(division, &record)
            if let lines = entity.lines, var list = record[lines.property] as? [[String: Any]] {
                for index in list.indices {
                    list[index][lines.parentKey] = record[entity.key]
                    list[index]["Division"] = division.number
                    list[index]["Modified"] = now
                }
                record[lines.property] = list
            }
            division.put(entity.path, record)
            return (201, ["d": render(record, entity: entity, expand: true)])
        case "PUT":
            guard entity.writable, header == nil, !(strict && entity.seededOnly), let key, var record = division.get(entity.path, key) else {
                throw ExactError(status: 404, message: "Record not found")
            }
            var changes = try Self.decode(body)
            if strict { changes = try Self.checkBody(changes, entity: entity, method: method) }
            for (field, value) in changes where field != entity.key && field != entity.lines?.property {
                record[field] = value
            }
            if entity.lines == nil { try entity.complete(division, &record) }
            record["Modified"] = division.stamp()
            division.put(entity.path, record)
            return (204, nil)
        case "DELETE":
            guard entity.writable, header == nil, let key, division.remove(entity.path, key) else {
                throw ExactError(status: 404, message: "Record not found")
            }
            return (204, nil)
        default:
            throw ExactError(status: 405, message: "Method not allowed")
        }
    }

    /// R-FILTER-1 and R-SELECT-1 on a GET: a collection read must filter on one of the
    /// entity's mandatory filter fields, and `$select`, `$filter` and `$orderby` may name
    /// only properties the entity has.
    static func checkQuery(path: String, key: String?, query: [String: String]) throws(ExactError) {
        guard let reference = ExactReference.shared.entity(path) else { return }
        var filtered: Set<String> = []
        if let text = query["$filter"], !text.isEmpty {
            do throws(ODataFilter.ParseError) {
                filtered = try ODataFilter.parse(text).fields
            } catch {
                throw ExactError(status: 400, message: error.description)
            }
        }
        let selected = (query["$select"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let ordered = (query["$orderby"] ?? "").split(separator: ",").compactMap { $0.split(separator: " ").first.map(String.init) }
        for (names, option) in [(selected, "$select"), (filtered.sorted(), "$filter"), (ordered, "$orderby")] {
            if let refusal = ExactReference.shared.unknownPropertyRefusal(reference, named: names, option: option) { throw refusal }
        }
        if key == nil, let refusal = ExactReference.shared.mandatoryFilterRefusal(reference, filtered: filtered) { throw refusal }
        if let refusal = ExactReference.shared.unsupportedFilterRefusal(reference, filtered: filtered) { throw refusal }
        if key == nil, let refusal = ExactReference.shared.unboundedReadRefusal(reference, query: query) { throw refusal }
    }

    /// R-SELECT-1 on a POST or PUT body, its deep-inserted lines included; returns the
    /// body as Exact takes it, without the properties it ignores (read-only ones).
    static func checkBody(_ body: [String: Any], entity: ExactEntity, method: String) throws(ExactError) -> [String: Any] {
        let reference = ExactReference.shared
        guard let entityReference = reference.entity(entity.path) else { return body }
        if let refusal = reference.unknownBodyPropertyRefusal(entityReference, body: body) { throw refusal }
        var accepted = reference.writable(body, entity: entityReference, method: method)
        guard let lines = entity.lines, let lineReference = reference.entity(lines.path), accepted[lines.property] != nil else { return accepted }
        var raw = accepted[lines.property]
        if let wrapped = raw as? [String: Any] { raw = wrapped["results"] }
        var acceptedLines: [[String: Any]] = []
        for line in raw as? [[String: Any]] ?? [] {
            if let refusal = reference.unknownBodyPropertyRefusal(lineReference, body: line) { throw refusal }
            acceptedLines.append(reference.writable(line, entity: lineReference, method: "POST"))
        }
        accepted[lines.property] = acceptedLines
        return accepted
    }

    /// A GET of an entity set (or, with `linePath`, of its line set); `address` is the
    /// path its `__next` names (a bulk feed's own), `pageSize` its page.
    func read(
        entity: ExactEntity, linePath: String?, key: String?, query: [String: String], division: ExactDivision,
        address: String? = nil, pageSize: Int? = nil
    ) throws(ExactError) -> Any {
        let expand = (query["$expand"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var rows: [[String: Any]]
        var keyField = entity.key
        if let linePath, let lines = entity.lines {
            keyField = "ID"
            rows = division.all(entity.path).flatMap { $0[lines.property] as? [[String: Any]] ?? [] }
            _ = linePath
        } else {
            rows = division.all(entity.path)
        }
        if let key {
            guard let row = rows.first(where: { ($0[keyField] as? String)?.lowercased() == key }) else {
                throw ExactError(status: 404, message: "Record not found")
            }
            return ["d": select(render(row, entity: linePath == nil ? entity : nil, expand: expand.contains(entity.lines?.property ?? "-")), query)]
        }
        if let filterText = query["$filter"], !filterText.isEmpty {
            let filter: ODataFilter
            do throws(ODataFilter.ParseError) {
                filter = try ODataFilter.parse(filterText)
            } catch {
                throw ExactError(status: 400, message: error.description)
            }
            rows = rows.filter { filter.matches($0) }
        }
        if let order = query["$orderby"], !order.isEmpty {
            let parts = order.split(separator: " ").map(String.init)
            let descending = parts.count > 1 && parts[1].lowercased() == "desc"
            rows.sort { a, b in
                let x = "\(a[parts[0]] ?? "")", y = "\(b[parts[0]] ?? "")"
                if let dx = a[parts[0]] as? Date, let dy = b[parts[0]] as? Date { return descending ? dx > dy : dx < dy }
                return descending ? x > y : x < y
            }
        }
        let pageSize = pageSize ?? options.pageSize
        var top = pageSize
        if let text = query["$top"], let n = Int(text) { top = min(n, pageSize) }
        var startIndex = 0
        if let token = query["$skiptoken"] {
            let last = token.replacingOccurrences(of: "guid'", with: "").replacingOccurrences(of: "'", with: "").lowercased()
            startIndex = (rows.firstIndex { ($0[keyField] as? String)?.lowercased() == last } ?? -1) + 1
        }
        let page = Array(rows[min(startIndex, rows.count)..<min(startIndex + top, rows.count)])
        var result: [String: Any] = ["results": page.map { select(render($0, entity: linePath == nil ? entity : nil, expand: expand.contains(entity.lines?.property ?? "-")), query) }]
        let explicitTop = query["$top"] != nil
        if !explicitTop, startIndex + top < rows.count, let last = page.last?[keyField] as? String {
            var items = query.filter { $0.key != "$skiptoken" }.map { "\($0.key)=\(String($0.value).addingPercentEncoding(withAllowedCharacters: Self.queryValueAllowed) ?? "")" }
            items.append("$skiptoken=guid'\(last)'")
            result["__next"] = "\(baseURL)/api/v1/\(division.number)/\(address ?? linePath ?? entity.path)?\(items.joined(separator: "&"))"
        }
        return ["d": result]
    }

    func render(_ record: [String: Any], entity: ExactEntity?, expand: Bool) -> [String: Any] {
        var record = record
        if entity?.path == "logistics/Items", let number = record["Division"] as? Int, let division = divisions[number] {
            record["Stock"] = division.stock(item: record["ID"] as? String ?? "", warehouse: nil)
        }
        var out = ExactJSON.encodable(entity.map { ExactReference.shared.typed(record, path: $0.path) } ?? ExactReference.shared.withoutRowVersion(record))
        if let entity, let lines = entity.lines {
            let key = record[entity.key] as? String ?? ""
            let all = record[lines.property] as? [[String: Any]] ?? []
            if expand {
                // R-PAGE-3: an expanded collection holds at most a page; the rest is behind
                // its own `__next`, a read of the line set filtered on the header.
                let page = Array(all.prefix(options.pageSize))
                var expanded: [String: Any] = ["results": page.map { ExactJSON.encodable(ExactReference.shared.withoutRowVersion($0)) }]
                if all.count > page.count, let last = page.last?["ID"] as? String {
                    let filter = "\(lines.parentKey) eq guid'\(key)'".addingPercentEncoding(withAllowedCharacters: Self.queryValueAllowed) ?? ""
                    expanded["__next"] = "\(baseURL)/api/v1/\(record["Division"] ?? "")/\(lines.path)?$filter=\(filter)&$skiptoken=guid'\(last)'"
                }
                out[lines.property] = expanded
            } else {
                out[lines.property] = ["__deferred": ["uri": "\(baseURL)/api/v1/\(record["Division"] ?? "")/\(entity.path)(guid'\(key)')/\(lines.property)"]]
            }
        }
        return out
    }

    func select(_ record: [String: Any], _ query: [String: String]) -> [String: Any] {
        guard let text = query["$select"], !text.isEmpty else { return record }
        let fields = Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        return record.filter { fields.contains($0.key) }
    }

    static func decode(_ body: ByteBuffer?) throws(ExactError) -> [String: Any] {
        guard let body, let object = SandboxJSON.object(Data(buffer: body)) else {
            throw ExactError(status: 400, message: "The request body is not a JSON object")
        }
        return normalize(object)
    }

    /// Exact dates become Date, GUIDs lowercase. A property named `...Date` is an
    /// Edm.DateTime (all 89 such properties in the entity reference are), so Exact
    /// stores a plain `2026-03-05` or an ISO time sent for it as a date, as it does
    /// `/Date(ms)/`, and filters on it by time.
    static func normalize(_ object: [String: Any]) -> [String: Any] {
        var normalized: [String: Any] = [:]
        for (key, value) in object {
            if key.hasSuffix("Date"), let text = value as? String, let date = ExactJSON.parseDate(text) {
                normalized[key] = date
            } else {
                normalized[key] = normalize(value)
            }
        }
        return normalized
    }

    static func normalize(_ value: Any) -> Any {
        switch value {
        case let text as String:
            if text.hasPrefix("/Date("), let date = ExactJSON.parseDate(text) { return date }
            if text.count == 36, UUID(uuidString: text) != nil { return text.lowercased() }
            return text
        case let object as [String: Any]:
            return normalize(object)
        case let list as [Any]:
            return list.map(normalize)
        default:
            return value
        }
    }

    static let queryValueAllowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~$'(),:@/")

    static func fields(_ headers: [String: String]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers { if let field = HTTPField.Name(name) { fields[field] = value } }
        return fields
    }
}
