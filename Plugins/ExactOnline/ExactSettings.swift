import Foundation
import KoppelPluginSDK

/// How orders become Exact documents. Set on the connection; a flow overrides any of it
/// under `mapping: { options: ... }` (one flow books sales entries in journal 70, another
/// sales orders).
///
/// ```yaml
/// journal: "70"
/// vat_codes: { "21": "1", "9": "2", "0": "0", "BE:21": "4" }   # rate, or country:rate
/// revenue_accounts: { NL: "8000", BE: "8020", default: "8000" } # G/L account by country
/// shipping: { item: VERZENDKOSTEN, gl_account: "8100" }        # item on invoices and orders, G/L on entries
/// payment_costs: { item: BETAALKOSTEN, gl_account: "8110" }
/// discounts: { item: KORTING, gl_account: "8200" }
/// cost_center: "100"
/// cost_unit: "WEB"
/// default_debtor: "1000"           # book every order on this account instead of one per buyer
/// warehouse: "1"                   # new stock items are linked to this warehouse
/// update_accounts: false           # true: accounts found by email follow each order (changed fields only, one more call)
/// update_items: false              # true: existing items take the shop's description (changed only)
/// process_invoices: false          # true: sales invoices are processed after booking (dated, receivable), no email sent
/// currency: EUR                     # the division's currency, in which item prices are kept
/// item_attributes: { origin: FreeTextField_01 }   # items stream: product attribute -> item field
/// ```
struct ExactSettings: Decodable {
    struct CostTarget: Decodable {
        var item: String?
        var glAccount: String?
        enum CodingKeys: String, CodingKey {
            case item
            case glAccount = "gl_account"
        }
    }

    var journal: String?
    var vatCodes: [String: String]?
    var revenueAccounts: [String: String]?
    var shipping: CostTarget?
    var paymentCosts: CostTarget?
    var discounts: CostTarget?
    var costCenter: String?
    var costUnit: String?
    var defaultDebtor: String?
    var warehouse: String?
    var updateAccounts: Bool?
    var updateItems: Bool?
    var processInvoices: Bool?
    var currency: String?
    var itemAttributes: [String: String]?

    enum CodingKeys: String, CodingKey {
        case journal, shipping, discounts, warehouse, currency
        case itemAttributes = "item_attributes"
        case vatCodes = "vat_codes"
        case revenueAccounts = "revenue_accounts"
        case paymentCosts = "payment_costs"
        case costCenter = "cost_center"
        case costUnit = "cost_unit"
        case defaultDebtor = "default_debtor"
        case updateAccounts = "update_accounts"
        case updateItems = "update_items"
        case processInvoices = "process_invoices"
    }

    init() {}

    /// These settings with every field `flow` sets taken from it.
    func overridden(by flow: ExactSettings?) -> ExactSettings {
        guard let flow else { return self }
        var merged = self
        merged.journal = flow.journal ?? journal
        merged.vatCodes = flow.vatCodes.map { (vatCodes ?? [:]).merging($0) { _, new in new } } ?? vatCodes
        merged.revenueAccounts = flow.revenueAccounts.map { (revenueAccounts ?? [:]).merging($0) { _, new in new } } ?? revenueAccounts
        merged.shipping = flow.shipping ?? shipping
        merged.paymentCosts = flow.paymentCosts ?? paymentCosts
        merged.discounts = flow.discounts ?? discounts
        merged.costCenter = flow.costCenter ?? costCenter
        merged.costUnit = flow.costUnit ?? costUnit
        merged.defaultDebtor = flow.defaultDebtor ?? defaultDebtor
        merged.warehouse = flow.warehouse ?? warehouse
        merged.updateAccounts = flow.updateAccounts ?? updateAccounts
        merged.updateItems = flow.updateItems ?? updateItems
        merged.processInvoices = flow.processInvoices ?? processInvoices
        merged.currency = flow.currency ?? currency
        merged.itemAttributes = flow.itemAttributes ?? itemAttributes
        return merged
    }

    var journalCode: String { journal ?? "70" }
    /// The item a webshop line without SKU is booked on.
    static let productWithoutSKUItem = "WEBSHOP"
    var shippingItem: String { shipping?.item ?? "VERZENDKOSTEN" }
    var shippingAccount: String { shipping?.glAccount ?? "8100" }
    var paymentCostItem: String { paymentCosts?.item ?? "BETAALKOSTEN" }
    var paymentCostAccount: String { paymentCosts?.glAccount ?? "8110" }
    var discountItem: String { discounts?.item ?? "KORTING" }
    var discountAccount: String { discounts?.glAccount ?? "8200" }

    /// Exact's VAT code for a rate in a country: `country:rate` first, then `rate`, then
    /// the Dutch defaults (21 -> 1, 9 -> 2, 0 -> 0).
    func vatCode(rate: DecimalNumber, country: String) throws(ConnectorError) -> String {
        let key = rate.rounded(2).description
        let codes = ["21": "1", "9": "2", "0": "0"].merging(vatCodes ?? [:]) { _, configured in configured }
        if let code = codes["\(country.uppercased()):\(key)"] ?? codes[key] { return code }
        throw .invalidData("no Exact VAT code for \(key)% VAT in \(country); add vat_codes: { \"\(country.uppercased()):\(key)\": CODE } to the flow's options")
    }

    /// The revenue G/L account for a buyer in `country`.
    func revenueAccount(country: String) -> String {
        revenueAccounts?[country.uppercased()] ?? revenueAccounts?["default"] ?? "8000"
    }
}
