import Foundation

/// A webshop order (canonical record `order`). Amounts are in `currency`; every line
/// carries its own VAT rate and amount so a target never recomputes VAT.
public struct Order: Codable, Hashable, Sendable {
    /// Where the order is in its life.
    public enum Status: String, Codable, Sendable {
        case pending, paid, processing, completed, shipped, cancelled, refunded, failed
        case onHold = "on_hold"
    }

    public var sourceKey: String
    public var updatedAt: Date
    /// The number the merchant and buyer see; Exact's YourRef.
    public var number: String
    public var createdAt: Date
    public var paidAt: Date?
    public var status: Status
    /// A test order; flows skip these unless told otherwise.
    public var isTest: Bool
    /// ISO 4217 ("EUR").
    public var currency: String
    /// Whether the shop's entered prices included VAT (amounts below are given both ways).
    public var pricesIncludeVAT: Bool
    public var customer: Customer
    public var billingAddress: Address
    public var shippingAddress: Address?
    public var lines: [OrderLine]
    public var shippingCosts: [CostLine]
    public var paymentCosts: [CostLine]
    /// Order-level discounts (coupons); line discounts are on the lines.
    public var discounts: [Discount]
    public var paymentMethod: String?
    public var shippingMethod: String?
    public var note: String?
    /// Codes of the coupons used; their amounts are in the lines' discounts.
    public var couponCodes: [String]?
    /// For an invoice made from a sales order: that order's source key, so a target
    /// that already holds the order does not count the same sales twice.
    public var salesOrderKey: String?
    /// Set on a refund (a credit): the order it gives money back for. A refund is a
    /// record of its own, with its own source key and number, its lines and totals
    /// negative (what goes back to the buyer); a bookkeeping target books it as a credit
    /// note. The host delivers it only after the order it refunds, and only to write
    /// streams that declare `refunds` in their manifest.
    public var refundOf: RefundReference?
    public var totals: Totals

    public init(
        sourceKey: String, updatedAt: Date, number: String, createdAt: Date, paidAt: Date? = nil,
        status: Status, isTest: Bool = false, currency: String = "EUR", pricesIncludeVAT: Bool,
        customer: Customer, billingAddress: Address, shippingAddress: Address? = nil, lines: [OrderLine],
        shippingCosts: [CostLine] = [], paymentCosts: [CostLine] = [], discounts: [Discount] = [],
        paymentMethod: String? = nil, shippingMethod: String? = nil, note: String? = nil, totals: Totals
    ) {
        self.sourceKey = sourceKey
        self.updatedAt = updatedAt
        self.number = number
        self.createdAt = createdAt
        self.paidAt = paidAt
        self.status = status
        self.isTest = isTest
        self.currency = currency
        self.pricesIncludeVAT = pricesIncludeVAT
        self.customer = customer
        self.billingAddress = billingAddress
        self.shippingAddress = shippingAddress
        self.lines = lines
        self.shippingCosts = shippingCosts
        self.paymentCosts = paymentCosts
        self.discounts = discounts
        self.paymentMethod = paymentMethod
        self.shippingMethod = shippingMethod
        self.note = note
        self.totals = totals
    }

    enum CodingKeys: String, CodingKey {
        case number, status, currency, customer, lines, discounts, note, totals
        case sourceKey = "source_key"
        case updatedAt = "updated_at"
        case createdAt = "created_at"
        case paidAt = "paid_at"
        case isTest = "is_test"
        case pricesIncludeVAT = "prices_include_vat"
        case billingAddress = "billing_address"
        case shippingAddress = "shipping_address"
        case shippingCosts = "shipping_costs"
        case paymentCosts = "payment_costs"
        case paymentMethod = "payment_method"
        case shippingMethod = "shipping_method"
        case couponCodes = "coupon_codes"
        case salesOrderKey = "sales_order_key"
        case refundOf = "refund_of"
    }
}

/// The order a refund gives money back for.
public struct RefundReference: Codable, Hashable, Sendable {
    /// The refunded order's source key (its ledger row in the flow).
    public var sourceKey: String
    /// The refunded order's number, as the merchant knows it.
    public var number: String

    public init(sourceKey: String, number: String) {
        self.sourceKey = sourceKey
        self.number = number
    }

    enum CodingKeys: String, CodingKey {
        case number
        case sourceKey = "source_key"
    }
}

/// One product line of an order.
public struct OrderLine: Codable, Hashable, Sendable {
    public var sku: String?
    public var ean: String?
    public var name: String
    public var quantity: DecimalNumber
    /// Price of one unit before discount, excluding VAT.
    public var unitPrice: Money
    /// Discount on the whole line, excluding VAT.
    public var discount: Money
    /// VAT percentage ("21", "9", "0").
    public var vatRate: DecimalNumber
    /// VAT on the whole line after discount.
    public var vatAmount: Money
    /// Line total after discount, excluding VAT.
    public var total: Money

    public init(
        sku: String? = nil, ean: String? = nil, name: String, quantity: DecimalNumber, unitPrice: Money,
        discount: Money = .zero, vatRate: DecimalNumber, vatAmount: Money, total: Money
    ) {
        self.sku = sku
        self.ean = ean
        self.name = name
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.discount = discount
        self.vatRate = vatRate
        self.vatAmount = vatAmount
        self.total = total
    }

    enum CodingKeys: String, CodingKey {
        case sku, ean, name, quantity, discount, total
        case unitPrice = "unit_price"
        case vatRate = "vat_rate"
        case vatAmount = "vat_amount"
    }
}

/// A shipping or payment cost on an order.
public struct CostLine: Codable, Hashable, Sendable {
    public var description: String
    /// Amount excluding VAT.
    public var amount: Money
    public var vatRate: DecimalNumber
    public var vatAmount: Money

    public init(description: String, amount: Money, vatRate: DecimalNumber, vatAmount: Money) {
        self.description = description
        self.amount = amount
        self.vatRate = vatRate
        self.vatAmount = vatAmount
    }

    enum CodingKeys: String, CodingKey {
        case description, amount
        case vatRate = "vat_rate"
        case vatAmount = "vat_amount"
    }
}

/// An order-level discount, such as a coupon.
public struct Discount: Codable, Hashable, Sendable {
    public var code: String?
    public var description: String
    /// Amount excluding VAT, positive.
    public var amount: Money
    public var vatAmount: Money

    public init(code: String? = nil, description: String, amount: Money, vatAmount: Money) {
        self.code = code
        self.description = description
        self.amount = amount
        self.vatAmount = vatAmount
    }

    enum CodingKeys: String, CodingKey {
        case code, description, amount
        case vatAmount = "vat_amount"
    }
}

/// The order's totals as the webshop computed them.
public struct Totals: Codable, Hashable, Sendable {
    /// Sum of line totals, excluding VAT.
    public var lines: Money
    public var shipping: Money
    public var paymentCosts: Money
    public var discount: Money
    public var vat: Money
    /// What the buyer pays, including VAT.
    public var total: Money

    public init(lines: Money, shipping: Money, paymentCosts: Money, discount: Money, vat: Money, total: Money) {
        self.lines = lines
        self.shipping = shipping
        self.paymentCosts = paymentCosts
        self.discount = discount
        self.vat = vat
        self.total = total
    }

    enum CodingKeys: String, CodingKey {
        case lines, shipping, discount, vat, total
        case paymentCosts = "payment_costs"
    }
}
