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

extension Address {
    /// A one-line street address split the Dutch way: "Kerkstraat 12a" gives street
    /// "Kerkstraat", number "12", suffix "a"; "Laan 1940-1945 3 bis" takes the last
    /// number. A line without a number is all street.
    public static func splitStreetLine(_ line: String) -> (street: String, houseNumber: String?, suffix: String?) {
        let text = line.trimmingCharacters(in: .whitespaces)
        guard let match = text.wholeMatch(of: /(.*\S)\s+([0-9]+)\s*[-\/]?\s*([A-Za-z0-9]{0,6})/) else { return (text, nil, nil) }
        let suffix = String(match.3)
        return (String(match.1), String(match.2), suffix.isEmpty ? nil : suffix)
    }
}
