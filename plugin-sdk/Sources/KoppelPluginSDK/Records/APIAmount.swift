import Foundation

/// An amount as a remote API writes it: a decimal string ("12.50"), a JSON number (read
/// from its digits, never through Double), or an empty string or null for zero. For
/// decoding API responses; canonical records use `DecimalNumber`, which takes strings only.
public struct APIAmount: Decodable, Sendable, Hashable {
    public var value: DecimalNumber

    public init(_ value: DecimalNumber) { self.value = value }

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .zero
        } else if let text = try? container.decode(String.self) {
            guard text.isEmpty || DecimalNumber(text) != nil else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "\"\(text)\" is not an amount")
            }
            value = DecimalNumber(text) ?? .zero
        } else {
            value = DecimalNumber(try container.decode(Decimal.self))
        }
    }
}
