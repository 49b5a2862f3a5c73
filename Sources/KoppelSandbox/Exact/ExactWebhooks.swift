import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Exact Online's webhooks as the fake sends them (rules.md, R-HOOK-1 to R-HOOK-7):
/// a new subscription is validated with an empty POST to its callback before it is
/// made; afterwards every change to a record of a subscribed topic is announced by a
/// key-only envelope signed with the app's webhook secret, retried a few times while
/// the receiver fails.
final class ExactWebhooks: @unchecked Sendable {
    struct Options: Sendable {
        var clientID: String
        /// The app's webhook secret (Exact's App Center shows it to the app's maker).
        var secret: String
        /// R-HOOK-2: "about one second" between the subscription POST and the validation.
        var validationDelay: TimeInterval
        /// How long after a change its envelope goes out ("within minutes", R-HOOK-7).
        var deliveryDelay: TimeInterval
    }

    /// One envelope sent, for tests and the demo to see.
    struct Sent {
        var topic: String
        var key: String
        var action: String
        var status: Int?
    }

    /// Which changes each topic announces (R-HOOK-6): the entity set, the field whose value
    /// is the envelope's `Key`, and the entity set its `ExactOnlineEndpoint` names.
    /// Assumed: a change of stock is announced with the item's key and the item's address.
    static let topics: [String: (topic: String, keyField: String, endpoint: String)] = [
        "crm/Accounts": ("Accounts", "ID", "crm/Accounts"),
        "logistics/Items": ("Items", "ID", "logistics/Items"),
        "salesorder/SalesOrders": ("SalesOrders", "OrderID", "salesorder/SalesOrders"),
        "salesinvoice/SalesInvoices": ("SalesInvoices", "InvoiceID", "salesinvoice/SalesInvoices"),
        "inventory/ItemWarehouses": ("StockPositions", "Item", "logistics/Items"),
    ]

    /// R-HOOK-6: the topics Exact lists in `webhooks/WebhookTopics`.
    static let knownTopics: Set<String> = [
        "Accounts", "Contacts", "BankAccounts", "Items", "StockPositions", "SalesOrders", "SalesInvoices", "GoodsDeliveries", "SalesEntries",
        "PurchaseOrders", "PurchaseEntries", "Quotations", "FinancialTransactions", "GeneralJournalEntries", "BankEntries", "CashEntries",
        "GLAccounts", "Documents", "CostTransactions", "TimeTransactions", "ProjectPlanning", "Subscriptions",
    ]

    static let subscriptionSet = "webhooks/WebhookSubscriptions"

    let options: Options
    /// The fake's own address, for `ExactOnlineEndpoint`.
    var baseURL = ""
    private let lock = NSLock()
    private var sentList: [Sent] = []
    /// Waits between attempts of one envelope while the receiver fails (R-HOOK-7 says ten
    /// over some 34 hours; the fake tries four times within seconds).
    let retryDelays: [TimeInterval] = [1, 2, 4]

    init(options: Options) {
        self.options = options
    }

    var sent: [Sent] { lock.withLock { sentList } }

    /// Checks a subscription before it is made; nil when Exact would make it, else the
    /// refusal. R-HOOK-1: `CallbackURL` and `Topic` are mandatory (checked with the
    /// entity's properties). R-HOOK-5: the callback must be https (a loopback address
    /// is let through for the sandbox). R-HOOK-7: a second subscription on a topic of the
    /// division fails. R-HOOK-2: the empty POST must be answered 2xx.
    func admit(_ body: [String: Any], division: ExactDivision) async -> ExactError? {
        guard let url = body["CallbackURL"] as? String, let callback = URL(string: url), let topic = body["Topic"] as? String else {
            return nil  // the entity's own check names what is missing
        }
        let loopback = ["127.0.0.1", "localhost", "::1"].contains(callback.host ?? "")
        guard callback.scheme == "https" || (callback.scheme == "http" && loopback) else {
            return ExactError(status: 400, message: "CallbackURL: Only secure (https) callback URLs are allowed")
        }
        guard Self.knownTopics.contains(topic) else { return ExactError(status: 400, message: "Topic: Unknown topic \(topic)") }
        let taken = division.lock.withLock { division.all(Self.subscriptionSet).contains { $0["Topic"] as? String == topic } }
        if taken { return ExactError(status: 500, message: "Data already exists") }
        try? await Task.sleep(for: .milliseconds(Int(options.validationDelay * 1000)))
        var request = URLRequest(url: callback)
        request.httpMethod = "POST"
        request.httpBody = Data()
        request.timeoutInterval = 10
        guard let (_, response) = try? await URLSession.shared.data(for: request), let status = (response as? HTTPURLResponse)?.statusCode else {
            return ExactError(status: 500, message: "Invalid: Post to callback URL endpoint returns 500 An error occurred while sending the request.")
        }
        guard (200..<300).contains(status) else {
            return ExactError(status: 500, message: "Invalid: Post to callback URL endpoint returns \(status)")
        }
        return nil
    }

    /// Announces a change of `record` in `path` to the division's subscriptions of its
    /// topic. Called with the division's lock held; the envelopes go out later.
    func changed(_ path: String, _ record: [String: Any], deleted: Bool, division: ExactDivision) {
        guard let (topic, keyField, endpoint) = Self.topics[path], let key = record[keyField] as? String else { return }
        let callbacks = division.all(Self.subscriptionSet).filter { $0["Topic"] as? String == topic }.compactMap { $0["CallbackURL"] as? String }
        guard !callbacks.isEmpty else { return }
        let action = deleted ? "Delete" : "Update"  // R-HOOK-3: creates arrive as Update
        let content = Self.content([
            ("Topic", topic), ("ClientId", options.clientID), ("Division", division.number), ("Action", action), ("Key", key),
            ("ExactOnlineEndpoint", "\(baseURL)/api/v1/\(division.number)/\(endpoint)(guid'\(key)')"), ("EventCreatedOn", Self.eventTime(Date())),
        ])
        // R-HOOK-4: upper-case hex HMAC-SHA256 of the raw `Content` text.
        let hash = HMAC<SHA256>.authenticationCode(for: Data(content.utf8), using: SymmetricKey(data: Data(options.secret.utf8)))
            .map { String(format: "%02X", $0) }.joined()
        let body = Data("{\"Content\":\(content),\"HashCode\":\"\(hash)\"}".utf8)
        for callback in callbacks {
            Task.detached { await self.deliver(body, to: callback, sent: Sent(topic: topic, key: key, action: action)) }
        }
    }

    private func deliver(_ body: Data, to callback: String, sent: Sent) async {
        guard let url = URL(string: callback) else { return }
        try? await Task.sleep(for: .milliseconds(Int(options.deliveryDelay * 1000)))
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.httpBody = body
        request.timeoutInterval = 10
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        var outcome = sent
        for wait in retryDelays + [0] {
            let status = (try? await URLSession.shared.data(for: request)).flatMap { ($0.1 as? HTTPURLResponse)?.statusCode }
            outcome.status = status
            if let status, (200..<300).contains(status) { break }
            if wait > 0 { try? await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
        }
        let done = outcome
        lock.withLock { sentList.append(done) }
    }

    /// A JSON object with its members in the given order, as Exact writes `Content`.
    static func content(_ members: [(String, Any)]) -> String {
        let parts = members.map { name, value -> String in
            let text = value is String
                ? String(decoding: (try? JSONSerialization.data(withJSONObject: [value], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8), as: UTF8.self)
                    .dropFirst().dropLast().description
                : "\(value)"
            return "\"\(name)\":\(text)"
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// Exact's event time: local (Amsterdam) time without an offset, to hundredths of a
    /// second (R-HOOK-3's example).
    static func eventTime(_ date: Date) -> String {
        ExactJSON.formatter("yyyy-MM-dd'T'HH:mm:ss.SS", zone: "Europe/Amsterdam").string(from: date)
    }
}
