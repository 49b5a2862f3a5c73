import Foundation

/// A product or item (canonical record `product`).
public struct Product: Codable, Hashable, Sendable {
    /// Simple products are sold as they are; variable ones have variants; compositions
    /// are assembled from components.
    public enum Kind: String, Codable, Sendable { case simple, variable, variant, composition }

    public var sourceKey: String
    public var updatedAt: Date
    public var sku: String
    public var ean: String?
    public var kind: Kind
    public var name: String
    public var description: String?
    public var shortDescription: String?
    public var priceExclVAT: Money?
    public var priceInclVAT: Money?
    public var purchasePrice: Money?
    public var vatRate: DecimalNumber?
    public var currency: String
    public var stockQuantity: DecimalNumber?
    public var unit: String?
    public var attributes: [String: String]
    /// For compositions: the components and how many of each.
    public var components: [Component]

    /// One component of a composition.
    public struct Component: Codable, Hashable, Sendable {
        public var sku: String
        public var quantity: DecimalNumber
        public init(sku: String, quantity: DecimalNumber) {
            self.sku = sku
            self.quantity = quantity
        }
    }

    public init(
        sourceKey: String, updatedAt: Date, sku: String, ean: String? = nil, kind: Kind = .simple, name: String,
        description: String? = nil, shortDescription: String? = nil, priceExclVAT: Money? = nil,
        priceInclVAT: Money? = nil, purchasePrice: Money? = nil, vatRate: DecimalNumber? = nil,
        currency: String = "EUR", stockQuantity: DecimalNumber? = nil, unit: String? = nil,
        attributes: [String: String] = [:], components: [Component] = []
    ) {
        self.sourceKey = sourceKey
        self.updatedAt = updatedAt
        self.sku = sku
        self.ean = ean
        self.kind = kind
        self.name = name
        self.description = description
        self.shortDescription = shortDescription
        self.priceExclVAT = priceExclVAT
        self.priceInclVAT = priceInclVAT
        self.purchasePrice = purchasePrice
        self.vatRate = vatRate
        self.currency = currency
        self.stockQuantity = stockQuantity
        self.unit = unit
        self.attributes = attributes
        self.components = components
    }

    enum CodingKeys: String, CodingKey {
        case sku, ean, kind, name, description, currency, unit, attributes, components
        case sourceKey = "source_key"
        case updatedAt = "updated_at"
        case shortDescription = "short_description"
        case priceExclVAT = "price_excl_vat"
        case priceInclVAT = "price_incl_vat"
        case purchasePrice = "purchase_price"
        case vatRate = "vat_rate"
        case stockQuantity = "stock_quantity"
    }
}

/// The quantity of one SKU in one warehouse, or summed over all (canonical `stock_level`).
public struct StockLevel: Codable, Hashable, Sendable {
    public var sourceKey: String
    public var updatedAt: Date
    public var sku: String
    /// The warehouse code, or nil for the sum over all warehouses.
    public var warehouse: String?
    public var quantity: DecimalNumber

    public init(sourceKey: String, updatedAt: Date, sku: String, warehouse: String? = nil, quantity: DecimalNumber) {
        self.sourceKey = sourceKey
        self.updatedAt = updatedAt
        self.sku = sku
        self.warehouse = warehouse
        self.quantity = quantity
    }

    enum CodingKeys: String, CodingKey {
        case sku, warehouse, quantity
        case sourceKey = "source_key"
        case updatedAt = "updated_at"
    }
}

/// A parcel sent for an order (canonical record `shipment`).
public struct Shipment: Codable, Hashable, Sendable {
    public var sourceKey: String
    public var updatedAt: Date
    public var orderNumber: String
    public var shippedAt: Date?
    public var carrier: String?
    public var trackingCode: String?
    public var trackingURL: String?
    public var lines: [Line]

    /// What the parcel holds.
    public struct Line: Codable, Hashable, Sendable {
        public var sku: String
        public var quantity: DecimalNumber
        public init(sku: String, quantity: DecimalNumber) {
            self.sku = sku
            self.quantity = quantity
        }
    }

    public init(
        sourceKey: String, updatedAt: Date, orderNumber: String, shippedAt: Date? = nil, carrier: String? = nil,
        trackingCode: String? = nil, trackingURL: String? = nil, lines: [Line] = []
    ) {
        self.sourceKey = sourceKey
        self.updatedAt = updatedAt
        self.orderNumber = orderNumber
        self.shippedAt = shippedAt
        self.carrier = carrier
        self.trackingCode = trackingCode
        self.trackingURL = trackingURL
        self.lines = lines
    }

    enum CodingKeys: String, CodingKey {
        case carrier, lines
        case sourceKey = "source_key"
        case updatedAt = "updated_at"
        case orderNumber = "order_number"
        case shippedAt = "shipped_at"
        case trackingCode = "tracking_code"
        case trackingURL = "tracking_url"
    }
}
