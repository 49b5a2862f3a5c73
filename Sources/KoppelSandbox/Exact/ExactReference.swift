import Foundation

/// What is known of each Exact Online entity set (`ExactReferenceData`, generated from
/// the shared research by `scripts/generate-exact-reference`): its properties and their
/// types, which may be set on POST and PUT, and the fields a GET must filter on. The
/// fake refuses what Exact refuses by it, with Exact's wording where it is known.
struct ExactReference: Sendable {
    struct Property: Decodable, Sendable {
        var name: String
        var type: String?
        var post: String?
        var put: String?
    }

    struct Entity: Decodable, Sendable {
        var path: String
        var key: String?
        var properties: [Property]
        /// true: a GET of the collection must filter on one of `mandatoryFilterFields`;
        /// false: none needed; nil: unknown, and the fake is strict (any property).
        var mandatoryFilter: Bool?
        var mandatoryFilterFields: [String]
        /// Rows a page: 60 on entity sets, 1000 on sync and bulk feeds (R-PAGE-1).
        var pageSize: Int?

        enum CodingKeys: String, CodingKey {
            case path, key, properties
            case pageSize = "page_size"
            case mandatoryFilter = "mandatory_filter"
            case mandatoryFilterFields = "mandatory_filter_fields"
        }

        /// The model name Exact's messages use (`Exact.Web.Api.Models.Account`,
        /// `…SalesEntry`).
        var modelName: String {
            let last = path.split(separator: "/").last.map(String.init) ?? path
            let singular = last.hasSuffix("ies") ? last.dropLast(3) + "y" : last.hasSuffix("s") && !last.hasSuffix("ss") ? String(last.dropLast()) : last
            return "Exact.Web.Api.Models." + singular
        }
    }

    let entities: [String: Entity]
    /// Per entity set (lowercased path), its property names as Exact spells them.
    let names: [String: Set<String>]
    /// Per entity set, its Edm.Byte properties: flags Exact answers as 0 or 1, not as
    /// true or false (R-TYPE-1; `Items.IsMakeItem`, `Warehouses.Main`).
    let byteProperties: [String: Set<String>]

    init(entities: [String: Entity]) {
        self.entities = entities
        names = entities.mapValues { Set($0.properties.map(\.name)) }
        byteProperties = entities.mapValues { Set($0.properties.filter { $0.type == "Edm.Byte" }.map(\.name)) }
    }

    static let shared: ExactReference = {
        struct File: Decodable { var entities: [Entity] }
        do {
            let file = try JSONDecoder().decode(File.self, from: Data(ExactReferenceData.json.utf8))
            return ExactReference(entities: Dictionary(file.entities.map { ($0.path.lowercased(), $0) }) { first, _ in first })
        } catch {
            fatalError("ExactReferenceData.swift is not the reference JSON: \(error)")
        }
    }()

    /// The entity set at `path` (matched without case, as Exact does: R-HOST-4).
    func entity(_ path: String) -> Entity? { entities[path.lowercased()] }

    /// `record` as Exact types it: Edm.Byte flags held as true/false become 1/0; the row
    /// version (`Timestamp`) only where the entity set has it, as an Edm.Int64 in a
    /// string (R-TYPE-2).
    func typed(_ record: [String: Any], path: String) -> [String: Any] {
        var typed = record
        if names[path.lowercased()]?.contains("Timestamp") == true, let version = record["Timestamp"] as? Int64 {
            typed["Timestamp"] = String(version)
        } else {
            typed["Timestamp"] = nil
        }
        guard let bytes = byteProperties[path.lowercased()], !bytes.isEmpty else { return typed }
        for name in bytes { if let flag = record[name] as? Bool { typed[name] = flag ? 1 : 0 } }
        return typed
    }

    /// A line or other record of no entity set of its own, without the fake's row version.
    func withoutRowVersion(_ record: [String: Any]) -> [String: Any] {
        var record = record
        record["Timestamp"] = nil
        return record
    }

    /// R-FILTER-1: the refusal of a collection GET whose `$filter` names none of the
    /// fields Exact requires, or nil when the GET may go on.
    func mandatoryFilterRefusal(_ entity: Entity, filtered fields: Set<String>) -> ExactError? {
        let required: [String]
        switch entity.mandatoryFilter {
        case false?: return nil
        case true?: required = entity.mandatoryFilterFields
        case nil: required = entity.properties.map(\.name)  // unknown: strict
        }
        guard Set(required).isDisjoint(with: fields) else { return nil }
        return ExactError(
            status: 400,
            message: "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter parameter with one of the following fields in the url:\(required.joined(separator: ",")).")
    }

    /// R-SELECT-1: the refusal of a query naming a property the entity does not have.
    /// Exact's exact wording for this is not known; the fake uses OData's.
    func unknownPropertyRefusal(_ entity: Entity, named candidates: [String], option: String) -> ExactError? {
        let known = names[entity.path.lowercased()] ?? []
        guard let unknown = candidates.first(where: { !known.contains($0) }) else { return nil }
        return ExactError(status: 400, message: "No property '\(unknown)' exists in type '\(entity.modelName)' (\(option)).")
    }

    /// `body` without the properties the reference marks read-only for `method` (POST or
    /// PUT): Exact ignores them without a word (R-BIZ-3: `Items.StandardSalesPrice`,
    /// `ItemWarehouses.CurrentStock`, `SalesInvoices.InvoiceDate` and `Status`).
    func writable(_ body: [String: Any], entity: Entity, method: String) -> [String: Any] {
        let readOnly = Set(entity.properties.filter { (method == "PUT" ? $0.put : $0.post) == "read-only" }.map(\.name))
        return body.filter { !readOnly.contains($0.key) }
    }

    /// R-FILTER-2: on `logistics/SupplierItem` only `ID` may be filtered on (since
    /// January 2022); on a sync feed only `Timestamp` (R-SYNC-1). Nil when the filter may
    /// go on.
    func unsupportedFilterRefusal(_ entity: Entity, filtered fields: Set<String>) -> ExactError? {
        let allowed: Set<String>
        switch entity.path {
        case "logistics/SupplierItem": allowed = ["ID"]
        case let path where path.hasPrefix("sync/"): allowed = ["Timestamp"]
        default: return nil
        }
        guard !fields.isSubset(of: allowed) else { return nil }
        return ExactError(status: 400, message: "This $filter parameter is not supported for this resource")
    }

    /// R-FILTER-3, R-BULK-1: a list GET that must say what it reads. `SalesItemPrices`
    /// wants a `$select` or `$top=1`; bulk and sync feeds a `$select` (for sync the
    /// research is silent; the fake is strict).
    func unboundedReadRefusal(_ entity: Entity, query: [String: String]) -> ExactError? {
        let selects = !(query["$select"] ?? "").isEmpty
        if entity.path == "logistics/SalesItemPrices", !selects, query["$top"] != "1" {
            return ExactError(status: 400, message: "Please add a $select or a $top=1 statement to the query string.")
        }
        if entity.path.hasPrefix("bulk/") || entity.path.hasPrefix("sync/"), !selects {
            return ExactError(status: 400, message: "Please add a $select or a $top=1 statement to the query string.")
        }
        return nil
    }

    /// R-SELECT-1: the refusal of a POST or PUT body naming a property the entity does
    /// not have (Exact's wording, likely).
    func unknownBodyPropertyRefusal(_ entity: Entity, body: [String: Any]) -> ExactError? {
        let known = names[entity.path.lowercased()] ?? []
        guard let unknown = body.keys.sorted().first(where: { !known.contains($0) && $0 != "__metadata" }) else { return nil }
        return ExactError(
            status: 400,
            message: "Error processing request stream. The property name '\(unknown)' specified for type '\(entity.modelName)' is not valid.")
    }
}

extension ODataFilter {
    /// Every property the filter names (the first segment of a navigation path).
    var fields: Set<String> {
        switch self {
        case .and(let a, let b), .or(let a, let b): a.fields.union(b.fields)
        case .not(let a): a.fields
        case .compare(let left, _, let right): Self.fields(in: [left, right])
        case .function(_, let operands): Self.fields(in: operands)
        }
    }

    private static func fields(in operands: [Operand]) -> Set<String> {
        Set(operands.compactMap {
            if case .field(let name) = $0 { return String(name.split(separator: "/").first ?? "") }
            return nil
        })
    }
}
