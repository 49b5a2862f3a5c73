/// A postal address. Country is ISO 3166-1 alpha-2 ("NL", "BE", "DE").
public struct Address: Codable, Hashable, Sendable {
    public var name: String?
    public var company: String?
    public var street: String?
    public var houseNumber: String?
    public var houseNumberSuffix: String?
    public var line2: String?
    public var postcode: String?
    public var city: String?
    public var region: String?
    public var country: String

    public init(
        name: String? = nil, company: String? = nil, street: String? = nil, houseNumber: String? = nil,
        houseNumberSuffix: String? = nil, line2: String? = nil, postcode: String? = nil, city: String? = nil,
        region: String? = nil, country: String
    ) {
        self.name = name
        self.company = company
        self.street = street
        self.houseNumber = houseNumber
        self.houseNumberSuffix = houseNumberSuffix
        self.line2 = line2
        self.postcode = postcode
        self.city = city
        self.region = region
        self.country = country
    }

    enum CodingKeys: String, CodingKey {
        case name, company, street, line2, postcode, city, region, country
        case houseNumber = "house_number"
        case houseNumberSuffix = "house_number_suffix"
    }
}
