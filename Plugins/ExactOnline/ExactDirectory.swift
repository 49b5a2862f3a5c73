import Foundation
import KoppelPluginSDK

/// Finds or creates the accounts and items a document refers to, remembering each GUID
/// in the host's identity map (the connection's state) so that a known buyer or SKU costs
/// no call at all.
///
/// A remembered GUID may name a record the bookkeeper has since deleted or merged. The
/// directory notes each GUID it answered from memory; when Exact refuses a document,
/// `forgetVanished()` asks Exact which of them still exist and forgets the others, so the
/// next lookup finds or creates the record again.
struct ExactDirectory {
    let api: ExactAPI
    let settings: ExactSettings
    var host: PluginHost { api.host }
    private let recalled = Recalled()

    /// The GUIDs answered from memory in this directory's life, with their keys.
    private final class Recalled: @unchecked Sendable {
        var entries: [(key: String, id: String, entitySet: String)] = []
    }

    init(api: ExactAPI, settings: ExactSettings) {
        self.api = api
        self.settings = settings
    }

    private func remembered(_ key: String, in entitySet: String) throws(ConnectorError) -> String? {
        guard let id = try host.state.get(key) else { return nil }
        recalled.entries.append((key, id, entitySet))
        return id
    }

    private func remember(_ key: String, _ id: String) throws(ConnectorError) { try host.state.set(key, id) }

    /// Forgets every GUID answered from memory that Exact no longer has; returns whether
    /// any was forgotten (then a document refused for it can be built again).
    func forgetVanished() throws(ConnectorError) -> Bool {
        var forgotten = false
        for entry in recalled.entries {
            if try api.first(entry.entitySet, filter: "ID eq \(ExactAPI.guid(entry.id))", select: "ID") != nil { continue }
            host.log(.info, "Exact Online no longer has \(entry.key) (\(entry.id)); it is looked up again")
            try host.state.delete(entry.key)
            forgotten = true
        }
        recalled.entries.removeAll()
        return forgotten
    }

    /// The GUID of the record of `entitySet` whose `Code` is `code` (as Exact stores it,
    /// e.g. an account code padded): remembered under `key`, else looked up once;
    /// `missing` says what to do when there is none.
    private func id(
        _ key: String, _ entitySet: String, code: String, missing: () throws(ConnectorError) -> String
    ) throws(ConnectorError) -> String {
        if let id = try remembered(key, in: entitySet) { return id }
        let id: String
        if let found = try api.first(entitySet, filter: "Code eq \(ExactAPI.quote(code))", select: "ID")?["ID"]?.stringValue {
            id = found
        } else {
            id = try missing()
        }
        try remember(key, id)
        return id
    }

    // MARK: Accounts

    /// The account an order is booked on: the default debtor when the flow has one, else
    /// the buyer's account found by email (brought in step with the order when the flow
    /// says `update_accounts`), else a new one.
    func account(for order: Order) throws(ConnectorError) -> String {
        if let code = settings.defaultDebtor { return try account(code: code) }
        let customer = order.customer
        guard let email = customer.email, !email.isEmpty else {
            throw .invalidData("customer \(customer.sourceKey) has no email address to find an Exact account by; set default_debtor in the flow's options")
        }
        let fields = Self.accountFields(customer, address: order.billingAddress)
        guard let id = try account(email: email) else { return try createAccount(customer, fields: fields) }
        if settings.updateAccounts == true { _ = try api.updateChanged("crm/Accounts", id: id, fields) }
        return id
    }

    /// The account with this code (a default debtor).
    func account(code: String) throws(ConnectorError) -> String {
        try id("account:code:\(code)", "crm/Accounts", code: ExactAPI.accountCode(code)) { () throws(ConnectorError) -> String in
            throw .invalidData("the default debtor \(code) does not exist in Exact Online division \(api.division)")
        }
    }

    /// The account with this email address: remembered, or found once; nil when none.
    func account(email: String) throws(ConnectorError) -> String? {
        let key = "account:email:\(email.lowercased())"
        if let id = try remembered(key, in: "crm/Accounts") { return id }
        guard let found = try api.first("crm/Accounts", filter: "Email eq \(ExactAPI.quote(email.lowercased()))", select: "ID")?["ID"]?.stringValue
        else { return nil }
        try remember(key, found)
        return found
    }

    /// Writes a customer to its account (the `accounts` stream): the account written
    /// before, or the one with the customer's email, gets the fields that differ; without
    /// either, a new account is created.
    func write(_ customer: Customer, knownID: String?) throws(ConnectorError) -> WriteResult {
        let fields = Self.accountFields(customer, address: customer.billingAddress)
        var candidates = [knownID]
        if let email = customer.email, !email.isEmpty { candidates.append(try account(email: email)) }
        for case let id? in candidates {
            // Nil: the account is gone from Exact (deleted or merged); try the next.
            if let changed = try api.updateChanged("crm/Accounts", id: id, fields) { return changed ? .updated(id) : .unchanged(id) }
        }
        return .created(try createAccount(customer, fields: fields))
    }

    /// Creates an account (a customer, status C) and, for a company with a named buyer,
    /// its contact person; remembers it by email.
    private func createAccount(_ customer: Customer, fields: [String: JSONValue]) throws(ConnectorError) -> String {
        var fields = fields
        fields["Status"] = "C"
        let created = try api.create("crm/Accounts", fields)
        guard let id = created["ID"]?.stringValue else { throw .internal("Exact Online returned an account without ID") }
        let email = customer.email?.lowercased()
        if customer.companyName != nil, customer.lastName != nil || customer.firstName != nil {
            var contact: [String: JSONValue] = ["Account": .string(id)]
            if let email { contact["Email"] = .string(email) }
            if let first = customer.firstName { contact["FirstName"] = .string(first) }
            contact["LastName"] = .string(customer.lastName ?? customer.firstName ?? "")
            if let phone = customer.phone { contact["Phone"] = .string(phone) }
            _ = try api.create("crm/Contacts", contact)
        }
        if let email { try remember("account:email:\(email)", id) }
        return id
    }

    /// The account fields Koppel manages.
    static func accountFields(_ customer: Customer, address: Address?) -> [String: JSONValue] {
        let person = [customer.firstName, customer.lastName].compactMap { $0 }.joined(separator: " ")
        var fields: [String: JSONValue] = ["Name": .string(customer.companyName ?? (person.isEmpty ? customer.email ?? customer.sourceKey : person))]
        func put(_ field: String, _ value: String?) { if let value, !value.isEmpty { fields[field] = .string(value) } }
        put("Email", customer.email?.lowercased())
        put("Phone", customer.phone)
        put("VATNumber", customer.vatNumber)
        put("ChamberOfCommerce", customer.cocNumber)
        put("Language", customer.language?.uppercased())
        if let address = address ?? customer.billingAddress {
            let street = [address.street, [address.houseNumber, address.houseNumberSuffix].compactMap { $0 }.joined()].compactMap { $0 }
                .filter { !$0.isEmpty }.joined(separator: " ")
            put("AddressLine1", street)
            put("AddressLine2", address.line2)
            put("Postcode", address.postcode)
            put("City", address.city)
            put("Country", address.country)
        }
        return fields
    }

    // MARK: Items

    /// The item with this code (a SKU, or a cost item's code): remembered, found, or
    /// created as a sales item (a stock item linked to the default warehouse when it is a
    /// product). An existing product gets the shop's description only when the flow says
    /// `update_items`, so what a merchant wrote in Exact stays.
    func item(code: String, description: String, isProduct: Bool) throws(ConnectorError) -> String {
        guard let item = try existingItem(code: code, isProduct: isProduct) else {
            return try createItem(code: code, fields: ["Description": .string(description)], isProduct: isProduct)
        }
        if isProduct, settings.updateItems == true {
            _ = try api.updateChanged("logistics/Items", id: item, ["Description": .string(description)])
        }
        return item
    }

    /// The item with this code: remembered, or found once; nil when Exact has none. A
    /// product found (not remembered) is linked to the connection's warehouse first if
    /// it is not yet: a creation interrupted between the item and its link is completed.
    func existingItem(code: String, isProduct: Bool) throws(ConnectorError) -> String? {
        if let id = try remembered("item:\(code)", in: "logistics/Items") { return id }
        guard let found = try api.first("logistics/Items", filter: "Code eq \(ExactAPI.quote(code))", select: "ID")?["ID"]?.stringValue
        else { return nil }
        if isProduct { try linkToWarehouse(item: found, openingStock: nil, unlessLinked: true) }
        try remember("item:\(code)", found)
        return found
    }

    /// Creates a sales item with `fields`; a product is a stock item, linked to the
    /// connection's warehouse (with its opening stock, when given). Remembered by code
    /// once both exist, so that a retry after an interruption completes the link.
    func createItem(code: String, fields: [String: JSONValue], isProduct: Bool, openingStock: DecimalNumber? = nil) throws(ConnectorError) -> String {
        var body = fields
        body["Code"] = .string(code)
        body["IsSalesItem"] = true
        body["IsStockItem"] = .bool(isProduct)
        let created = try api.create("logistics/Items", body)
        guard let id = created["ID"]?.stringValue else { throw .internal("Exact Online returned an item without ID") }
        if isProduct { try linkToWarehouse(item: id, openingStock: openingStock, unlessLinked: false) }
        try remember("item:\(code)", id)
        return id
    }

    /// Links a stock item to the connection's warehouse (if it names one); with
    /// `unlessLinked`, only when Exact has no such link yet. Opening stock is booked as
    /// a processed stock count (R-BIZ-4): the link's `CurrentStock` is computed by Exact.
    private func linkToWarehouse(item: String, openingStock: DecimalNumber?, unlessLinked: Bool) throws(ConnectorError) {
        guard let warehouse = settings.warehouse else { return }
        let warehouseID = try warehouseID(code: warehouse)
        if unlessLinked {
            let filter = "Item eq \(ExactAPI.guid(item)) and Warehouse eq \(ExactAPI.guid(warehouseID))"
            if try api.first("inventory/ItemWarehouses", filter: filter, select: "ID") != nil { return }
        }
        _ = try api.create("inventory/ItemWarehouses", ["Item": .string(item), "Warehouse": .string(warehouseID)])
        guard let openingStock, openingStock != .zero else { return }
        _ = try api.create("inventory/StockCounts", [
            "Warehouse": .string(warehouseID), "StockCountDate": ExactAPI.dateValue(host.now), "Status": 21,
            "Description": "Opening stock", "StockCountLines": [["Item": .string(item), "QuantityNew": openingStock.json]],
        ])
    }

    /// The GUID of the G/L account with this code (lines name G/L accounts by GUID).
    func glAccount(code: String) throws(ConnectorError) -> String {
        try id("gl:\(code)", "financial/GLAccounts", code: code) { () throws(ConnectorError) -> String in
            throw .invalidData("G/L account \(code) does not exist in Exact Online division \(api.division); check the flow's revenue_accounts and cost settings")
        }
    }

    private func warehouseID(code: String) throws(ConnectorError) -> String {
        try id("warehouse:\(code)", "inventory/Warehouses", code: code) { () throws(ConnectorError) -> String in
            throw .invalidData("warehouse \(code) does not exist in Exact Online division \(api.division)")
        }
    }
}
