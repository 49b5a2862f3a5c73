import Foundation
import KoppelPluginSDK

/// The record a flow hands to the `orders` stream: a canonical order, plus the Winstore
/// `customer_id` a value map of the flow's mapping may add (buyers mapped to Winstore
/// customers; R3.5: without one, the walk-in customer).
struct WinstoreOrderRecord: Decodable {
    var order: Order
    var customerID: Int?

    enum CodingKeys: String, CodingKey {
        case customerID = "customer_id"
    }

    init(from decoder: Decoder) throws {
        order = try Order(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // A value map may give the id as a number or as text.
        customerID = (try? container.decodeIfPresent(Int.self, forKey: .customerID)) ?? (try? container.decodeIfPresent(String.self, forKey: .customerID)).flatMap { $0.flatMap(Int.init) }
    }
}

/// Places an order with `PostOrderWithStatusCode` (R3.1): one `<order>` element whose
/// children come in the client's order, the country as its Dutch name, one position per
/// product line at its price including VAT.
///
/// Winstore cannot be asked whether it has an order (R3.6), so the connection keeps its
/// own record of what it sent: an order number is marked as being sent before the call
/// and as sent after it. A retry after a lost answer (the host reconciles) finds the
/// mark and parks the order for a person to look in Winstore, rather than sending it a
/// second time; the replay that person starts sends it. An order marked sent is found,
/// not sent again.
struct WinstoreOrderWriter {
    static let walkIn = 999_999

    let api: WinstoreAPI
    let branch: Int
    let channel: String
    let customerID: Int
    let productID: String

    /// R3.1: the countries a Winstore order names, by their Dutch names.
    static let dutchCountryNames = [
        "NL": "Nederland", "BE": "België", "DE": "Duitsland", "FR": "Frankrijk", "LU": "Luxemburg", "GB": "Verenigd Koninkrijk",
        "AT": "Oostenrijk", "ES": "Spanje", "IT": "Italië", "DK": "Denemarken", "SE": "Zweden", "PL": "Polen", "US": "Verenigde Staten",
        "IE": "Ierland", "PT": "Portugal", "CH": "Zwitserland", "NO": "Noorwegen", "FI": "Finland", "CZ": "Tsjechië", "GR": "Griekenland",
    ]

    /// The answer's status (its shape is not published; read tolerantly).
    private struct Reply: Decodable {
        var StatusCode: JSONValue?
        var Message: String?
    }

    private func mark(_ number: String) -> String { "order:\(number)" }

    func write(_ record: WinstoreOrderRecord, reconcile: Bool) throws(ConnectorError) -> WriteResult {
        let order = record.order
        let state = api.host.state
        switch try state.get(mark(order.number)) {
        case "sent"?:
            return .found(order.number)
        case "sending"? where reconcile:
            // Parked for a person; the replay they start after looking sends it.
            try state.set(mark(order.number), "unsure")
            throw .conflict("order \(order.number) was sent to Winstore but its answer was lost, and Winstore cannot be asked whether it arrived: look for order \(order.number) in Winstore; only if it is not there, send it with `koppel replay FLOW --record \(order.sourceKey)`")
        default:
            break
        }
        let xml = try Self.xml(order, customerID: record.customerID ?? customerID, branch: branch, channel: channel, productID: productID)
        try state.set(mark(order.number), "sending")
        let response: HTTPResponse
        do {
            response = try api.post("PostOrderWithStatusCode", xml: xml)
        } catch .invalidData(let reason) {
            // Refused (4xx): nothing arrived, so nothing is marked.
            try state.delete(mark(order.number))
            throw .invalidData(reason)
        }
        let replies = (try? response.decode([Reply].self, "Winstore's answer")) ?? [(try? response.decode(Reply.self, "Winstore's answer"))].compactMap { $0 }
        let code = replies.first?.StatusCode.flatMap { Int($0.comparableText) }
        if let code, !(200..<300).contains(code) {
            try state.delete(mark(order.number))
            throw .invalidData("Winstore refused order \(order.number): \(replies.first?.Message ?? "no message") (status code \(code)); an article it does not know must be made in Winstore, then replay the order")
        }
        try state.set(mark(order.number), "sent")
        return .created(order.number)
    }

    /// The order as Winstore's `<order>` element (R3.1), unindented as the client sends it.
    static func xml(_ order: Order, customerID: Int, branch: Int, channel: String, productID: String) throws(ConnectorError) -> String {
        let address = order.billingAddress
        guard let country = dutchCountryNames[address.country.uppercased()] else {
            throw .invalidData("order \(order.number): Winstore names countries in Dutch, and Koppel knows no Dutch name for \(address.country)")
        }
        var positions = ""
        for line in order.lines {
            guard let sku = line.sku, !sku.isEmpty else { continue }  // costs are not articles
            let id = productID == "gtin" ? (line.ean ?? "") : sku
            guard !id.isEmpty else { throw .invalidData("order \(order.number): line \"\(line.name)\" has no \(productID) to name a Winstore article by") }
            // R3.7: a retail system's prices include VAT; the line's total after its discount.
            let total = order.pricesIncludeVAT ? line.total : line.total + line.vatAmount
            let single = line.quantity.value == 0 ? total : DecimalNumber(total.value / line.quantity.value).rounded(2)
            positions += "<position>" + element("product_id", id) + element("amount", line.quantity.description)
                + element("single_price", single.description) + element("type", "S") + element("branch", String(branch)) + "</position>"
        }
        guard !positions.isEmpty else { throw .invalidData("order \(order.number) has no article lines for Winstore") }
        let buyer = order.customer
        let name = address.name.map { $0.split(separator: " ", maxSplits: 1).map(String.init) } ?? []
        var street = address.street ?? "", number = address.houseNumber, suffix = address.houseNumberSuffix
        if number == nil { (street, number, suffix) = Address.splitStreetLine(street) }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><order>"
            + element("ordernr", order.number)
            + element("orderdate", ZonedTimeFormat.dutch.string(order.createdAt))
            + element("customerid", String(customerID))
            + element("email", buyer.email ?? "")
            + element("branch", String(branch))
            + element("channel", channel)
            + element("total", order.totals.total.description)
            + element("currency", order.currency)
            + "<invoice_add>"
            + element("fname", buyer.firstName ?? (name.count > 1 ? name[0] : ""))
            + element("lname", buyer.lastName ?? name.last ?? buyer.companyName ?? "")
            + element("street", street)
            + element("streetnr", (number ?? "") + (suffix ?? ""))
            + element("zip", address.postcode ?? "")
            + element("country", country)
            + element("countryISO", address.country.uppercased())
            + "</invoice_add><positions>" + positions + "</positions></order>"
    }

    static func element(_ name: String, _ value: String) -> String {
        let escaped = value.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        return "<\(name)>\(escaped)</\(name)>"
    }
}
