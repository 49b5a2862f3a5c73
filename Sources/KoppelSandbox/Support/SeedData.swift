import Foundation

/// Deterministic shop data for the fakes: customers (people and companies in several
/// countries, some buying again), products with two VAT rates, and orders with coupons,
/// shipping and payment costs. The same seed gives the same data; each fake renders it
/// in its own API's shape. All amounts are exact decimals, rounded to the cent per line
/// as shops do.
public struct SeedData: Sendable {
    public struct Options: Sendable {
        public var seed: UInt64 = 42
        public var customers = 40
        public var products = 30
        public var orders = 120
        /// Every `testOrderEvery`-th order is a test order (0: none).
        public var testOrderEvery = 0
        /// Orders are spread over the days before this moment.
        public var until = Date(timeIntervalSince1970: 1_767_225_600)
        public var days = 60
        public init() {}
    }

    public struct Customer: Sendable {
        public var id: Int
        public var firstName: String
        public var lastName: String
        public var company: String?
        public var vatNumber: String?
        public var cocNumber: String?
        public var email: String
        public var phone: String
        public var street: String
        public var houseNumber: String
        public var postcode: String
        public var city: String
        public var country: String
    }

    public struct Product: Sendable {
        public var id: Int
        public var sku: String
        public var ean: String
        public var name: String
        public var description: String
        /// Price excluding VAT.
        public var price: Decimal
        /// 21 or 9.
        public var vatRate: Decimal
        public var stock: Int
        public var modified: Date
    }

    public struct Line: Sendable {
        public var product: Product
        public var quantity: Int
        /// Before discount, excluding VAT.
        public var subtotal: Decimal
        /// After discount, excluding VAT.
        public var total: Decimal
        public var tax: Decimal
    }

    public struct Cost: Sendable {
        public var name: String
        public var amount: Decimal
        public var tax: Decimal
        public var vatRate: Decimal
    }

    public struct Order: Sendable {
        public var id: Int
        public var number: String
        public var isTest: Bool
        public var customer: Customer
        public var created: Date
        public var modified: Date
        public var paid: Date?
        /// pending, processing, completed, on-hold, cancelled
        public var status: String
        public var paymentMethod: String
        public var paymentTitle: String
        public var lines: [Line]
        public var coupon: (code: String, percent: Decimal)?
        public var shipping: Cost
        public var fee: Cost?

        public var discount: Decimal { lines.reduce(0) { $0 + $1.subtotal - $1.total } }
        public var linesTotal: Decimal { lines.reduce(0) { $0 + $1.total } }
        public var totalTax: Decimal { lines.reduce(0) { $0 + $1.tax } + shipping.tax + (fee?.tax ?? 0) }
        public var total: Decimal { linesTotal + shipping.amount + (fee?.amount ?? 0) + totalTax }
    }

    public var customers: [Customer] = []
    public var products: [Product] = []
    public var orders: [Order] = []
    /// What this data was generated from.
    public let options: Options

    public init(_ options: Options = Options()) {
        self.options = options
        var random = SplitMix64(seed: options.seed)
        func pick<T>(_ list: [T]) -> T { list[Int(random.next() % UInt64(list.count))] }
        func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }

        let firstNames = ["Anne", "Bram", "Chantal", "Daan", "Eva", "Femke", "Gijs", "Hanna", "Ingrid", "Joris", "Kees", "Lotte", "Marloes", "Niels", "Olga", "Pieter", "Renée", "Sanne", "Thijs", "Zoë"]
        let lastNames = ["de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "O'Brien", "Mulder", "de Groot", "Bos", "Peeters", "Maes", "Müller"]
        let companies = ["Bakkerij 't Hoekje", "Fietsenmaker Bos", "Studio Noord B.V.", "Van Dijk & Zn", "Kantoorhuis Maes BVBA", "Gärtnerei Müller GmbH"]
        let places: [(String, String, String, String)] = [
            ("NL", "Keizersgracht", "1015 CJ", "Amsterdam"), ("NL", "Oudegracht", "3511 AK", "Utrecht"),
            ("NL", "Grote Markt", "9711 LV", "Groningen"), ("BE", "Meir", "2000", "Antwerpen"),
            ("BE", "Veldstraat", "9000", "Gent"), ("DE", "Königsallee", "40212", "Düsseldorf"),
        ]
        for id in 1...max(1, options.customers) {
            let place = pick(places)
            let first = pick(firstNames), last = pick(lastNames)
            let isCompany = id % 4 == 0
            let company = isCompany ? pick(companies) : nil
            let vat = isCompany ? "\(place.0)\(String(format: "%09d", int(100_000_000...999_999_999)))B01" : nil
            let email = "\(first.lowercased()).\(last.lowercased().replacingOccurrences(of: " ", with: ""))\(id)@example.\(place.0.lowercased())"
                .folding(options: .diacriticInsensitive, locale: nil)
            customers.append(Customer(
                id: id, firstName: first, lastName: last, company: company, vatNumber: vat,
                cocNumber: isCompany ? String(int(10_000_000...99_999_999)) : nil, email: email,
                phone: "+31 6 \(int(10_000_000...99_999_999))", street: place.1, houseNumber: String(int(1...250)),
                postcode: place.2, city: place.3, country: place.0))
        }
        let nouns = ["Mok", "Theedoek", "Notitieboek", "Kaars", "Sjaal", "Poster", "Vaas", "Kookboek", "Koffiebonen", "Dekbed"]
        let adjectives = ["Blauwe", "Rustieke", "Grote", "Kleine", "Delftse", "Biologische", "Handgemaakte"]
        for id in 1...max(1, options.products) {
            let noun = pick(nouns)
            let food = ["Koffiebonen", "Kookboek"].contains(noun)
            let cents = int(250...12_000)
            products.append(Product(
                id: id, sku: String(format: "SKU-%04d", id), ean: "871\(String(format: "%010d", int(0...999_999_999)))",
                name: "\(pick(adjectives)) \(noun.lowercased())", description: "Een \(noun.lowercased()) uit de sandboxwinkel.",
                price: Decimal(cents) / 100, vatRate: food ? 9 : 21, stock: int(0...200),
                modified: options.until.addingTimeInterval(-Double(int(0...(options.days * 86_400))))))
        }
        let payments = [("ideal", "iDEAL", Decimal(0)), ("paypal", "PayPal", Decimal(string: "0.35")!), ("bacs", "Bankoverschrijving", Decimal(0)),
                        ("cod", "Rembours", Decimal(string: "5.50")!)]
        let span = Double(options.days * 86_400)
        for id in 1...max(1, options.orders) {
            // Repeat buyers: half the orders come from the first fifth of the customers.
            let customer = id % 2 == 0 ? customers[Int(random.next() % UInt64(max(1, customers.count / 5)))] : pick(customers)
            let created = options.until.addingTimeInterval(-span + span * Double(id) / Double(options.orders + 1))
            let coupon: (String, Decimal)? = id % 5 == 0 ? ("WELKOM10", 10) : nil
            var lines: [Line] = []
            var used = Set<Int>()
            for _ in 0..<int(1...4) {
                let product = pick(products)
                guard used.insert(product.id).inserted else { continue }
                let quantity = int(1...3)
                let subtotal = Self.cents(product.price * Decimal(quantity))
                let total = coupon.map { Self.cents(subtotal * (100 - $0.1) / 100) } ?? subtotal
                lines.append(Line(product: product, quantity: quantity, subtotal: subtotal, total: total, tax: Self.cents(total * product.vatRate / 100)))
            }
            let shippingAmount: Decimal = customer.country == "NL" ? Decimal(string: "4.95")! : Decimal(string: "9.95")!
            let payment = pick(payments)
            let fee = payment.2 > 0 ? Cost(name: "Toeslag \(payment.1)", amount: payment.2, tax: Self.cents(payment.2 * 21 / 100), vatRate: 21) : nil
            let isTest = options.testOrderEvery > 0 && id % options.testOrderEvery == 0
            let status = id % 13 == 0 ? "pending" : id % 17 == 0 ? "cancelled" : id % 3 == 0 ? "completed" : "processing"
            orders.append(Order(
                id: id, number: isTest ? "\(1000 + id)-T" : String(1000 + id), isTest: isTest, customer: customer,
                created: created, modified: created.addingTimeInterval(Double(int(60...7200))),
                paid: status == "pending" || status == "cancelled" ? nil : created.addingTimeInterval(120),
                status: status, paymentMethod: payment.0, paymentTitle: payment.1, lines: lines,
                coupon: coupon.map { (code: $0.0, percent: $0.1) },
                shipping: Cost(name: customer.country == "NL" ? "PostNL" : "DHL Europe", amount: shippingAmount,
                               tax: Self.cents(shippingAmount * 21 / 100), vatRate: 21),
                fee: fee))
        }
    }

    /// Rounded half away from zero to cents.
    public static func cents(_ value: Decimal) -> Decimal {
        var input = value
        var output = Decimal()
        NSDecimalRound(&output, &input, 2, .plain)
        return output
    }

    /// Two decimals, as shops write amounts ("12.50").
    public static func text(_ value: Decimal) -> String {
        let formatter = NumberFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.minimumFractionDigits = 2
        formatter.maximumFractionDigits = 2
        formatter.minimumIntegerDigits = 1
        formatter.usesGroupingSeparator = false
        return formatter.string(from: NSDecimalNumber(decimal: cents(value))) ?? "\(value)"
    }
}
