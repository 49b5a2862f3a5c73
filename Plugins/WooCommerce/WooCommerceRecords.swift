import Foundation
import KoppelPluginSDK

/// WooCommerce's records as its REST API returns them (only the fields Koppel uses), and
/// how each becomes a canonical record.

struct WooMeta: Decodable {
    var key: String
    var value: JSONValue?
}

extension [WooMeta] {
    /// The VAT number, under any of the keys the common EU VAT plugins use.
    var vatNumber: String? {
        let keys = ["_billing_vat_number", "billing_vat_number", "_vat_number", "vat_number", "_billing_eu_vat_number", "_billing_vat"]
        return keys.lazy.compactMap { key in first { $0.key == key }?.value?.stringValue }.first { !$0.isEmpty }
    }

    /// The chamber of commerce (KvK) number, when a checkout field stores it.
    var cocNumber: String? {
        let keys = ["_billing_coc_number", "billing_coc_number", "_billing_kvk", "kvk_number"]
        return keys.lazy.compactMap { key in first { $0.key == key }?.value?.stringValue }.first { !$0.isEmpty }
    }

    var ean: String? {
        let keys = ["_ean", "_global_unique_id", "_wpm_gtin_code", "_alg_ean", "ean"]
        return keys.lazy.compactMap { key in first { $0.key == key }?.value?.stringValue }.first { !$0.isEmpty }
    }
}

struct WooAddress: Decodable {
    var firstName: String?
    var lastName: String?
    var company: String?
    var address1: String?
    var address2: String?
    var city: String?
    var state: String?
    var postcode: String?
    var country: String?
    var email: String?
    var phone: String?

    enum CodingKeys: String, CodingKey {
        case company, city, state, postcode, country, email, phone
        case firstName = "first_name"
        case lastName = "last_name"
        case address1 = "address_1"
        case address2 = "address_2"
    }

    /// Nil when the address is empty (WooCommerce sends empty strings).
    var canonical: Address? {
        guard let country = country.nonEmpty else { return nil }
        let name = [firstName, lastName].compactMap(\.nonEmpty).joined(separator: " ")
        return Address(
            name: name.isEmpty ? nil : name, company: company.nonEmpty, street: address1.nonEmpty, line2: address2.nonEmpty,
            postcode: postcode.nonEmpty, city: city.nonEmpty, region: state.nonEmpty, country: country.uppercased())
    }
}


struct WooTax: Decodable {
    var id: Int
    var total: APIAmount?
}

struct WooOrder: Decodable, WooCommerceAPI.Modified {
    struct LineItem: Decodable {
        var name: String
        var sku: String?
        var quantity: APIAmount
        var subtotal: APIAmount
        var total: APIAmount
        var totalTax: APIAmount
        var taxes: [WooTax]
        enum CodingKeys: String, CodingKey {
            case name, sku, quantity, subtotal, total, taxes
            case totalTax = "total_tax"
        }
    }
    struct TaxLine: Decodable {
        var rateID: Int
        var ratePercent: APIAmount?
        enum CodingKeys: String, CodingKey {
            case rateID = "rate_id"
            case ratePercent = "rate_percent"
        }
    }
    /// A shipping line (`method_title`) or a fee line (`name`).
    struct ChargeLine: Decodable {
        var methodTitle: String?
        var name: String?
        var total: APIAmount
        var totalTax: APIAmount
        var taxes: [WooTax]
        var title: String { methodTitle ?? name ?? "" }
        enum CodingKeys: String, CodingKey {
            case name, total, taxes
            case methodTitle = "method_title"
            case totalTax = "total_tax"
        }
    }
    struct CouponLine: Decodable {
        var code: String
    }

    var id: Int
    /// The number the buyer sees; a plugin for sequential numbers may leave it out, and
    /// then it is the id, as WooCommerce's own default.
    var numberText: String?
    var status: String
    var currency: String
    var pricesIncludeTax: Bool
    var dateCreatedGMT: WooDate
    var dateModifiedGMT: WooDate
    var datePaidGMT: WooDate?
    var discountTotal: APIAmount
    var shippingTotal: APIAmount
    var totalTax: APIAmount
    var total: APIAmount
    var customerID: Int
    var customerNote: String?
    var billing: WooAddress
    var shipping: WooAddress?
    var paymentMethod: String?
    var lineItems: [LineItem]
    var taxLines: [TaxLine]
    var shippingLines: [ChargeLine]
    var feeLines: [ChargeLine]
    var couponLines: [CouponLine]
    var metaData: [WooMeta]
    var refunds: [RefundSummary]?

    /// A refund as the order lists it; its lines are read from `orders/{id}/refunds`.
    struct RefundSummary: Decodable {
        var id: Int
    }

    var modified: Date { dateModifiedGMT.date }
    var number: String { numberText.nonEmpty ?? String(id) }

    enum CodingKeys: String, CodingKey {
        case id, status, currency, total, billing, shipping, refunds
        case numberText = "number"
        case pricesIncludeTax = "prices_include_tax"
        case dateCreatedGMT = "date_created_gmt"
        case dateModifiedGMT = "date_modified_gmt"
        case datePaidGMT = "date_paid_gmt"
        case discountTotal = "discount_total"
        case shippingTotal = "shipping_total"
        case totalTax = "total_tax"
        case customerID = "customer_id"
        case customerNote = "customer_note"
        case paymentMethod = "payment_method"
        case lineItems = "line_items"
        case taxLines = "tax_lines"
        case shippingLines = "shipping_lines"
        case feeLines = "fee_lines"
        case couponLines = "coupon_lines"
        case metaData = "meta_data"
    }

    static let statuses: [String: Order.Status] = [
        "pending": .pending, "processing": .processing, "on-hold": .onHold, "completed": .completed,
        "cancelled": .cancelled, "refunded": .refunded, "failed": .failed, "checkout-draft": .pending,
    ]

    /// The VAT percentage of a line from its taxes and the order's tax lines; computed
    /// from the amounts only when the shop does not say (before WooCommerce 3.7).
    func vatRate(_ taxes: [WooTax], net: DecimalNumber, tax: DecimalNumber) -> DecimalNumber {
        let charged = taxes.filter { ($0.total?.value ?? .zero) != .zero }
        if let first = charged.first, let rate = taxLines.first(where: { $0.rateID == first.id })?.ratePercent?.value {
            return rate
        }
        guard net != .zero, tax != .zero else { return .zero }
        return DecimalNumber(tax.value * 100 / net.value).rounded(1)
    }

    func canonical() throws(ConnectorError) -> Order {
        let email = billing.email.nonEmpty?.lowercased()
        let company = billing.company.nonEmpty
        let customer = Customer(
            sourceKey: customerID > 0 ? String(customerID) : "guest:\(email ?? String(id))", updatedAt: dateModifiedGMT.date,
            kind: company == nil ? .person : .company, email: email, firstName: billing.firstName.nonEmpty,
            lastName: billing.lastName.nonEmpty, companyName: company, vatNumber: metaData.vatNumber, cocNumber: metaData.cocNumber,
            phone: billing.phone.nonEmpty, billingAddress: billing.canonical, shippingAddress: shipping?.canonical)
        guard let billingAddress = billing.canonical else {
            throw .invalidData("WooCommerce order \(number) has no billing country")
        }
        let lines = lineItems.map { item in
            let quantity = item.quantity.value
            let unit = quantity == .zero ? item.subtotal.value : DecimalNumber(item.subtotal.value.value / quantity.value).rounded(4)
            return OrderLine(
                sku: item.sku.nonEmpty, name: item.name, quantity: quantity, unitPrice: unit,
                discount: item.subtotal.value - item.total.value,
                vatRate: vatRate(item.taxes, net: item.total.value, tax: item.totalTax.value),
                vatAmount: item.totalTax.value, total: item.total.value)
        }
        func cost(_ line: ChargeLine) -> CostLine {
            CostLine(description: line.title, amount: line.total.value,
                     vatRate: vatRate(line.taxes, net: line.total.value, tax: line.totalTax.value), vatAmount: line.totalTax.value)
        }
        let shippingCosts = shippingLines.map(cost)
        // A negative fee is how many shops give a discount outside coupons.
        let fees = feeLines.map(cost)
        let paymentCosts = fees.filter { $0.amount >= .zero }
        let discounts = fees.filter { $0.amount < .zero }.map {
            Discount(description: $0.description, amount: .zero - $0.amount, vatAmount: .zero - $0.vatAmount)
        }
        let linesTotal = lines.reduce(DecimalNumber.zero) { $0 + $1.total }
        let totals = Totals(
            lines: linesTotal, shipping: shippingTotal.value,
            paymentCosts: paymentCosts.reduce(.zero) { $0 + $1.amount },
            discount: discountTotal.value + discounts.reduce(.zero) { $0 + $1.amount },
            vat: totalTax.value, total: total.value)
        var order = Order(
            sourceKey: String(id), updatedAt: dateModifiedGMT.date, number: number, createdAt: dateCreatedGMT.date,
            paidAt: datePaidGMT?.date, status: Self.statuses[status] ?? .pending, currency: currency,
            pricesIncludeVAT: pricesIncludeTax, customer: customer, billingAddress: billingAddress,
            shippingAddress: shipping?.canonical, lines: lines, shippingCosts: shippingCosts, paymentCosts: paymentCosts,
            discounts: discounts, paymentMethod: paymentMethod.nonEmpty, shippingMethod: shippingLines.first?.title,
            note: customerNote.nonEmpty, totals: totals)
        order.couponCodes = couponLines.map(\.code)
        return order
    }
}

struct WooCustomer: Decodable, WooCommerceAPI.Modified {
    var id: Int
    var email: String
    var firstName: String?
    var lastName: String?
    /// Null for a user WooCommerce never touched (the administrator, users made outside
    /// WooCommerce): `captured/customers-role-all.json`. Such a user counts as modified
    /// when it was created, so it is read once.
    var dateModifiedGMT: WooDate?
    var dateCreatedGMT: WooDate?
    var billing: WooAddress
    var shipping: WooAddress?
    var metaData: [WooMeta]?

    var modified: Date { dateModifiedGMT?.date ?? dateCreatedGMT?.date ?? .distantPast }

    enum CodingKeys: String, CodingKey {
        case id, email, billing, shipping
        case firstName = "first_name"
        case lastName = "last_name"
        case dateModifiedGMT = "date_modified_gmt"
        case dateCreatedGMT = "date_created_gmt"
        case metaData = "meta_data"
    }

    func canonical() -> Customer {
        let company = billing.company.nonEmpty
        return Customer(
            sourceKey: String(id), updatedAt: modified, kind: company == nil ? .person : .company, email: email.isEmpty ? nil : email.lowercased(),
            firstName: firstName.nonEmpty ?? billing.firstName.nonEmpty, lastName: lastName.nonEmpty ?? billing.lastName.nonEmpty,
            companyName: company, vatNumber: metaData?.vatNumber, cocNumber: metaData?.cocNumber, phone: billing.phone.nonEmpty,
            billingAddress: billing.canonical, shippingAddress: shipping?.canonical)
    }
}

/// A product, or one variation of a variable product (`type` "variation", read from
/// `products/{id}/variations`: `captured/product-variations.json`).
struct WooProduct: Decodable, WooCommerceAPI.Modified {
    struct Attribute: Decodable {
        var name: String
        /// A variation's value of the attribute ("M").
        var option: String?
    }

    var id: Int
    var name: String
    /// A variation read from its parent's list carries no type: it is a variation.
    var type: String?
    var parentID: Int?
    var sku: String?
    var description: String?
    var shortDescription: String?
    /// Empty for a variable product: its variations carry the prices.
    var regularPrice: APIAmount?
    var stockQuantity: Int?
    var dateModifiedGMT: WooDate
    var attributes: [Attribute]?
    var variations: [Int]?
    var metaData: [WooMeta]?

    var modified: Date { dateModifiedGMT.date }
    var isVariable: Bool { type == "variable" }
    var isVariation: Bool { type == "variation" || (parentID ?? 0) > 0 }

    enum CodingKeys: String, CodingKey {
        case id, name, type, sku, description, attributes, variations
        case parentID = "parent_id"
        case shortDescription = "short_description"
        case regularPrice = "regular_price"
        case stockQuantity = "stock_quantity"
        case dateModifiedGMT = "date_modified_gmt"
        case metaData = "meta_data"
    }

    /// `parent`: for a variation, the variable product it belongs to (its name and SKU
    /// go into the variation's).
    func canonical(pricesIncludeTax: Bool, parent: WooProduct? = nil) -> Product {
        let price = regularPrice?.value
        var attributes: [String: String] = [:]
        if isVariation {
            for attribute in self.attributes ?? [] { if let option = attribute.option.nonEmpty { attributes[attribute.name] = option } }
            if let parentSKU = parent?.sku.nonEmpty { attributes["parent_sku"] = parentSKU }
        }
        let options = attributes.filter { $0.key != "parent_sku" }.sorted { $0.key < $1.key }.map(\.value)
        let fullName = parent.map { parent in ([parent.name] + options).joined(separator: " - ") } ?? name
        return Product(
            sourceKey: String(id), updatedAt: modified, sku: sku.nonEmpty ?? "woo-\(id)", ean: metaData?.ean,
            kind: isVariable ? .variable : isVariation ? .variant : .simple, name: fullName, description: description.nonEmpty,
            shortDescription: shortDescription.nonEmpty, priceExclVAT: pricesIncludeTax ? nil : price,
            priceInclVAT: pricesIncludeTax ? price : nil, stockQuantity: stockQuantity.map { DecimalNumber(Decimal($0)) },
            attributes: attributes)
    }
}
