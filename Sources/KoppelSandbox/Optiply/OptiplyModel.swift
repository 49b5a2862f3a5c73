import Foundation

/// The attributes of Optiply's resources as the reference lists them (endpoints.json,
/// `models`): type, required on create, read-only, write-only, bounds. The fake checks
/// every write against them and answers reads in their response types (R3.4, R3.5).
struct OptiplyModel {
    enum Kind {
        case text(maxLength: Int?)
        /// A JSON integer (not a string, no fraction), within the bounds.
        case integer(minimum: Int?, maximum: Int?)
        /// A number or a decimal string in, a string out (R3.5); `money`: two decimals out
        /// and at most 9 integer digits and 2 decimals in (R6.3).
        case decimal(money: Bool)
        case boolean
        case dateTime
        case choice(Set<String>)
        case emails
        /// A list of objects (sell order lines, R6.2).
        case lines
    }

    struct Attribute {
        var kind: Kind
        var required = false
        var readOnly = false
        /// Written, never shown (`remoteId`, `orderLines`; R5.1).
        var writeOnly = false
        var nullable = false
    }

    let attributes: [String: Attribute]

    /// Attributes every resource has.
    static let common: [String: Attribute] = [
        "remoteId": Attribute(kind: .text(maxLength: nil), writeOnly: true),
        "remoteDataSyncedToDate": Attribute(kind: .dateTime),
        "remoteIdMap": Attribute(kind: .text(maxLength: nil), readOnly: true),
        "uuid": Attribute(kind: .text(maxLength: nil), readOnly: true),
        "accountId": Attribute(kind: .integer(minimum: nil, maximum: nil), readOnly: true),
        "createdAt": Attribute(kind: .dateTime, readOnly: true),
        "updatedAt": Attribute(kind: .dateTime, readOnly: true),
        "createdFromPublicApi": Attribute(kind: .boolean, readOnly: true),
    ]

    static let text255 = Attribute(kind: .text(maxLength: 255))
    static let status = Attribute(kind: .choice(["enabled", "disabled"]))
    static let reaction = Attribute(kind: .integer(minimum: 0, maximum: 1))

    /// By resource type (R6.1 for what is required, R6.3 and R6.4 for the bounds).
    static let resources: [String: OptiplyModel] = [
        "products": OptiplyModel(attributes: common.merging([
            "name": Attribute(kind: .text(maxLength: 255), required: true),
            "stockLevel": Attribute(kind: .integer(minimum: nil, maximum: 9_999_999), required: true),
            "unlimitedStock": Attribute(kind: .boolean),
            "skuCode": text255, "eanCode": text255, "articleCode": text255,
            "price": Attribute(kind: .decimal(money: true)),
            "status": status,
            "assembled": Attribute(kind: .boolean), "notBeingBought": Attribute(kind: .boolean), "ignored": Attribute(kind: .boolean),
            "resumingPurchase": Attribute(kind: .boolean),
            "minimumStock": Attribute(kind: .decimal(money: false)), "maximumStock": Attribute(kind: .decimal(money: false)),
            "manualServiceLevel": Attribute(kind: .decimal(money: false)),
            "createdAtRemote": Attribute(kind: .dateTime),
            "stockMeasurementUnit": Attribute(kind: .text(maxLength: 10)),
            "novel": Attribute(kind: .boolean, readOnly: true), "category": Attribute(kind: .text(maxLength: nil), readOnly: true),
        ]) { a, _ in a }),
        "suppliers": OptiplyModel(attributes: common.merging([
            "name": Attribute(kind: .text(maxLength: 255), required: true),
            "emails": Attribute(kind: .emails),
            "minimumOrderValue": Attribute(kind: .decimal(money: true)),
            "fixedCosts": Attribute(kind: .decimal(money: true), nullable: true),
            "deliveryTime": Attribute(kind: .integer(minimum: 1, maximum: 365), nullable: true),
            "userReplenishmentPeriod": Attribute(kind: .integer(minimum: 1, maximum: 365), nullable: true),
            "reactingToLostSales": Attribute(kind: .boolean),
            "lostSalesReaction": reaction, "lostSalesMovReaction": reaction, "backordersReaction": reaction,
            "backorders": Attribute(kind: .boolean), "backorderThreshold": Attribute(kind: .integer(minimum: nil, maximum: nil)),
            "maxLoadCapacity": Attribute(kind: .integer(minimum: nil, maximum: nil), nullable: true),
            "containerVolume": Attribute(kind: .integer(minimum: nil, maximum: nil), nullable: true),
            "ignored": Attribute(kind: .boolean),
            "globalLocationNumber": Attribute(kind: .text(maxLength: nil), nullable: true),
            "type": Attribute(kind: .choice(["vendor", "producer"])),
        ]) { a, _ in a }),
        "supplierProducts": OptiplyModel(attributes: common.merging([
            "name": Attribute(kind: .text(maxLength: 255), required: true),
            "productId": Attribute(kind: .integer(minimum: 1, maximum: nil), required: true),
            "supplierId": Attribute(kind: .integer(minimum: 1, maximum: nil), required: true),
            "skuCode": text255, "eanCode": text255, "articleCode": text255,
            "price": Attribute(kind: .decimal(money: true)),
            "minimumPurchaseQuantity": Attribute(kind: .integer(minimum: 1, maximum: nil), nullable: true),
            "lotSize": Attribute(kind: .integer(minimum: 1, maximum: nil), nullable: true),
            "deliveryTime": Attribute(kind: .integer(minimum: 1, maximum: nil), nullable: true),
            "availability": Attribute(kind: .boolean), "availabilityDate": Attribute(kind: .dateTime),
            "preferred": Attribute(kind: .boolean), "status": status,
            "freeStock": Attribute(kind: .integer(minimum: 0, maximum: nil)),
            "weight": Attribute(kind: .decimal(money: false)), "volume": Attribute(kind: .decimal(money: false)),
            "notBeingBought": Attribute(kind: .boolean, readOnly: true), "resumingPurchase": Attribute(kind: .text(maxLength: nil), readOnly: true),
        ]) { a, _ in a }),
        "sellOrders": OptiplyModel(attributes: common.merging([
            "placed": Attribute(kind: .dateTime, required: true),
            "totalValue": Attribute(kind: .decimal(money: true), required: true),
            "completed": Attribute(kind: .dateTime, nullable: true),
            "orderLines": Attribute(kind: .lines, writeOnly: true),
        ]) { a, _ in a }),
        "sellOrderLines": OptiplyModel(attributes: common.merging([
            "sellOrderId": Attribute(kind: .integer(minimum: 1, maximum: nil), required: true),
            "productId": Attribute(kind: .integer(minimum: 1, maximum: nil), required: true),
            "quantity": Attribute(kind: .integer(minimum: nil, maximum: nil), required: true),
            "subtotalValue": Attribute(kind: .decimal(money: true), required: true),
        ]) { a, _ in a }),
    ]

    /// What is wrong with `written` (nil: nothing), as an API error's detail.
    func problem(_ written: [String: Any], creating: Bool) -> String? {
        for (name, value) in written.sorted(by: { $0.key < $1.key }) {
            guard let attribute = attributes[name] else { return "\(name): unknown attribute" }
            if attribute.readOnly { return "\(name): the attribute is read-only" }
            if value is NSNull {
                if attribute.nullable || !attribute.required { continue }
                return "\(name): must not be null"
            }
            if let problem = Self.problem(value, attribute.kind) { return "\(name): \(problem)" }
        }
        if creating, let missing = attributes.filter({ $0.value.required && written[$0.key] == nil }).keys.sorted().first {
            return "\(missing): must not be null"
        }
        return nil
    }

    private static func problem(_ value: Any, _ kind: Kind) -> String? {
        switch kind {
        case .text(let maxLength):
            guard let text = value as? String else { return "must be a string" }
            if let maxLength, text.count > maxLength { return "size must be between 0 and \(maxLength)" }
        case .integer(let minimum, let maximum):
            guard let number = value as? Decimal, number == number.rounded(0) else { return "must be an integer" }
            if let minimum, number < Decimal(minimum) { return "must be greater than or equal to \(minimum)" }
            if let maximum, number > Decimal(maximum) { return "must be less than or equal to \(maximum)" }
        case .decimal(let money):
            let number = (value as? Decimal) ?? (value as? String).flatMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) }
            guard let number else { return "must be a number" }
            if money, number.rounded(2) != number || abs(number) >= 1_000_000_000 {
                return "numeric value out of bounds (<9 digits>.<2 digits> expected)"
            }
        case .boolean:
            guard value is Bool else { return "must be a boolean" }
        case .dateTime:
            guard let text = value as? String, OptiplySandbox.date(text) != nil else { return "must be an ISO-8601 date-time" }
        case .choice(let allowed):
            guard let text = value as? String, allowed.contains(text.lowercased()) else { return "must be one of \(allowed.sorted().joined(separator: ", "))" }
        case .emails:
            guard let list = value as? [Any] else { return "must be a list of e-mail addresses" }
            // R6.5: Optiply's words for a bad address.
            for item in list {
                guard let address = item as? String, address.range(of: #"^[^@\s]+@[^@\s]+\.[^@\s]+$"#, options: .regularExpression) != nil else {
                    return "\(item) is not a valid address"
                }
            }
        case .lines:
            guard value is [[String: Any]] else { return "must be a list of order lines" }
        }
        return nil
    }

    /// A stored resource as a read shows it: read-only attributes filled in, write-only
    /// ones left out, decimals as strings (money with two decimals).
    func shown(_ stored: [String: Any]) -> [String: Any] {
        var shown: [String: Any] = [:]
        for (name, value) in stored {
            guard let attribute = attributes[name], !attribute.writeOnly else { continue }
            if case .decimal(let money) = attribute.kind, let number = value as? Decimal {
                shown[name] = money ? Self.twoDecimals(number) : "\(number)"
            } else if case .integer = attribute.kind, let number = value as? Decimal {
                shown[name] = NSDecimalNumber(decimal: number).intValue
            } else {
                shown[name] = value
            }
        }
        return shown
    }

    static func twoDecimals(_ number: Decimal) -> String {
        var value = number, rounded = Decimal()
        NSDecimalRound(&rounded, &value, 2, .plain)
        let text = "\(rounded)"
        guard let dot = text.firstIndex(of: ".") else { return text + ".00" }
        return text.count - text.distance(from: text.startIndex, to: dot) == 2 ? text + "0" : text
    }
}

extension Decimal {
    func rounded(_ scale: Int) -> Decimal {
        var value = self, result = Decimal()
        NSDecimalRound(&result, &value, scale, .plain)
        return result
    }
}
