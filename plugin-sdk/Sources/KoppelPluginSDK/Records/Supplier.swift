import Foundation

/// A supplier and what it supplies (canonical record `supplier`): the products it sells
/// the merchant, each with the supplier's own code, purchase price and terms.
public struct Supplier: Codable, Hashable, Sendable {
    public var sourceKey: String
    public var updatedAt: Date
    /// The merchant's code for the supplier (Exact's account code).
    public var code: String?
    public var name: String
    public var email: String?
    public var phone: String?
    public var products: [SuppliedProduct]

    /// One product a supplier sells.
    public struct SuppliedProduct: Codable, Hashable, Sendable {
        /// The merchant's SKU.
        public var sku: String
        /// The supplier's own article code.
        public var supplierSKU: String?
        public var purchasePrice: Money?
        /// ISO 4217 ("EUR").
        public var currency: String?
        /// The smallest quantity the supplier delivers.
        public var minimumQuantity: DecimalNumber?
        /// Days between ordering and delivery.
        public var leadTimeDays: Int?
        /// Whether this is the product's main supplier.
        public var preferred: Bool

        public init(
            sku: String, supplierSKU: String? = nil, purchasePrice: Money? = nil, currency: String? = nil,
            minimumQuantity: DecimalNumber? = nil, leadTimeDays: Int? = nil, preferred: Bool = false
        ) {
            self.sku = sku
            self.supplierSKU = supplierSKU
            self.purchasePrice = purchasePrice
            self.currency = currency
            self.minimumQuantity = minimumQuantity
            self.leadTimeDays = leadTimeDays
            self.preferred = preferred
        }

        enum CodingKeys: String, CodingKey {
            case sku, currency, preferred
            case supplierSKU = "supplier_sku"
            case purchasePrice = "purchase_price"
            case minimumQuantity = "minimum_quantity"
            case leadTimeDays = "lead_time_days"
        }
    }

    public init(
        sourceKey: String, updatedAt: Date, code: String? = nil, name: String, email: String? = nil, phone: String? = nil,
        products: [SuppliedProduct] = []
    ) {
        self.sourceKey = sourceKey
        self.updatedAt = updatedAt
        self.code = code
        self.name = name
        self.email = email
        self.phone = phone
        self.products = products
    }

    enum CodingKeys: String, CodingKey {
        case code, name, email, phone, products
        case sourceKey = "source_key"
        case updatedAt = "updated_at"
    }
}
