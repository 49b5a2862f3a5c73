import Foundation

/// A buyer: a person or a company (canonical record `customer`).
public struct Customer: Codable, Hashable, Sendable {
    /// Person or company.
    public enum Kind: String, Codable, Sendable { case person, company }

    public var sourceKey: String
    public var updatedAt: Date
    public var kind: Kind
    public var email: String?
    public var firstName: String?
    public var lastName: String?
    public var companyName: String?
    /// VAT identification number ("NL123456789B01").
    public var vatNumber: String?
    /// Chamber of commerce number (KvK).
    public var cocNumber: String?
    public var phone: String?
    /// ISO 639-1 language ("nl").
    public var language: String?
    public var billingAddress: Address?
    public var shippingAddress: Address?

    public init(
        sourceKey: String, updatedAt: Date, kind: Kind, email: String? = nil, firstName: String? = nil,
        lastName: String? = nil, companyName: String? = nil, vatNumber: String? = nil, cocNumber: String? = nil,
        phone: String? = nil, language: String? = nil, billingAddress: Address? = nil, shippingAddress: Address? = nil
    ) {
        self.sourceKey = sourceKey
        self.updatedAt = updatedAt
        self.kind = kind
        self.email = email
        self.firstName = firstName
        self.lastName = lastName
        self.companyName = companyName
        self.vatNumber = vatNumber
        self.cocNumber = cocNumber
        self.phone = phone
        self.language = language
        self.billingAddress = billingAddress
        self.shippingAddress = shippingAddress
    }

    enum CodingKeys: String, CodingKey {
        case kind, email, phone, language
        case sourceKey = "source_key"
        case updatedAt = "updated_at"
        case firstName = "first_name"
        case lastName = "last_name"
        case companyName = "company_name"
        case vatNumber = "vat_number"
        case cocNumber = "coc_number"
        case billingAddress = "billing_address"
        case shippingAddress = "shipping_address"
    }
}
