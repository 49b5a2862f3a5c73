import Foundation
import KoppelPluginSDK

/// Finds Optiply products by SKU, remembering each id in the connection's state so a
/// known SKU costs no call.
struct OptiplyProducts {
    let api: OptiplyAPI

    private func key(_ sku: String) -> String { "product:\(sku)" }

    /// The product with this SKU: remembered, or found once; nil when Optiply has none.
    func id(sku: String) throws(ConnectorError) -> String? {
        if let id = try api.host.state.get(key(sku)) { return id }
        guard let found = try api.first("products", filter: ["skuCode": sku]) else { return nil }
        try api.host.state.set(key(sku), found.id)
        return found.id
    }

    func remember(sku: String, id: String) throws(ConnectorError) {
        try api.host.state.set(key(sku), id)
    }

    /// Writes a product: created with every attribute, or the attributes that differ
    /// sent to the one Optiply has. A composition is its own product, marked `assembled`
    /// (see the README's rule). Stock levels belong to the `stock_levels` stream, purchase
    /// prices to the suppliers' products (`suppliers` stream), as Optiply keeps them.
    func write(_ product: Product) throws(ConnectorError) -> WriteResult {
        guard !product.sku.isEmpty else { throw .invalidData("product \(product.sourceKey) has no SKU to key an Optiply product by") }
        guard product.kind != .variable else {
            return .skipped("\(product.sku) is a variable product; Optiply plans its variants, not the parent")
        }
        var attributes: [String: JSONValue] = ["name": .string(product.name), "skuCode": .string(product.sku)]
        attributes["eanCode"] = product.ean.map(JSONValue.string) ?? .null
        attributes["price"] = (product.priceExclVAT ?? product.priceInclVAT).map { .decimal($0.description) } ?? .null
        attributes["assembled"] = .bool(product.kind == .composition)
        // Found by SKU (one call), to compare: a product made in Optiply by hand is
        // taken over, never duplicated.
        guard let existing = try api.first("products", filter: ["skuCode": product.sku]) else {
            let id = try api.create("products", attributes)
            try remember(sku: product.sku, id: id)
            return .created(id)
        }
        let changed = attributes.filter { name, value in (existing.attributes[name]?.comparableText ?? "") != value.comparableText }
        try remember(sku: product.sku, id: existing.id)
        guard !changed.isEmpty else { return .unchanged(existing.id) }
        try api.update("products", id: existing.id, changed)
        return .updated(existing.id)
    }
}

/// Writes stock levels to their Optiply product's `stockLevel`.
struct OptiplyStockWriter {
    let products: OptiplyProducts

    func write(_ level: StockLevel) throws(ConnectorError) -> WriteResult {
        guard let id = try products.id(sku: level.sku) else {
            throw .invalidData("Optiply has no product with SKU \(level.sku); run the products flow first, then replay this stock level")
        }
        try products.api.update("products", id: id, ["stockLevel": .decimal(level.quantity.description)])
        return .updated(id)
    }
}

/// Writes orders (sales orders or sales invoices) as Optiply sell orders, each once: the
/// source key is the sell order's `remoteId`, and an invoice made from an order Optiply
/// already has is that order's sales, not new ones.
struct OptiplySellOrderWriter {
    let products: OptiplyProducts
    var api: OptiplyAPI { products.api }

    func write(_ order: Order, reconcile: Bool) throws(ConnectorError) -> WriteResult {
        guard order.status != .cancelled else { return .skipped("order \(order.number) is cancelled: no sales to plan with") }
        if let billed = order.salesOrderKey, let found = try api.first("sellOrders", filter: ["remoteId": billed]) {
            return .found(found.id)
        }
        if reconcile, let found = try api.first("sellOrders", filter: ["remoteId": order.sourceKey]) { return .found(found.id) }
        var lines: [JSONValue] = []
        var missing: [String] = []
        for line in order.lines {
            guard let sku = line.sku, !sku.isEmpty else { continue }  // costs and discounts are no sales of a product
            guard let id = try products.id(sku: sku) else {
                if !missing.contains(sku) { missing.append(sku) }
                continue
            }
            lines.append(["productId": .int(Int64(id) ?? 0), "quantity": .decimal(line.quantity.description), "subtotalValue": .decimal(line.total.description)])
        }
        guard missing.isEmpty else {
            throw .invalidData("order \(order.number): Optiply has no product with SKU \(missing.joined(separator: ", ")); run the products flow, then replay")
        }
        guard !lines.isEmpty else { return .skipped("order \(order.number) has no product lines") }
        let id = try api.create("sellOrders", [
            "placed": .string(Date.ISO8601FormatStyle().format(order.createdAt)),
            "totalValue": .decimal(order.totals.lines.description),
            "remoteId": .string(order.sourceKey),
            "orderLines": .array(lines),
        ])
        return .created(id)
    }
}

/// Writes a supplier and its supplier products (the products it sells, with its code,
/// purchase price, minimum quantity, lead time and whether it is the main supplier).
/// The supplier is found by `remoteId` (the source key); each supplier product by its
/// product. Only what differs is sent. A product Optiply does not know yet is left out
/// and the supplier parked naming it; a replay after the products flow completes it.
struct OptiplySupplierWriter {
    let products: OptiplyProducts
    var api: OptiplyAPI { products.api }

    func write(_ supplier: Supplier) throws(ConnectorError) -> WriteResult {
        var attributes: [String: JSONValue] = ["name": .string(supplier.name)]
        attributes["emails"] = .array(supplier.email.map { [.string($0)] } ?? [])
        var changed = false, created = false
        let id: String
        if let existing = try api.first("suppliers", filter: ["remoteId": supplier.sourceKey]) {
            id = existing.id
            let differing = attributes.filter { (existing.attributes[$0.key]?.comparableText ?? "") != $0.value.comparableText }
            if !differing.isEmpty {
                try api.update("suppliers", id: id, differing)
                changed = true
            }
        } else {
            attributes["remoteId"] = .string(supplier.sourceKey)
            id = try api.create("suppliers", attributes)
            created = true
        }
        let current = Dictionary(try api.all("supplierProducts", filter: ["supplierId": id]).map {
            ($0.attributes["productId"]?.comparableText ?? "", $0)
        }, uniquingKeysWith: { first, _ in first })
        var missing: [String] = []
        for supplied in supplier.products {
            guard let product = try products.id(sku: supplied.sku) else {
                missing.append(supplied.sku)
                continue
            }
            var wanted: [String: JSONValue] = [
                "skuCode": supplied.supplierSKU.map(JSONValue.string) ?? .null,
                "price": supplied.purchasePrice.map { .decimal($0.description) } ?? .null,
                "minimumPurchaseQuantity": supplied.minimumQuantity.map { .decimal($0.description) } ?? .null,
                "deliveryTime": supplied.leadTimeDays.map { .int(Int64($0)) } ?? .null,
                "preferred": .bool(supplied.preferred),
            ]
            if let existing = current[product] {
                let differing = wanted.filter { (existing.attributes[$0.key]?.comparableText ?? "") != $0.value.comparableText }
                if !differing.isEmpty {
                    try api.update("supplierProducts", id: existing.id, differing)
                    changed = true
                }
            } else {
                wanted["productId"] = .int(Int64(product) ?? 0)
                wanted["supplierId"] = .int(Int64(id) ?? 0)
                _ = try api.create("supplierProducts", wanted)
                changed = true
            }
        }
        guard missing.isEmpty else {
            throw .invalidData("supplier \(supplier.name): Optiply has no product with SKU \(missing.joined(separator: ", ")); run the products flow, then replay")
        }
        return created ? .created(id) : changed ? .updated(id) : .unchanged(id)
    }
}
