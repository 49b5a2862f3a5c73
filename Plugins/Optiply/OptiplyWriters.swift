import Foundation
import KoppelPluginSDK

/// Finds Optiply products by SKU: remembered in the connection's identity map, or found
/// once by `filter[skuCode]` (an attribute Optiply filters on, R4.4), so that a product
/// made in Optiply by hand is taken over, never duplicated.
struct OptiplyProducts {
    let api: OptiplyAPI
    var map: IdentityMap { IdentityMap("optiply.products", host: api.host) }

    /// The product with this SKU, or nil when Optiply has none.
    func find(sku: String) throws(ConnectorError) -> OptiplyAPI.Resource? {
        guard let found = try api.first("products", filter: ["skuCode": sku]) else { return nil }
        try map.remember(sku, found.id)
        return found
    }

    /// The id of the product with this SKU: remembered, or found once; nil when none.
    func id(sku: String) throws(ConnectorError) -> String? {
        if let id = try map.remembered(sku) { return id }
        return try find(sku: sku)?.id
    }

    /// Writes a product: created with what Optiply requires (`name`, an integer
    /// `stockLevel`, `unlimitedStock`, R6.1), or the attributes it does not hold yet sent
    /// to the one it has (numbers compared as numbers: Optiply returns "12.50" for 12.5,
    /// R3.5). A composition is its own product, marked `assembled` (R6.9). Stock levels
    /// belong to the `stock_levels` stream, purchase prices to the suppliers' products.
    func write(_ product: Product) throws(ConnectorError) -> WriteResult {
        guard !product.sku.isEmpty else { throw .invalidData("product \(product.sourceKey) has no SKU to key an Optiply product by") }
        guard product.kind != .variable else {
            return .skipped("\(product.sku) is a variable product; Optiply plans its variants, not the parent")
        }
        var attributes: [String: JSONValue] = ["name": .string(product.name), "skuCode": .string(product.sku)]
        attributes["eanCode"] = product.ean.map(JSONValue.string) ?? .null
        attributes["price"] = (product.priceExclVAT ?? product.priceInclVAT).map(JSONValue.money) ?? .null
        attributes["assembled"] = .bool(product.kind == .composition)
        guard let existing = try find(sku: product.sku) else {
            attributes["stockLevel"] = product.stockQuantity.map(JSONValue.wholeUnits) ?? .int(0)
            attributes["unlimitedStock"] = .bool(false)
            // Write-only (R5.1): shown back in `remoteIdMap` under this coupling.
            attributes["remoteId"] = .string(product.sku)
            switch try api.create("products", attributes) {
            case .created(let id):
                try map.remember(product.sku, id)
                return .created(id)
            case .conflict(let reason):
                throw .conflict("Optiply refused product \(product.sku) as a duplicate: \(reason)")
            }
        }
        let changed = JSONValue.differing(attributes, from: existing.attributes)
        guard !changed.isEmpty else { return .unchanged(existing.id) }
        try api.update("products", id: existing.id, changed)
        return .updated(existing.id)
    }
}

extension OptiplyProducts {
    /// A product deleted at the source is retired, not removed: `status: disabled` ends
    /// its buying advice and keeps its sales history. One Optiply no longer has is gone
    /// already (R6.8: a 404 counts as done).
    func retire(id: String) throws(ConnectorError) -> WriteResult {
        _ = try api.update("products", id: id, ["status": "disabled"])
        return .deleted(id)
    }
}

/// Writes stock levels to their Optiply product's `stockLevel`, in whole units (an
/// integer, R6.1).
struct OptiplyStockWriter {
    let products: OptiplyProducts

    func write(_ level: StockLevel) throws(ConnectorError) -> WriteResult {
        guard let id = try products.id(sku: level.sku) else {
            throw .invalidData("Optiply has no product with SKU \(level.sku); run the products flow first, then replay this stock level")
        }
        guard try products.api.update("products", id: id, ["stockLevel": .wholeUnits(level.quantity)]) else {
            try products.map.forget(level.sku)
            throw .invalidData("Optiply product \(id) (SKU \(level.sku)) is gone; the products flow makes it again, then replay this stock level")
        }
        return .updated(id)
    }
}

/// Writes orders (sales orders or sales invoices) as Optiply sell orders with their lines
/// (R6.2), each once. Optiply finds no record by one's own id (R5.2), so the connection
/// keeps its own map of source keys to sell order ids, rebuilt from the `remoteIdMap`s of
/// a full listing when it is empty; an invoice made from an order Optiply already has is
/// that order's sales, not new ones.
struct OptiplySellOrderWriter {
    let products: OptiplyProducts
    var api: OptiplyAPI { products.api }
    var map: IdentityMap { IdentityMap("optiply.sellOrders.\(api.couplingID)", host: api.host) }

    /// Every sell order this coupling made, by its remote id.
    func listing() throws(ConnectorError) -> [(key: String, id: String)] {
        try api.all("sellOrders").compactMap { order in order.remoteID(coupling: api.couplingID).map { ($0, order.id) } }
    }

    func write(_ order: Order, reconcile: Bool) throws(ConnectorError) -> WriteResult {
        guard order.status != .cancelled else { return .skipped("order \(order.number) is cancelled: no sales to plan with") }
        if let billed = order.salesOrderKey, let found = try map.id(billed, listing: listing) { return .found(found) }
        if let found = try map.id(order.sourceKey, listing: listing) { return .found(found) }
        let placed = Date.ISO8601FormatStyle().format(order.createdAt), total = JSONValue.money(order.totals.lines)
        if reconcile {
            // An earlier attempt (or another connection of this coupling) may have made it
            // since the map was filled: the sell orders placed at that second for that
            // total are few, and show their remote ids.
            let candidates = try api.all("sellOrders", filter: ["placed": placed, "totalValue": total.comparableText])
            if let made = candidates.first(where: { $0.remoteID(coupling: api.couplingID) == order.sourceKey }) {
                try map.remember(order.sourceKey, made.id)
                return .found(made.id)
            }
        }
        var lines: [JSONValue] = []
        var missing: [String] = []
        for line in order.lines {
            guard let sku = line.sku, !sku.isEmpty else { continue }  // costs and discounts are no sales of a product
            guard let id = try products.id(sku: sku) else {
                if !missing.contains(sku) { missing.append(sku) }
                continue
            }
            lines.append(["productId": .int(Int64(id) ?? 0), "quantity": .wholeUnits(line.quantity), "subtotalValue": .money(line.total)])
        }
        guard missing.isEmpty else {
            throw .invalidData("order \(order.number): Optiply has no product with SKU \(missing.joined(separator: ", ")); run the products flow, then replay")
        }
        guard !lines.isEmpty else { return .skipped("order \(order.number) has no product lines") }
        let created = try api.create("sellOrders", [
            "placed": .string(placed),
            "totalValue": total,
            "remoteId": .string(order.sourceKey),
            "orderLines": .array(lines),
        ])
        guard case .created(let id) = created else { throw .conflict("Optiply refused sell order \(order.number) as a duplicate") }
        try map.remember(order.sourceKey, id)
        return .created(id)
    }
}

/// Writes a supplier and its supplier products (the products it sells, with its code,
/// purchase price, minimum quantity, lead time and whether it is the main supplier).
/// The supplier is found through the connection's map (rebuilt from `remoteIdMap` when
/// empty); each supplier product by its product (`filter[supplierId]`, and after a 409 by
/// the pair, R5.3). Only what Optiply does not hold yet is sent. A product Optiply does
/// not know yet is left out and the supplier parked naming it; a replay after the
/// products flow completes it.
struct OptiplySupplierWriter {
    let products: OptiplyProducts
    var api: OptiplyAPI { products.api }
    var map: IdentityMap { IdentityMap("optiply.suppliers.\(api.couplingID)", host: api.host) }

    func listing() throws(ConnectorError) -> [(key: String, id: String)] {
        try api.all("suppliers").compactMap { supplier in supplier.remoteID(coupling: api.couplingID).map { ($0, supplier.id) } }
    }

    func write(_ supplier: Supplier, reconcile: Bool) throws(ConnectorError) -> WriteResult {
        var attributes: [String: JSONValue] = ["name": .string(supplier.name)]
        attributes["emails"] = .array(supplier.email.map { [.string($0)] } ?? [])
        var changed = false, created = false
        var existing: OptiplyAPI.Resource?
        if let id = try map.id(supplier.sourceKey, listing: listing) {
            existing = try api.get("suppliers", id: id)
            if existing == nil { try map.forget(supplier.sourceKey) }  // deleted in Optiply: made again
        } else if reconcile {
            existing = try api.all("suppliers", filter: ["name": supplier.name]).first { $0.remoteID(coupling: api.couplingID) == supplier.sourceKey }
        }
        let id: String
        if let existing {
            id = existing.id
            try map.remember(supplier.sourceKey, id)
            let differing = JSONValue.differing(attributes, from: existing.attributes)
            if !differing.isEmpty {
                try withoutBadEmails(differing) { (attributes) throws(ConnectorError) in _ = try api.update("suppliers", id: id, attributes) }
                changed = true
            }
        } else {
            attributes["remoteId"] = .string(supplier.sourceKey)
            var made: String?
            try withoutBadEmails(attributes) { (attributes) throws(ConnectorError) in
                guard case .created(let new) = try api.create("suppliers", attributes) else { throw .conflict("Optiply refused supplier \(supplier.name) as a duplicate") }
                made = new
            }
            id = made ?? ""
            try map.remember(supplier.sourceKey, id)
            created = true
        }
        let missing = try writeProducts(supplier, supplierID: id, changed: &changed)
        guard missing.isEmpty else {
            throw .invalidData("supplier \(supplier.name): Optiply has no product with SKU \(missing.joined(separator: ", ")); run the products flow, then replay")
        }
        return created ? .created(id) : changed ? .updated(id) : .unchanged(id)
    }

    /// R6.5: an address Optiply calls invalid refuses the whole write; it goes again
    /// without the addresses, and the log says which was left out.
    private func withoutBadEmails(_ attributes: [String: JSONValue], _ send: ([String: JSONValue]) throws(ConnectorError) -> Void) throws(ConnectorError) {
        do {
            try send(attributes)
        } catch .invalidData(let reason) where reason.contains("is not a valid address") && attributes["emails"] != nil {
            api.host.log(.warning, "Optiply refused the supplier's e-mail address (\(reason)); written without it")
            var rest = attributes
            rest.removeValue(forKey: "emails")
            try send(rest)
        }
    }

    /// The supplier's products: each made or brought up to date; returns the SKUs
    /// Optiply has no product for.
    private func writeProducts(_ supplier: Supplier, supplierID: String, changed: inout Bool) throws(ConnectorError) -> [String] {
        let current = Dictionary(try api.all("supplierProducts", filter: ["supplierId": supplierID]).map {
            (($0.attributes["productId"] ?? .null).comparableText, $0)
        }, uniquingKeysWith: { first, _ in first })
        var missing: [String] = []
        for supplied in supplier.products {
            guard let product = try products.id(sku: supplied.sku) else {
                missing.append(supplied.sku)
                continue
            }
            // R6.4: quantities and lead times are null or at least 1.
            let minimum = supplied.minimumQuantity.map(JSONValue.wholeUnits).flatMap { $0 == .int(0) ? nil : $0 }
            let wanted: [String: JSONValue] = [
                "skuCode": supplied.supplierSKU.map(JSONValue.string) ?? .null,
                "price": supplied.purchasePrice.map(JSONValue.money) ?? .null,
                "minimumPurchaseQuantity": minimum ?? .null,
                "deliveryTime": supplied.leadTimeDays.flatMap { $0 >= 1 ? JSONValue.int(Int64($0)) : nil } ?? .null,
                "preferred": .bool(supplied.preferred),
            ]
            var existing = current[product]
            if existing == nil {
                var made = wanted
                made["productId"] = .int(Int64(product) ?? 0)
                made["supplierId"] = .int(Int64(supplierID) ?? 0)
                // R6.1: a supplier product has a name: its product's.
                made["name"] = try api.get("products", id: product)?.attributes["name"] ?? .string(supplied.sku)
                switch try api.create("supplierProducts", made) {
                case .created:
                    changed = true
                    continue
                case .conflict:
                    // R5.3: made meanwhile (or by an attempt whose answer was lost): the pair finds it.
                    existing = try api.first("supplierProducts", filter: ["productId": product, "supplierId": supplierID])
                }
            }
            guard let existing else { continue }
            let differing = JSONValue.differing(wanted, from: existing.attributes)
            if !differing.isEmpty {
                if try !api.update("supplierProducts", id: existing.id, differing) {
                    throw .transient("Optiply supplier product \(existing.id) went away while it was written; the next attempt makes it again")
                }
                changed = true
            }
        }
        return missing
    }
}
