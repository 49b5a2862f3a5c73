import Foundation

/// A decimal number that travels as a JSON string ("12.50"): money, quantities and VAT
/// rates. Never a binary floating-point number, so 0.1 + 0.2 is exactly 0.3.
public struct DecimalNumber: Codable, Hashable, Sendable, Comparable, CustomStringConvertible,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral
{
    /// The value.
    public var value: Decimal

    public init(_ value: Decimal) { self.value = value }

    /// Parses "12.50", "-3", "0.125". Nil for anything else (no exponents, no commas).
    public init?(_ text: String) {
        guard text.wholeMatch(of: /-?[0-9]+(\.[0-9]+)?/) != nil,
            let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX"))
        else { return nil }
        self.value = value
    }

    public init(stringLiteral value: String) {
        guard let parsed = DecimalNumber(value) else { preconditionFailure("not a decimal: \(value)") }
        self = parsed
    }

    public init(integerLiteral value: Int) { self.value = Decimal(value) }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let text = try? container.decode(String.self) else {
            throw DecodingError.typeMismatch(
                String.self,
                .init(codingPath: decoder.codingPath, debugDescription: "a decimal must be a string such as \"12.50\", not a JSON number"))
        }
        guard let parsed = DecimalNumber(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not a decimal such as \"12.50\"")
        }
        self = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// The plain decimal text, without exponent.
    public var description: String { NSDecimalNumber(decimal: value).stringValue }

    /// The value rounded half away from zero to `scale` decimals (cents: 2).
    public func rounded(_ scale: Int = 2) -> DecimalNumber {
        var input = value
        var output = Decimal()
        NSDecimalRound(&output, &input, scale, .plain)
        return DecimalNumber(output)
    }

    /// This amount including VAT at `rate` percent, without the VAT, to the cent:
    /// 12.10 at 21 is 10.00. The one place the formula is written.
    public func excludingVAT(ratePercent rate: DecimalNumber) -> DecimalNumber {
        DecimalNumber(value * 100 / (100 + rate.value)).rounded(2)
    }

    public static func < (lhs: DecimalNumber, rhs: DecimalNumber) -> Bool { lhs.value < rhs.value }
    public static func + (lhs: DecimalNumber, rhs: DecimalNumber) -> DecimalNumber { DecimalNumber(lhs.value + rhs.value) }
    public static func - (lhs: DecimalNumber, rhs: DecimalNumber) -> DecimalNumber { DecimalNumber(lhs.value - rhs.value) }
    public static func * (lhs: DecimalNumber, rhs: DecimalNumber) -> DecimalNumber { DecimalNumber(lhs.value * rhs.value) }
    public static var zero: DecimalNumber { DecimalNumber(Decimal.zero) }
}

/// An amount of money in the record's currency, as a decimal string.
public typealias Money = DecimalNumber
