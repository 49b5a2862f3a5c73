import Foundation
import KoppelPluginSDK

/// Mijnwebwinkel's records as its API returns them (see Sources/KoppelSandbox/README.md
/// for what is assumed), and how each becomes a canonical record. The shop shows prices
/// including VAT; canonical amounts exclude it, so each line's VAT is taken from the
/// shop (`total_vat`) and the rest follows by subtraction, keeping totals to the cent.

/// An RFC 3339 time as the shop writes it.
struct MwwTime: Decodable {
    var date: Date
    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = (try? Date.ISO8601FormatStyle().parse(text)) ?? (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not an RFC 3339 time")
        }
        self.date = date
    }
}

struct MwwAddress: Decodable {
    var name: String?
    var company: String?
    var street: String?
    var number: String?
    var suffix: String?
    var zipcode: String?
    var city: String?
    var country: String?

    var canonical: Address? {
        guard let country = country.nonEmpty else { return nil }
        return Address(
            name: name.nonEmpty, company: company.nonEmpty, street: street.nonEmpty, houseNumber: number.nonEmpty,
            houseNumberSuffix: suffix.nonEmpty, postcode: zipcode.nonEmpty, city: city.nonEmpty, country: country.uppercased())
    }
}

struct MwwOrder: Decodable {
    struct Buyer: Decodable {
        var email: String?
        var firstName: String?
        var lastName: String?
        var company: String?
        var vatNumber: String?
        var cocNumber: String?
        var phone: String?
        enum CodingKeys: String, CodingKey {
            case email, company, phone
            case firstName = "first_name"
            case lastName = "last_name"
            case vatNumber = "vat_number"
            case cocNumber = "coc_number"
        }
    }
    struct Line: Decodable {
        var sku: String?
        var ean: String?
        var name: String
        var quantity: APIAmount
        var unitPriceIncl: APIAmount
        var vatRate: APIAmount
        var totalIncl: APIAmount
        var totalVAT: APIAmount
        enum CodingKeys: String, CodingKey {
            case sku, ean, name, quantity
            case unitPriceIncl = "unit_price_incl"
            case vatRate = "vat_rate"
            case totalIncl = "total_incl"
            case totalVAT = "total_vat"
        }
    }
    /// The shipping method or the payment method, with its cost including VAT.
    struct Charge: Decodable {
        var method: String?
        var costIncl: APIAmount
        var vatRate: APIAmount
        enum CodingKeys: String, CodingKey {
            case method
            case costIncl = "cost_incl"
            case vatRate = "vat_rate"
        }
    }
    struct Coupon: Decodable {
        var code: String?
    }

    var number: String
    var status: String
    var created: MwwTime
    var modified: MwwTime
    var paidAt: MwwTime?
    var currency: String?
    var customer: Buyer
    var billingAddress: MwwAddress
    var shippingAddress: MwwAddress?
    var lines: [Line]
    var shipping: Charge?
    var payment: Charge?
    var discount: Coupon?
    var totalIncl: APIAmount
    var totalVAT: APIAmount

    enum CodingKeys: String, CodingKey {
        case number, status, created, modified, currency, customer, lines, shipping, payment, discount
        case paidAt = "paid_at"
        case billingAddress = "billing_address"
        case shippingAddress = "shipping_address"
        case totalIncl = "total_incl"
        case totalVAT = "total_vat"
    }

    static let statuses: [String: Order.Status] = ["new": .pending, "paid": .paid, "shipped": .shipped, "cancelled": .cancelled]

    /// Test orders carry a `T` after a dash at the end (`1015-T`) or the start (`T-1015`).
    var isTest: Bool {
        let upper = number.uppercased()
        return upper.hasSuffix("-T") || upper.hasPrefix("T-")
    }

    /// A cost including VAT split into its amount excluding VAT and the VAT, rounded to
    /// the cent as the shop rounds it.
    static func split(_ incl: DecimalNumber, rate: DecimalNumber) -> (amount: Money, vat: Money) {
        let amount = DecimalNumber(incl.value * 100 / (100 + rate.value)).rounded(2)
        return (amount, incl - amount)
    }

    func canonical() throws(ConnectorError) -> Order {
        guard let billing = billingAddress.canonical else {
            throw .invalidData("Mijnwebwinkel order \(number) has no billing country")
        }
        let email = customer.email.nonEmpty?.lowercased()
        let company = customer.company.nonEmpty
        let buyer = Customer(
            sourceKey: email.map { "email:\($0)" } ?? "order:\(number)", updatedAt: modified.date, kind: company == nil ? .person : .company,
            email: email, firstName: customer.firstName.nonEmpty, lastName: customer.lastName.nonEmpty, companyName: company,
            vatNumber: customer.vatNumber.nonEmpty, cocNumber: customer.cocNumber.nonEmpty, phone: customer.phone.nonEmpty,
            billingAddress: billing, shippingAddress: shippingAddress?.canonical)
        let orderLines = lines.map { line in
            let rate = line.vatRate.value, quantity = line.quantity.value
            let total = line.totalIncl.value - line.totalVAT.value
            let unit = DecimalNumber(line.unitPriceIncl.value.value * 100 / (100 + rate.value)).rounded(4)
            // The line total is the shop's; a cent between it and unit × quantity is the
            // rounding of the VAT-exclusive unit price, not a discount.
            let discount = (unit * quantity).rounded(2) - total
            return OrderLine(
                sku: line.sku.nonEmpty, ean: line.ean.nonEmpty, name: line.name, quantity: quantity, unitPrice: unit,
                discount: abs(discount.value) <= Decimal(string: "0.01")! ? .zero : discount, vatRate: rate,
                vatAmount: line.totalVAT.value, total: total)
        }
        func cost(_ charge: Charge?, _ fallback: String) -> [CostLine] {
            guard let charge, charge.costIncl.value != .zero else { return [] }
            let (amount, vat) = Self.split(charge.costIncl.value, rate: charge.vatRate.value)
            return [CostLine(description: charge.method.nonEmpty ?? fallback, amount: amount, vatRate: charge.vatRate.value, vatAmount: vat)]
        }
        let shippingCosts = cost(shipping, "Verzendkosten")
        let paymentCosts = cost(payment, "Betaalkosten")
        let net = orderLines.reduce(DecimalNumber.zero) { $0 + $1.total }
        let discountTotal = orderLines.reduce(DecimalNumber.zero) { $0 + $1.discount }
        var order = Order(
            sourceKey: number, updatedAt: modified.date, number: number, createdAt: created.date, paidAt: paidAt?.date,
            status: Self.statuses[status] ?? .pending, isTest: isTest, currency: currency.nonEmpty ?? "EUR", pricesIncludeVAT: true,
            customer: buyer, billingAddress: billing, shippingAddress: shippingAddress?.canonical, lines: orderLines,
            shippingCosts: shippingCosts, paymentCosts: paymentCosts, paymentMethod: payment?.method.nonEmpty,
            shippingMethod: shipping?.method.nonEmpty,
            totals: Totals(
                lines: net, shipping: shippingCosts.reduce(.zero) { $0 + $1.amount },
                paymentCosts: paymentCosts.reduce(.zero) { $0 + $1.amount }, discount: discountTotal,
                vat: totalVAT.value, total: totalIncl.value))
        order.couponCodes = discount?.code.nonEmpty.map { [$0] }
        return order
    }
}

struct MwwProduct: Decodable {
    var sku: String
    var ean: String?
    var name: String
    var description: String?
    var priceIncl: APIAmount
    var vatRate: APIAmount
    var stock: APIAmount?
    var modified: MwwTime

    enum CodingKeys: String, CodingKey {
        case sku, ean, name, description, stock, modified
        case priceIncl = "price_incl"
        case vatRate = "vat_rate"
    }

    func canonical() -> Product {
        Product(
            sourceKey: sku, updatedAt: modified.date, sku: sku, ean: ean.nonEmpty, name: name, description: description.nonEmpty,
            priceExclVAT: MwwOrder.split(priceIncl.value, rate: vatRate.value).amount, priceInclVAT: priceIncl.value,
            vatRate: vatRate.value, stockQuantity: stock?.value)
    }
}

struct MwwStock: Decodable {
    var sku: String
    var quantity: APIAmount
    var modified: MwwTime

    func canonical() -> StockLevel {
        StockLevel(sourceKey: sku, updatedAt: modified.date, sku: sku, quantity: quantity.value)
    }
}
