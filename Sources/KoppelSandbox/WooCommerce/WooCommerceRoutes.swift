import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A webhook as WooCommerce keeps it.
struct Webhook {
    var id: Int
    var name: String
    var topic: String
    var deliveryURL: String
    var secret: String
    var status: String
    var failures: Int
    var created: Date
    var modified: Date

    /// As `GET /webhooks` shows it (captured/webhooks.json): the secret is shown only in
    /// the edit context and the failure count not at all.
    var json: [String: Any] {
        let parts = topic.split(separator: ".").map(String.init)
        return ["id": id, "name": name, "status": status, "topic": topic, "resource": parts.first ?? "", "event": parts.last ?? "",
                "hooks": Self.hooks[topic] ?? [], "delivery_url": deliveryURL,
                "date_created": WooCommerceSandbox.wooDate(created), "date_created_gmt": WooCommerceSandbox.wooDate(created),
                "date_modified": WooCommerceSandbox.wooDate(modified), "date_modified_gmt": WooCommerceSandbox.wooDate(modified)]
    }

    /// The WordPress actions behind the topics the captured shop showed.
    static let hooks = ["order.created": ["woocommerce_new_order"], "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"]]
}

/// A delivery waiting in the shop's queue.
struct QueuedDelivery {
    var webhook: Int
    var topic: String
    var body: Data
}

/// What the fake delivered: for tests to see signatures, topics and outcomes.
final class WebhookDeliveries: @unchecked Sendable {
    struct Delivery {
        var webhook: Int
        var topic: String
        var status: Int?
        var deliveryID = ""
    }
    private let lock = NSLock()
    private var list: [Delivery] = []
    func add(_ delivery: Delivery) { lock.withLock { list.append(delivery) } }
    var all: [Delivery] { lock.withLock { list } }
}

extension WooCommerceSandbox {
    func routes(_ router: Router<SandboxContext>) {
        let api = "/wp-json/wc/v3"
        router.add(middleware: WooNoRouteMiddleware())
        router.get(RouterPath(api)) { _, _ -> Response in
            // The namespace's index, public as in WordPress (the routes it lists, abridged).
            let routes = ["orders", "orders/(?P<id>[\\d]+)", "orders/(?P<order_id>[\\d]+)/refunds", "customers", "products",
                          "products/(?P<product_id>[\\d]+)/variations", "webhooks"]
            return .json(["namespace": "wc/v3", "routes": Dictionary(uniqueKeysWithValues: routes.map { ("/wc/v3/\($0)", ["namespace": "wc/v3"]) })])
        }
        for (path, collection, dateField) in [("orders", \WooCommerceSandbox.orders, "date_created"), ("customers", \WooCommerceSandbox.customers, "date_created"),
                                              ("products", \WooCommerceSandbox.products, "date_created")] {
            router.get("\(api)/\(path)") { request, _ -> Response in
                if let denied = self.authenticate(request, listing: true) { return denied }
                var records = self.lock.withLock { Array(self[keyPath: collection].values) }
                switch path {
                case "customers":
                    // `role` defaults to customer (schema-customers.json); `all` takes staff too.
                    let role = request.uri.queryParameters["role"].map(String.init) ?? "customer"
                    if role != "all" { records = records.filter { $0["role"] as? String == role } }
                case "products":
                    // Variations are listed under their parent only.
                    records = records.filter { $0["type"] as? String != "variation" }
                default: break
                }
                let response = self.list(request, records: records, dateField: dateField, kind: path)
                if path == "orders" { self.applyChangeDuringRead() }
                return response
            }
            router.get("\(api)/\(path)/:id") { request, context -> Response in
                if let denied = self.authenticate(request, listing: false) { return denied }
                guard let id = context.parameters.get("id", as: Int.self), let record = self.lock.withLock({ self[keyPath: collection][id] }) else {
                    return Self.error("woocommerce_rest_\(path.dropLast())_invalid_id", "Invalid ID.", status: 404)
                }
                return .json(record)
            }
            router.put("\(api)/\(path)/:id") { request, context -> Response in
                if let denied = self.authenticate(request, listing: false) { return denied }
                guard let id = context.parameters.get("id", as: Int.self) else { return Self.error("rest_invalid_param", "Invalid ID.", status: 400) }
                var request = request
                guard let changes = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))) else {
                    return Self.error("rest_invalid_json", "Invalid JSON body passed.", status: 400)
                }
                let updated: [String: Any]? = self.lock.withLock {
                    guard var record = self[keyPath: collection][id] else { return nil }
                    for (key, value) in changes where key != "id" {
                        if var nested = record[key] as? [String: Any], let patch = value as? [String: Any] {
                            for (k, v) in patch { nested[k] = v }
                            record[key] = nested
                        } else {
                            record[key] = Self.plain(value)
                        }
                    }
                    let now = Self.wooDate(Date())
                    record["date_modified"] = now
                    record["date_modified_gmt"] = now
                    self[keyPath: collection][id] = record
                    return record
                }
                guard let updated else { return Self.error("woocommerce_rest_\(path.dropLast())_invalid_id", "Invalid ID.", status: 404) }
                self.fire("\(path.dropLast()).updated", payload: updated)
                return .json(updated)
            }
            router.post("\(api)/\(path)") { request, _ -> Response in
                if let denied = self.authenticate(request, listing: false) { return denied }
                var request = request
                guard var record = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20)))?.mapValues(Self.plain) else {
                    return Self.error("rest_invalid_json", "Invalid JSON body passed.", status: 400)
                }
                if path == "customers", let email = record["email"] as? String,
                    self.lock.withLock({ self.customers.values.contains { ($0["email"] as? String)?.lowercased() == email.lowercased() } })
                {
                    return Self.error("registration-error-email-exists", "An account is already registered with your email address.", status: 400)
                }
                let id = self.newID()
                if path == "orders" {
                    switch self.createOrder(record, id: id, at: Date()) {
                    case .success(let order): record = order
                    case .failure(let error): return Self.error(error.code, error.message, status: error.status)
                    }
                } else {
                    let now = Self.wooDate(Date())
                    record["id"] = id
                    for field in ["date_created", "date_created_gmt", "date_modified", "date_modified_gmt"] { record[field] = now }
                    if path == "customers" {
                        record["role"] = "customer"
                        // WooCommerce e-mails the new customer (wc_create_new_customer).
                        self.lock.withLock { self.accountEmails.append(record["email"] as? String ?? "") }
                    }
                }
                self.lock.withLock { self[keyPath: collection][id] = record }
                self.fire("\(path.dropLast()).created", payload: record)
                return .json(record, status: 201)
            }
        }
        router.get("\(api)/products/:id/variations") { request, context -> Response in
            if let denied = self.authenticate(request, listing: true) { return denied }
            let id = context.parameters.get("id", as: Int.self) ?? 0
            let variations = self.lock.withLock { self.products.values.filter { $0["parent_id"] as? Int == id && $0["type"] as? String == "variation" } }
            return self.list(request, records: variations, dateField: "date_created", kind: "variations")
        }
        router.get("\(api)/orders/:id/notes") { request, context -> Response in
            if let denied = self.authenticate(request, listing: true) { return denied }
            let id = context.parameters.get("id", as: Int.self) ?? 0
            guard self.lock.withLock({ self.orders[id] }) != nil else {
                return Self.error("woocommerce_rest_order_invalid_id", "Invalid order ID.", status: 404)
            }
            return .json(self.lock.withLock { self.notes[id] ?? [] })
        }
        router.post("\(api)/orders/:id/notes") { request, context -> Response in
            if let denied = self.authenticate(request, listing: false) { return denied }
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            let id = context.parameters.get("id", as: Int.self) ?? 0
            guard let text = body["note"] as? String, !text.isEmpty else {
                return Self.error("rest_missing_callback_param", "Missing parameter(s): note", status: 400)
            }
            let note: [String: Any]? = self.lock.withLock {
                guard self.orders[id] != nil else { return nil }
                let stamp = Self.wooDate(Date())
                let note: [String: Any] = ["id": self.nextChildID(), "author": "WooCommerce", "date_created": stamp, "date_created_gmt": stamp,
                                           "note": text, "customer_note": body["customer_note"] as? Bool ?? false]
                self.notes[id, default: []].insert(note, at: 0)
                return note
            }
            guard let note else { return Self.error("woocommerce_rest_order_invalid_id", "Invalid order ID.", status: 404) }
            return .json(note, status: 201)
        }
        router.get("\(api)/orders/:id/refunds") { request, context -> Response in
            if let denied = self.authenticate(request, listing: true) { return denied }
            let id = context.parameters.get("id", as: Int.self) ?? 0
            guard self.lock.withLock({ self.orders[id] }) != nil else {
                return Self.error("woocommerce_rest_order_invalid_id", "Invalid order ID.", status: 404)
            }
            return self.list(request, records: self.lock.withLock { self.refunds[id] ?? [] }, dateField: "date_created", kind: "refunds")
        }
        router.get("\(api)/webhooks") { request, _ -> Response in
            if let denied = self.authenticate(request, listing: true) { return denied }
            return .json(self.lock.withLock { self.webhooks.values.sorted { $0.id < $1.id }.map(\.json) })
        }
        router.get("\(api)/webhooks/:id") { request, context -> Response in
            if let denied = self.authenticate(request, listing: false) { return denied }
            guard let id = context.parameters.get("id", as: Int.self), let hook = self.lock.withLock({ self.webhooks[id] }) else {
                return Self.error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", status: 404)
            }
            return .json(hook.json)
        }
        router.post("\(api)/webhooks") { request, _ -> Response in
            if let denied = self.authenticate(request, listing: false) { return denied }
            var request = request
            guard let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))),
                let topic = body["topic"] as? String, let url = body["delivery_url"] as? String
            else { return Self.error("rest_missing_callback_param", "Missing parameter(s): topic, delivery_url", status: 400) }
            guard Self.validTopic(topic) else {
                return Self.error("woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid.", status: 400)
            }
            let hook = Webhook(id: self.newID(), name: body["name"] as? String ?? topic, topic: topic, deliveryURL: url,
                               secret: body["secret"] as? String ?? "", status: body["status"] as? String ?? "active", failures: 0, created: Date(),
                               modified: Date())
            self.lock.withLock { self.webhooks[hook.id] = hook }
            // WooCommerce pings the delivery URL when a webhook is saved.
            self.deliver(hook, topic: "action.woocommerce_webhook_ping", body: Data("webhook_id=\(hook.id)".utf8), form: true)
            return .json(hook.json, status: 201)
        }
        router.put("\(api)/webhooks/:id") { request, context -> Response in
            if let denied = self.authenticate(request, listing: false) { return denied }
            var request = request
            guard let id = context.parameters.get("id", as: Int.self),
                let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20)))
            else { return Self.error("rest_invalid_param", "Invalid request.", status: 400) }
            let updated: Webhook? = self.lock.withLock {
                guard var hook = self.webhooks[id] else { return nil }
                if let status = body["status"] as? String {
                    hook.status = status
                    if status == "active" { hook.failures = 0 }
                }
                if let url = body["delivery_url"] as? String { hook.deliveryURL = url }
                if let secret = body["secret"] as? String { hook.secret = secret }
                hook.modified = Date()
                self.webhooks[id] = hook
                return hook
            }
            guard let updated else { return Self.error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", status: 404) }
            return .json(updated.json)
        }
        router.delete("\(api)/webhooks/:id") { request, context -> Response in
            if let denied = self.authenticate(request, listing: false) { return denied }
            // Webhooks have no trash: only `force=true` deletes one (WC_REST_Webhooks_V1_Controller::delete_item).
            guard request.uri.queryParameters["force"] == "true" else {
                return Self.error("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", status: 501)
            }
            let id = context.parameters.get("id", as: Int.self) ?? 0
            guard let hook = self.lock.withLock({ self.webhooks.removeValue(forKey: id) }) else {
                return Self.error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", status: 404)
            }
            return .json(hook.json)
        }

        // Control and inspection, for tests and the demo.
        router.post("/_sandbox/woocommerce/orders") { request, _ -> Response in
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 20))) ?? [:]
            let count = (body["count"] as? Decimal).map { NSDecimalNumber(decimal: $0).intValue } ?? 1
            // `"status"`: the new orders' status (default processing).
            // `"repeat_customers": true`: bought by the shop's own customers, from its own
            // products (same seed); otherwise by new customers.
            var options = body["repeat_customers"] as? Bool == true ? self.seedOptions : SeedData.Options()
            if body["repeat_customers"] as? Bool != true { options.seed = UInt64(Date().timeIntervalSince1970 * 1000) }
            options.testOrderEvery = 0
            options.orders = count
            options.until = Date()
            options.days = 1
            let generated = SeedData(options)
            var created: [[String: Any]] = []
            for order in generated.orders {
                var fresh = order
                fresh.id = self.newID()
                fresh.number = String(fresh.id)
                fresh.status = body["status"] as? String ?? "processing"
                fresh.created = Date()
                // `"modified": "2026-01-01T10:00:00Z"`: a late arrival sharing an older second.
                fresh.modified = (body["modified"] as? String).flatMap(Self.parseWooDate) ?? Date()
                fresh.paid = Date()
                let record = Self.render(fresh)
                self.lock.withLock { self.orders[fresh.id] = record }
                self.fire("order.created", payload: record)
                created.append(record)
            }
            return .json(created, status: 201)
        }
        router.post("/_sandbox/woocommerce/change-during-read") { request, _ -> Response in
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            guard let id = (body["order"] as? Decimal).map({ NSDecimalNumber(decimal: $0).intValue }) else {
                return .json(["error": "give {\"order\": id}"], status: 400)
            }
            self.lock.withLock { self.changeDuringRead = id }
            return .json(["order": id])
        }
        router.post("/_sandbox/woocommerce/orders/:id/refund") { request, context -> Response in
            // `{"lines": [{"line": 0, "quantity": 1}], "reason": "..."}` or `{"amount": "10.00"}`.
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            let id = context.parameters.get("id", as: Int.self) ?? 0
            let lines = (body["lines"] as? [[String: Any]] ?? []).map { line in
                ((line["line"] as? Decimal).map { NSDecimalNumber(decimal: $0).intValue } ?? 0,
                 (line["quantity"] as? Decimal).map { NSDecimalNumber(decimal: $0).intValue } ?? 1)
            }
            let amount = (body["amount"] as? String).flatMap { Decimal(string: $0) }
            guard !lines.isEmpty || amount != nil else { return .json(["error": "give lines or amount"], status: 400) }
            guard let refund = self.refund(order: id, lines: lines, amount: amount, reason: body["reason"] as? String ?? "", at: Date()) else {
                return .json(["error": "no order \(id)"], status: 404)
            }
            return .json(refund, status: 201)
        }
        router.post("/_sandbox/woocommerce/host") { request, _ -> Response in
            // `{"plain_permalinks": true, "strips_authorization": true}`: how the shop is hosted.
            var request = request
            let body = SandboxJSON.object(Data(buffer: try await request.collectBody(upTo: 1 << 16))) ?? [:]
            self.lock.withLock {
                if let plain = body["plain_permalinks"] as? Bool { self.plainPermalinks = plain }
                if let strips = body["strips_authorization"] as? Bool { self.stripsAuthorization = strips }
            }
            return .json(self.lock.withLock { ["plain_permalinks": self.plainPermalinks, "strips_authorization": self.stripsAuthorization] })
        }
        router.get("/_sandbox/woocommerce/emails") { _, _ -> Response in
            .json(["account_created": self.lock.withLock { self.accountEmails }])
        }
        router.get("/_sandbox/woocommerce/webhooks") { _, _ -> Response in
            let hooks = self.lock.withLock {
                self.webhooks.values.sorted { $0.id < $1.id }.map { hook in hook.json.merging(["failure_count": hook.failures]) { a, _ in a } }
            }
            let deliveries = self.deliveries.all.map { ["webhook": $0.webhook, "topic": $0.topic, "status": $0.status ?? 0, "delivery_id": $0.deliveryID] }
            return .json(["webhooks": hooks, "deliveries": deliveries])
        }
    }

    /// Changes the order set by `change-during-read` (once): its note and modification
    /// time, so it moves to the end of a read ordered by modification.
    func applyChangeDuringRead() {
        lock.withLock {
            guard let id = changeDuringRead, var order = orders[id] else { return }
            changeDuringRead = nil
            let now = Self.wooDate(Date())
            order["customer_note"] = "Graag na 17:00 bezorgen"
            order["date_modified"] = now
            order["date_modified_gmt"] = now
            orders[id] = order
        }
    }

    /// Values from a JSON body, with decimals back as the strings WooCommerce uses.
    static func plain(_ value: Any) -> Any {
        switch value {
        case let d as Decimal: NSDecimalNumber(decimal: d)
        case let o as [String: Any]: o.mapValues(plain)
        case let a as [Any]: a.map(plain)
        default: value
        }
    }

    /// A page of a collection with WooCommerce's filters, ordering and paging headers.
    func list(_ request: Request, records: [[String: Any]], dateField: String, kind: String) -> Response {
        let query = request.uri.queryParameters
        let perPage = query["per_page"].flatMap { Int(String($0)) } ?? 10
        guard (1...100).contains(perPage) else {
            // WooCommerce's whole answer (captured/error-per-page-200.json).
            let reason = "per_page must be between 1 (inclusive) and 100 (inclusive)"
            return .json(["code": "rest_invalid_param", "message": "Invalid parameter(s): per_page",
                          "data": ["status": 400, "params": ["per_page": reason],
                                   "details": ["per_page": ["code": "rest_out_of_bounds", "message": reason, "data": NSNull()]]]], status: 400)
        }
        let page = max(1, query["page"].flatMap { Int(String($0)) } ?? 1)
        let gmt = query["dates_are_gmt"].map { ["1", "true"].contains(String($0)) } ?? false
        var rows = records
        if let status = query["status"].map(String.init), status != "any" {
            let wanted = Set(status.split(separator: ",").map(String.init))
            rows = rows.filter { wanted.contains($0["status"] as? String ?? "") }
        }
        // Every date the fake writes has one fixed width (wooDate), so comparing the text
        // compares the times, without parsing a date per record (a shop of 100,000 orders
        // is read a page at a time).
        for (parameter, field, after) in [("after", "date_created", true), ("before", "date_created", false),
                                          ("modified_after", "date_modified", true), ("modified_before", "date_modified", false)] {
            guard let text = query[Substring(parameter)].map(String.init) else { continue }
            guard let limit = Self.parseWooDate(text) else {
                return .json(["code": "rest_invalid_param", "message": "Invalid parameter(s): \(parameter)", "data": ["status": 400]], status: 400)
            }
            let bound = Self.wooDate(limit), name = gmt ? "\(field)_gmt" : field
            rows = rows.filter { record in (record[name] as? String).map { after ? $0 > bound : $0 < bound } ?? false }
        }
        if let email = query["email"].map(String.init) { rows = rows.filter { ($0["email"] as? String)?.lowercased() == email.lowercased() } }
        if let sku = query["sku"].map(String.init) { rows = rows.filter { $0["sku"] as? String == sku } }
        if let customer = query["customer"].flatMap({ Int(String($0)) }) { rows = rows.filter { $0["customer_id"] as? Int == customer } }
        if let search = query["search"].map({ String($0).lowercased() }) {
            rows = rows.filter { "\($0)".lowercased().contains(search) }
        }
        let orderBy = query["orderby"].map(String.init) ?? (kind == "customers" ? "name" : "date")
        let ascending = (query["order"].map(String.init) ?? (kind == "customers" ? "asc" : "desc")) == "asc"
        func sortKey(_ record: [String: Any]) -> (String, Int) {
            let id = record["id"] as? Int ?? 0
            switch orderBy {
            case "id", "include": return ("", id)
            case "modified": return (record["date_modified_gmt"] as? String ?? "", id)
            case "name", "title": return ((record["name"] ?? record["last_name"]) as? String ?? "", id)
            default: return (record["date_created_gmt"] as? String ?? "", id)
            }
        }
        let total = rows.count
        let pages = max(1, (total + perPage - 1) / perPage)
        // `offset` takes the place of the page (schema-orders.json).
        let start = query["offset"].flatMap { Int(String($0)) }.map { max(0, $0) } ?? (page - 1) * perPage
        let leading = Self.first(start + perPage, of: rows.map { (sortKey($0), $0) }, by: ascending ? { $0 < $1 } : { $0 > $1 })
        let slice = start < leading.count ? leading[start...].map(\.1) : []
        var headers = ["X-WP-Total": String(total), "X-WP-TotalPages": String(pages)]
        if page < pages { headers["Link"] = "<\(baseURL)\(request.uri.path)?page=\(page + 1)&per_page=\(perPage)>; rel=\"next\"" }
        return .json(slice.map { $0.filter { !$0.key.hasPrefix("_") } }, headers: headers)
    }

    /// The first `count` of `rows` in the order `before` gives, without sorting them all
    /// when only a page is wanted.
    static func first<Key>(_ count: Int, of rows: [(Key, [String: Any])], by before: (Key, Key) -> Bool) -> [(Key, [String: Any])] {
        guard count < rows.count / 4 else { return Array(rows.sorted { before($0.0, $1.0) }.prefix(count)) }
        var best: [(Key, [String: Any])] = []
        best.reserveCapacity(count + 1)
        for row in rows where best.count < count || before(row.0, best[best.count - 1].0) {
            var low = 0, high = best.count
            while low < high {
                let middle = (low + high) / 2
                if before(row.0, best[middle].0) { high = middle } else { low = middle + 1 }
            }
            best.insert(row, at: low)
            if best.count > count { best.removeLast() }
        }
        return best
    }

    static func parseWooDate(_ text: String) -> Date? {
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: text) { return date }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return formatter.date(from: text)
    }

    // MARK: Webhooks out

    /// Queues a delivery to every active webhook of `topic`, as WooCommerce schedules one
    /// per event (`woocommerce_deliver_webhook_async`); the queue is worked off in
    /// batches every `deliveryInterval`, so deliveries come late and bunched.
    func fire(_ topic: String, payload: [String: Any]) {
        guard let body = try? JSONSerialization.data(withJSONObject: payload, options: [.sortedKeys]) else { return }
        let start = lock.withLock { () -> Bool in
            let hooks = webhooks.values.filter { $0.topic == topic && $0.status == "active" }
            queuedDeliveries += hooks.sorted { $0.id < $1.id }.map { QueuedDelivery(webhook: $0.id, topic: topic, body: body) }
            guard !queuedDeliveries.isEmpty, !deliveringQueue else { return false }
            deliveringQueue = true
            return true
        }
        guard start else { return }
        Task.detached { await self.workOffQueue() }
    }

    /// Sends the queue a batch at a time until it is empty.
    private func workOffQueue() async {
        while true {
            try? await Task.sleep(for: .milliseconds(Int(options.deliveryInterval * 1000)))
            let batch = lock.withLock { () -> [(QueuedDelivery, Webhook)] in
                let taken = queuedDeliveries.prefix(options.deliveryBatch)
                queuedDeliveries.removeFirst(taken.count)
                if taken.isEmpty { deliveringQueue = false }
                return taken.compactMap { delivery in webhooks[delivery.webhook].map { (delivery, $0) } }
            }
            if batch.isEmpty && lock.withLock({ !deliveringQueue }) { return }
            for (delivery, hook) in batch { await send(hook, topic: delivery.topic, body: delivery.body, form: false) }
        }
    }

    /// WooCommerce's delivery id: `wp_hash(webhook_id . strtotime('now'))`, so every
    /// delivery of one webhook within a second carries the same id (reference README).
    static func deliveryID(webhook: Int, at now: Date = Date()) -> String {
        Insecure.MD5.hash(data: Data("\(webhook)\(Int(now.timeIntervalSince1970))".utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Sends the ping WooCommerce sends when a webhook is saved, in the background.
    func deliver(_ hook: Webhook, topic: String, body: Data, form: Bool) {
        Task.detached { await self.send(hook, topic: topic, body: body, form: form) }
    }

    /// Sends one delivery, signed as WooCommerce signs it; counts failures and disables
    /// the webhook once they pass `maxDeliveryFailures` (2xx, 301 and 302 are
    /// successes, and one resets the count). The ping is, as in WooCommerce, unsigned:
    /// `webhook_id=N` and a user agent.
    func send(_ hook: Webhook, topic: String, body: Data, form: Bool) async {
        let signature = Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(hook.secret.utf8)))).base64EncodedString()
        var request = URLRequest(url: URL(string: hook.deliveryURL)!)
        request.httpMethod = "POST"
        request.httpBody = body
        request.timeoutInterval = 5
        let parts = topic.split(separator: ".")
        var headers = [
            ("Content-Type", form ? "application/x-www-form-urlencoded" : "application/json"),
            ("User-Agent", "WooCommerce/9.4.0 Hookshot (WordPress/6.7)"),
        ]
        if !form {
            headers += [
                ("X-WC-Webhook-Source", baseURL + "/"), ("X-WC-Webhook-Topic", topic),
                ("X-WC-Webhook-Resource", parts.first.map(String.init) ?? ""), ("X-WC-Webhook-Event", parts.last.map(String.init) ?? ""),
                ("X-WC-Webhook-Signature", signature), ("X-WC-Webhook-ID", String(hook.id)), ("X-WC-Webhook-Delivery-ID", Self.deliveryID(webhook: hook.id)),
            ]
        }
        for (name, value) in headers {
            request.setValue(value, forHTTPHeaderField: name)
        }
        let id = hook.id, deliveryID = form ? "" : request.value(forHTTPHeaderField: "X-WC-Webhook-Delivery-ID") ?? ""
        var status: Int?
        if let (_, response) = try? await URLSession.shared.data(for: request) { status = (response as? HTTPURLResponse)?.statusCode }
        let ok = status.map { (200..<300).contains($0) || $0 == 301 || $0 == 302 } ?? false
        deliveries.add(.init(webhook: id, topic: topic, status: status, deliveryID: deliveryID))
        lock.withLock {
            guard !form, var current = webhooks[id] else { return }
            current.failures = ok ? 0 : current.failures + 1
            if current.failures > options.maxDeliveryFailures { current.status = "disabled" }
            webhooks[id] = current
        }
    }
}
