import Foundation
import KoppelPluginSDK

/// A refund of an order as `GET /orders/{id}/refunds` returns it: `amount` is what went
/// back to the buyer (positive); its lines carry negative quantities and amounts, as
/// WooCommerce stores them. A refund "by amount" has no lines at all.
struct WooRefund: Decodable {
    var id: Int
    var dateCreatedGMT: WooDate
    var amount: APIAmount
    var reason: String?
    var lineItems: [WooOrder.LineItem]?
    var shippingLines: [WooOrder.ChargeLine]?
    var feeLines: [WooOrder.ChargeLine]?

    enum CodingKeys: String, CodingKey {
        case id, amount, reason
        case dateCreatedGMT = "date_created_gmt"
        case lineItems = "line_items"
        case shippingLines = "shipping_lines"
        case feeLines = "fee_lines"
    }

    /// The refund as a canonical order of its own (`refund_of` names the order): the
    /// refunded lines with their negative amounts, and for what the lines do not cover
    /// (a refund by amount) a line per VAT rate of the order, in the shares the order's
    /// amounts had, so that the credit's total is the refund's to the cent.
    func canonical(of order: WooOrder, base: Order) -> Order {
        let lines = (lineItems ?? []).map { item in
            let quantity = item.quantity.value
            let unit = quantity == .zero ? item.subtotal.value : DecimalNumber(item.subtotal.value.value / quantity.value).rounded(4)
            return OrderLine(
                sku: item.sku.nonEmpty, name: item.name, quantity: quantity, unitPrice: unit, discount: .zero,
                vatRate: order.vatRate(item.taxes, net: item.total.value, tax: item.totalTax.value),
                vatAmount: item.totalTax.value, total: item.total.value)
        }
        func cost(_ line: WooOrder.ChargeLine) -> CostLine {
            CostLine(description: line.title, amount: line.total.value,
                     vatRate: order.vatRate(line.taxes, net: line.total.value, tax: line.totalTax.value), vatAmount: line.totalTax.value)
        }
        let shipping = (shippingLines ?? []).map(cost)
        var fees = (feeLines ?? []).map(cost)
        let covered = lines.reduce(DecimalNumber.zero) { $0 + $1.total + $1.vatAmount }
            + (shipping + fees).reduce(DecimalNumber.zero) { $0 + $1.amount + $1.vatAmount }
        let rest = DecimalNumber.zero - amount.value - covered
        if rest != .zero { fees += Self.split(rest, like: base, description: reason.nonEmpty ?? "Terugbetaling") }
        let vat = lines.reduce(DecimalNumber.zero) { $0 + $1.vatAmount } + (shipping + fees).reduce(DecimalNumber.zero) { $0 + $1.vatAmount }
        let totals = Totals(
            lines: lines.reduce(.zero) { $0 + $1.total }, shipping: shipping.reduce(.zero) { $0 + $1.amount },
            paymentCosts: fees.reduce(.zero) { $0 + $1.amount }, discount: .zero, vat: vat, total: .zero - amount.value)
        var refund = Order(
            sourceKey: "\(order.id)-refund-\(id)", updatedAt: dateCreatedGMT.date, number: "\(order.number)-R\(id)",
            createdAt: dateCreatedGMT.date, paidAt: dateCreatedGMT.date, status: .refunded, currency: base.currency,
            pricesIncludeVAT: base.pricesIncludeVAT, customer: base.customer, billingAddress: base.billingAddress,
            shippingAddress: base.shippingAddress, lines: lines, shippingCosts: shipping, paymentCosts: fees,
            paymentMethod: base.paymentMethod, note: reason.nonEmpty, totals: totals)
        refund.refundOf = RefundReference(sourceKey: base.sourceKey, number: base.number)
        return refund
    }

    /// `gross` (negative, VAT included) over the order's VAT rates in the shares of the
    /// order's own amounts including VAT, each share split into net and VAT at its rate;
    /// the last share takes the rounding, so the lines add up to `gross` exactly.
    static func split(_ gross: Money, like order: Order, description: String) -> [CostLine] {
        var shares: [DecimalNumber: DecimalNumber] = [:]
        for line in order.lines { shares[line.vatRate] = (shares[line.vatRate] ?? .zero) + line.total + line.vatAmount }
        for cost in order.shippingCosts + order.paymentCosts { shares[cost.vatRate] = (shares[cost.vatRate] ?? .zero) + cost.amount + cost.vatAmount }
        let rates = shares.filter { $0.value != .zero }.sorted { $0.key > $1.key }
        let whole = rates.reduce(DecimalNumber.zero) { $0 + $1.value }
        guard whole != .zero else { return [CostLine(description: description, amount: gross, vatRate: .zero, vatAmount: .zero)] }
        var left = gross
        return rates.enumerated().map { index, entry in
            let part = index == rates.count - 1 ? left : DecimalNumber(gross.value * entry.value.value / whole.value).rounded(2)
            left = left - part
            let net = part.excludingVAT(ratePercent: entry.key)
            let label = rates.count == 1 ? description : "\(description) (\(entry.key.value)% btw)"
            return CostLine(description: label, amount: net, vatRate: entry.key, vatAmount: part - net)
        }
    }
}
