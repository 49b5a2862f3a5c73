import Foundation
import KoppelPluginSDK

/// Winstore's web service (ACA's IPOS `osd` API) as its one public client calls it
/// (Sources/KoppelSandbox/README.md lists the reference's rules): one call per path under
/// the base URL, HTTP Basic with a web-service user (the host's), JSON asked for with
/// `Accept` (R1.3), parameters joined with `?` instead of `&` (R1.5), dates in ATOM form
/// (R1.6).
struct WinstoreAPI {
    let host: PluginHost

    /// R1.6: ATOM with the shop's offset, e.g. `2026-03-01T10:00:00+01:00`.
    static let atom = ZonedTimeFormat("yyyy-MM-dd'T'HH:mm:ssXXXXX", zone: "Europe/Amsterdam")

    /// A value as a query parameter: everything but unreserved characters encoded, so
    /// an ATOM date's `:` and `+` arrive (R1.6).
    static func encode(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? value
    }

    /// `GET call?a=1?b=2` (R1.5; no `?` at all without parameters), answered as JSON.
    func get(_ call: String, _ parameters: [(String, String)] = []) throws(ConnectorError) -> HTTPResponse {
        let query = parameters.map { "\($0.0)=\(Self.encode($0.1))" }.joined(separator: "?")
        return try host.http(HTTPRequest(path: "/" + call + (query.isEmpty ? "" : "?" + query), headers: ["Accept": "application/json"]))
            .requireSuccess("Winstore \(call)")
    }

    /// `POST call` with an XML body (R1.4), answered as JSON.
    func post(_ call: String, xml: String) throws(ConnectorError) -> HTTPResponse {
        try host.http(HTTPRequest(
            method: "POST", path: "/" + call, headers: ["Accept": "application/json", "Content-Type": "application/xml"], body: xml, idempotent: false))
            .requireSuccess("Winstore \(call)")
    }
}

/// Where each value sits in Winstore's answers. No public source shows a response field
/// (the reference says so), so the names are the sandbox's, and a deployment sets the
/// real ones in the connection's `fields` setting without a new plugin. A record that
/// lacks a field it needs is parked naming the field, never guessed.
struct WinstoreFields: Decodable {
    var key = "ArtikelKey"
    var sku = "ArtikelNr"
    var gtin = "Gtin"
    var name = "Description"
    var description = "LongDescription"
    var price = "Price"
    var vatRate = "VatRate"
    var stock = "Stock"
    var changed = "Changed"
    var variants = "Variants"
    var warehouse = "Warehouse"

    enum CodingKeys: String, CodingKey, CaseIterable {
        case key, sku, gtin, name, description, price, stock, changed, variants, warehouse
        case vatRate = "vat_rate"
    }

    /// The names a deployment's `fields` setting may give (the config schema lists
    /// them, so the host refuses any other by file, line and key).
    static let names = CodingKeys.allCases.map(\.rawValue)

    init() {}

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func field(_ key: CodingKeys, _ fallback: String) throws -> String { try container.decodeIfPresent(String.self, forKey: key) ?? fallback }
        let base = WinstoreFields()
        key = try field(.key, base.key)
        sku = try field(.sku, base.sku)
        gtin = try field(.gtin, base.gtin)
        name = try field(.name, base.name)
        description = try field(.description, base.description)
        price = try field(.price, base.price)
        vatRate = try field(.vatRate, base.vatRate)
        stock = try field(.stock, base.stock)
        changed = try field(.changed, base.changed)
        variants = try field(.variants, base.variants)
        warehouse = try field(.warehouse, base.warehouse)
    }
}

/// One record of an answer, read through `WinstoreFields`, tolerant of types (R2.4):
/// numbers as numbers or text, empty as "" or null.
struct WinstoreRecord {
    let values: [String: JSONValue]

    /// The value of `field` as text; nil when missing or empty.
    func text(_ field: String) -> String? {
        switch values[field] {
        case .string(let text)?: text.trimmingCharacters(in: .whitespaces).isEmpty ? nil : text.trimmingCharacters(in: .whitespaces)
        case .int(let number)?: String(number)
        case .decimal(let text)?: text
        case .bool(let flag)?: flag ? "true" : "false"
        default: nil
        }
    }

    /// The value of `field`, or the record is unreadable naming it.
    func required(_ field: String, _ what: String) throws(ConnectorError) -> String {
        guard let value = text(field) else { throw .invalidData("$.\(field) (\(what)) is missing; if Winstore names it otherwise, set it in the connection's fields") }
        return value
    }

    func decimal(_ field: String) throws(ConnectorError) -> DecimalNumber? {
        guard let text = text(field) else { return nil }
        guard let value = DecimalNumber(text) else { throw .invalidData("$.\(field) \"\(text)\" is not a number") }
        return value
    }

    /// The change time in `field`: ATOM (R1.6) or RFC 3339.
    func time(_ field: String) throws(ConnectorError) -> Date {
        let text = try required(field, "change time")
        guard let date = WinstoreAPI.atom.date(text) ?? (try? Date.ISO8601FormatStyle().parse(text)) else {
            throw .invalidData("$.\(field) \"\(text)\" is not a date and time")
        }
        return date
    }

    func records(_ field: String) -> [WinstoreRecord] {
        guard case .array(let items)? = values[field] else { return [] }
        return items.compactMap { if case .object(let values) = $0 { WinstoreRecord(values: values) } else { nil } }
    }
}
