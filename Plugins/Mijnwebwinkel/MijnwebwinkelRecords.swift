import Foundation
import KoppelPluginSDK

/// The MyOnlineStore Connect API's records as its OpenAPI spec has them (only the fields
/// Koppel uses), tolerant of the live API's other shapes (R3.7), and how each becomes a
/// canonical record. Dates and times come in separate fields in the shop's time
/// (Europe/Amsterdam, R3.4); amounts are decimal strings, including VAT where the shop
/// shows prices so (`amount_including_tax`), and to six decimals without it (`amount`).

enum MwwTime {
    /// `2026-03-05` and `14:02:11` in the shop's time.
    static func date(_ day: String?, _ time: String?) -> Date? {
        guard let day else { return nil }
        return ZonedTimeFormat.dutch.date("\(day) \(time ?? "00:00:00")")
    }

    /// A query bound, `yyyy-mm-dd hh:mm:ss` in the shop's time.
    static func bound(_ date: Date) -> String { ZonedTimeFormat.dutch.string(date) }

    /// An order date bound (`start_date`, `end_date`), the day in the shop's time.
    static func day(_ date: Date) -> String { String(bound(date).prefix(10)) }
}

/// A number the spec types as an integer and the live API may send as a string.
struct MwwNumber: Decodable {
    var text: String
    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            text = String(number)
        } else {
            text = try container.decode(String.self)
        }
    }
}

/// The spec's TaxPrice: a VAT rate with an amount without VAT (to six decimals) and/or
/// with it (to the cent).
struct MwwTaxPrice: Decodable {
    var rate: APIAmount
    var amount: APIAmount?
    var amountIncludingTax: APIAmount?
    enum CodingKeys: String, CodingKey {
        case rate, amount
        case amountIncludingTax = "amount_including_tax"
    }
}

/// A list of TaxPrices that may arrive as one object (`price.tax`, R3.7; `oneOf` in the spec).
struct MwwTaxPrices: Decodable {
    var items: [MwwTaxPrice]
    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let list = try? container.decode([MwwTaxPrice].self) {
            items = list
        } else {
            items = [try container.decode(MwwTaxPrice.self)]
        }
    }
}

struct MwwAddress: Decodable {
    var name: String?
    var company: String?
    var phone: String?
    var street: String?
    var number: String?
    var zipcode: String?
    var city: String?
    var countryCode: String?
    var taxnumber: String?
    enum CodingKeys: String, CodingKey {
        case name, company, phone, street, number, zipcode, city, taxnumber
        case countryCode = "country_code"
    }

    /// The number holds any addition (R4.3); nil without a country.
    var canonical: Address? {
        guard let country = countryCode.nonEmpty else { return nil }
        return Address(
            name: name.nonEmpty, company: company.nonEmpty, street: street.nonEmpty, houseNumber: number.nonEmpty,
            postcode: zipcode.nonEmpty, city: city.nonEmpty, country: country.uppercased())
    }
}

/// The shop's order statuses (`GET /v1/orderstatuses`): numbers per shop, named in the
/// shop's language (R4.5).
struct MwwStatus: Codable {
    var status: Int
    var description: String
    var creditOrder: Bool?
    enum CodingKeys: String, CodingKey {
        case status, description
        case creditOrder = "credit_order"
    }

    /// What the status means, from its name (Dutch or English) or its credit flag.
    var canonical: Order.Status {
        let name = description.lowercased()
        if creditOrder == true { return .refunded }
        if name.contains("verzonden") || name.contains("shipped") { return .shipped }
        if name.contains("afgehaald") || name.contains("collected") || name.contains("afgerond") || name.contains("complete") { return .completed }
        if name.contains("betaald") || name.contains("paid") { return .paid }
        if name.contains("annule") || name.contains("cancel") { return .cancelled }
        return .pending
    }
}

struct MwwOrder: Decodable {
    struct Debtor: Decodable {
        struct Addresses: Decodable {
            var invoice: MwwAddress
            var delivery: MwwAddress?
        }
        var email: String?
        var address: Addresses
    }
    struct Line: Decodable {
        struct Article: Decodable {
            var sku: String?
        }
        var type: String
        var quantity: APIAmount
        var description: String?
        var unitPrice: MwwTaxPrice?
        var price: MwwTaxPrices?
        var articles: [Article]?
        enum CodingKeys: String, CodingKey {
            case type, quantity, description, price, articles
            case unitPrice = "unit_price"
        }
    }
    struct Price: Decodable {
        var total: APIAmount
        var tax: MwwTaxPrices?
    }
    struct Payment: Decodable {
        struct Status: Decodable { var id: Int? }
        var methodName: String?
        var status: Status?
        enum CodingKeys: String, CodingKey {
            case status
            case methodName = "method_name"
        }
    }

    var number: MwwNumber
    var date: String
    var time: String
    var status: Int
    var statusChangedDate: String?
    var statusChangedTime: String?
    var currency: String?
    var discountcode: String?
    var debtor: Debtor
    var price: Price
    var orderlines: [Line]?
    var payment: Payment?

    enum CodingKeys: String, CodingKey {
        case number, date, time, status, currency, discountcode, debtor, price, orderlines, payment
        case statusChangedDate = "status_changed_date"
        case statusChangedTime = "status_changed_time"
    }

    var created: Date? { MwwTime.date(date, time) }
    /// When the status last changed: what an incremental read follows.
    var statusChanged: Date? { MwwTime.date(statusChangedDate, statusChangedTime) ?? created }
    /// Test orders are numbered `T-…` (R4.7, unverified).
    var isTest: Bool { number.text.uppercased().hasPrefix("T-") }

    /// One line as the shop priced it: without VAT rounded to the cent, the VAT the rest
    /// of the price with it.
    struct Priced {
        var description: String
        var quantity: DecimalNumber
        var rate: DecimalNumber
        var net: Money
        var vat: Money
    }

    func canonical(statuses: [Int: MwwStatus]) throws(ConnectorError) -> Order {
        guard let created else { throw .invalidData("$.date and $.time are not a date and a time: \(date) \(time)") }
        let invoice = debtor.address.invoice
        guard let billing = invoice.canonical else { throw .invalidData("$.debtor.address.invoice.country_code is missing") }
        // No delivery address: the goods go to the invoice address.
        let delivery = debtor.address.delivery?.canonical ?? billing
        var priced: [(line: Line, price: Priced)] = []
        for line in orderlines ?? [] {
            guard let price = line.price?.items.first else { throw .invalidData("order line \(line.description ?? line.type) has no price") }
            let incl = price.amountIncludingTax?.value
            let net = price.amount.map { $0.value.rounded(2) } ?? incl.map { $0.excludingVAT(ratePercent: price.rate.value) } ?? .zero
            priced.append((line, Priced(description: line.description ?? "", quantity: line.quantity.value, rate: price.rate.value,
                                        net: net, vat: (incl ?? net) - net)))
        }
        // The shop's VAT per rate (`price.tax`) is the truth; a cent of rounding between it
        // and the lines' own goes to the largest line of that rate.
        for tax in price.tax?.items ?? [] {
            guard let amount = tax.amount?.value else { continue }
            let indices = priced.indices.filter { priced[$0].price.rate == tax.rate.value }
            let difference = amount - indices.reduce(DecimalNumber.zero) { $0 + priced[$1].price.vat }
            guard difference != .zero, abs(difference.value) <= Decimal(string: "0.05")!,
                  let largest = indices.max(by: { priced[$0].price.net < priced[$1].price.net }) else { continue }
            priced[largest].price.vat = priced[largest].price.vat + difference
            priced[largest].price.net = priced[largest].price.net - difference
        }
        var lines: [OrderLine] = [], shipping: [CostLine] = [], payments: [CostLine] = [], discounts: [Discount] = []
        for (line, price) in priced {
            let kind = price.description.lowercased()
            if line.type == "article" || (price.net > .zero && !kind.hasPrefix("verzend") && !kind.hasPrefix("betaal") && !kind.hasPrefix("shipping")) {
                let unit = line.unitPrice?.amount.map { $0.value.rounded(4) }
                    ?? (price.quantity == .zero ? price.net : DecimalNumber(price.net.value / price.quantity.value).rounded(4))
                let gross = (unit * price.quantity).rounded(2)
                let discount = gross - price.net
                lines.append(OrderLine(
                    sku: line.articles?.first?.sku.nonEmpty, name: price.description, quantity: price.quantity, unitPrice: unit,
                    discount: abs(discount.value) <= Decimal(string: "0.01")! ? .zero : discount, vatRate: price.rate,
                    vatAmount: price.vat, total: price.net))
            } else if price.net < .zero {
                discounts.append(Discount(code: discountcode.nonEmpty, description: price.description, amount: .zero - price.net, vatAmount: .zero - price.vat))
            } else if kind.hasPrefix("betaal") {
                payments.append(CostLine(description: price.description, amount: price.net, vatRate: price.rate, vatAmount: price.vat))
            } else {
                shipping.append(CostLine(description: price.description, amount: price.net, vatRate: price.rate, vatAmount: price.vat))
            }
        }
        let email = debtor.email.nonEmpty?.lowercased()
        let name = invoice.name.nonEmpty ?? ""
        let (first, last): (String?, String?) = name.firstIndex(of: " ").map { (String(name[..<$0]), String(name[name.index(after: $0)...])) } ?? (name, nil)
        let company = invoice.company.nonEmpty
        let changed = statusChanged ?? created
        let buyer = Customer(
            sourceKey: email.map { "email:\($0)" } ?? "order:\(number.text)", updatedAt: changed, kind: company == nil ? .person : .company,
            email: email, firstName: first.nonEmpty, lastName: last.nonEmpty, companyName: company, vatNumber: invoice.taxnumber.nonEmpty,
            phone: invoice.phone.nonEmpty, billingAddress: billing, shippingAddress: delivery)
        let vat = (price.tax?.items ?? []).reduce(DecimalNumber.zero) { $0 + ($1.amount?.value ?? .zero) }
        let shopStatus = statuses[status]
        var order = Order(
            sourceKey: number.text, updatedAt: changed, number: number.text, createdAt: created,
            paidAt: payment?.status?.id == 1 ? created : nil, status: shopStatus?.canonical ?? .pending, isTest: isTest,
            currency: currency.nonEmpty ?? "EUR", pricesIncludeVAT: true, customer: buyer, billingAddress: billing,
            shippingAddress: delivery, lines: lines, shippingCosts: shipping, paymentCosts: payments, discounts: discounts,
            paymentMethod: payment?.methodName.nonEmpty,
            totals: Totals(
                lines: lines.reduce(.zero) { $0 + $1.total }, shipping: shipping.reduce(.zero) { $0 + $1.amount },
                paymentCosts: payments.reduce(.zero) { $0 + $1.amount },
                discount: lines.reduce(.zero) { $0 + $1.discount } + discounts.reduce(.zero) { $0 + $1.amount },
                vat: vat, total: price.total.value))
        order.couponCodes = discountcode.nonEmpty.map { [$0] }
        return order
    }
}

/// An article (`GET /v1/articles`): its prices include VAT where the store shows them so.
struct MwwArticle: Decodable {
    struct Price: Decodable {
        var `default`: APIAmount?
        var purchase: APIAmount?
    }
    struct Extra: Decodable {
        struct Invisible: Decodable { var barcode: String? }
        var invisible: Invisible?
    }
    struct Variant: Decodable {
        var id: Int
        var stock: Int?
    }

    var id: Int
    var name: String
    var description: String?
    var sku: String?
    var price: Price?
    /// Null: unlimited stock (R5.2).
    var stock: Int?
    var extra: Extra?
    var variants: [Variant]?
    var updatedDate: String?
    var updatedTime: String?
    var createdDate: String?
    var createdTime: String?

    enum CodingKeys: String, CodingKey {
        case id, name, description, sku, price, stock, extra, variants
        case updatedDate = "updated_date"
        case updatedTime = "updated_time"
        case createdDate = "created_date"
        case createdTime = "created_time"
    }

    var updated: Date { MwwTime.date(updatedDate, updatedTime) ?? MwwTime.date(createdDate, createdTime) ?? .distantPast }
    var code: String { sku.nonEmpty ?? "mww-\(id)" }

    func canonical(pricesIncludeTax: Bool) -> Product {
        let price = self.price?.default?.value
        return Product(
            sourceKey: String(id), updatedAt: updated, sku: code, ean: extra?.invisible?.barcode.nonEmpty, name: name,
            description: description.nonEmpty, priceExclVAT: pricesIncludeTax ? nil : price, priceInclVAT: pricesIncludeTax ? price : nil,
            purchasePrice: self.price?.purchase?.value, stockQuantity: stock.map { DecimalNumber(Decimal($0)) })
    }

    /// The article's stock, and each variant's (keyed `{sku}-{variant id}`); none for
    /// unlimited stock.
    func stockLevels() -> [StockLevel] {
        var levels: [StockLevel] = []
        if let stock { levels.append(StockLevel(sourceKey: String(id), updatedAt: updated, sku: code, quantity: DecimalNumber(Decimal(stock)))) }
        for variant in variants ?? [] {
            guard let stock = variant.stock else { continue }
            levels.append(StockLevel(sourceKey: "\(id)-\(variant.id)", updatedAt: updated, sku: "\(code)-\(variant.id)", quantity: DecimalNumber(Decimal(stock))))
        }
        return levels
    }
}
