import CKoppelPlugin
import Foundation

/// One record of a page a source returned: decoded, or the reason it could not be.
///
/// A source's page is decoded record by record, so that one malformed record (an order
/// without a number, a null where a date belongs) is parked on its own while the page,
/// the cursor and every other record go on.
public enum PageRecord<Record> {
    case record(Record)
    /// A record that does not decode: its key as the page has it (its `keyField`, or
    /// its place in the page when even that is missing) and why.
    case unreadable(key: String, reason: String)

    /// The decoded record, if it decoded.
    public var decoded: Record? {
        if case .record(let record) = self { return record }
        return nil
    }
}

extension HTTPResponse {
    /// Decodes the JSON array at `path` (keys into nested objects; none: the body itself)
    /// record by record. A body that is not JSON, or holds no array there, throws as
    /// `decode` does; a record that does not decode becomes `.unreadable`, keyed by its
    /// `keyField` value.
    public func decodeEach<Record: Decodable>(
        _ type: Record.Type, _ what: String, arrayAt path: [String] = [], keyField: String = "id"
    ) throws(ConnectorError) -> [PageRecord<Record>] {
        let data = Data(body.utf8)
        // The common case costs one decode: the whole page at once.
        if path.isEmpty, let page = try? JSONDecoder.koppel.decode([Record].self, from: data) {
            return page.map { .record($0) }
        }
        var value = try decode(JSONValue.self, what)
        for key in path {
            guard let inner = value[key] else { throw .internal("\(what): the answer has no \"\(key)\"") }
            value = inner
        }
        guard case .array(let elements) = value else { throw .internal("\(what): the answer holds no list of records") }
        return elements.enumerated().map { index, element in
            do {
                return .record(try JSONDecoder.koppel.decode(Record.self, from: Data(element.jsonText.utf8)))
            } catch {
                return .unreadable(key: Self.key(of: element, keyField) ?? "\(what) #\(index + 1)", reason: describe(error))
            }
        }
    }

    /// Decodes a body holding one record (a fetch by id) as `decodeEach` decodes each
    /// record of a page: a record that does not decode becomes `.unreadable` under its
    /// `keyField` value, or `fallbackKey` when even that is missing.
    public func decodeRecord<Record: Decodable>(
        _ type: Record.Type, _ what: String, keyField: String = "id", fallbackKey: String
    ) throws(ConnectorError) -> PageRecord<Record> {
        let value = try decode(JSONValue.self, what)
        do {
            return .record(try JSONDecoder.koppel.decode(Record.self, from: Data(body.utf8)))
        } catch {
            return .unreadable(key: Self.key(of: value, keyField) ?? fallbackKey, reason: describe(error))
        }
    }

    /// A record's key as text, when it has one.
    static func key(of element: JSONValue, _ field: String) -> String? {
        switch element[field] {
        case .string(let text)? where !text.isEmpty: text
        case .int(let number)?: String(number)
        case .decimal(let text)?: text
        default: nil
        }
    }
}

extension PluginHost {
    /// Reports a source record that cannot be read (ABI 1.4): the host parks it under
    /// `sourceKey` with `reason`, replayable, and the read goes on. A host older than 1.4
    /// cannot park it, so the read fails with the reason as before.
    public func emitUnreadable(sourceKey: String, reason: String) throws(ConnectorError) {
        let end = MemoryLayout<koppel_host>.offset(of: \koppel_host.emit_unreadable)! + MemoryLayout<UnsafeRawPointer?>.size
        guard Int(table.pointee.struct_size) >= end, let callback = table.pointee.emit_unreadable else {
            throw .invalidData("record \(sourceKey) could not be read: \(reason)")
        }
        struct Report: Encodable {
            var source_key: String
            var reason: String
        }
        let data: Data
        do {
            data = try JSONEncoder.koppel.encode(Report(source_key: sourceKey, reason: reason))
        } catch {
            throw .internal("could not encode the unreadable record's report: \(error)")
        }
        let status = data.withKoppelStr { callback(table.pointee.ctx, $0) }
        guard status == KOPPEL_OK else { throw ConnectorError(status: status, message: "the host refused the unreadable record") }
    }

    /// Emits the record `make` builds from one source record. When it cannot (`make`
    /// throws `.invalidData`: a field the canonical record needs is missing or wrong),
    /// the source record is reported unreadable under `key` and the read goes on; any
    /// other error stops the read.
    public func emit<Record: Encodable>(key: String, _ make: () throws(ConnectorError) -> Record) throws(ConnectorError) {
        let record: Record
        do {
            record = try make()
        } catch .invalidData(let reason) {
            return try emitUnreadable(sourceKey: key, reason: reason)
        }
        try emit(record)
    }

    /// Emits a page record as `make` builds it (see `emit(key:_:)`), or reports it
    /// unreadable when it did not decode.
    public func emit<Source, Record: Encodable>(
        _ item: PageRecord<Source>, key: (Source) -> String, _ make: (Source) throws(ConnectorError) -> Record
    ) throws(ConnectorError) {
        switch item {
        case .unreadable(let sourceKey, let reason):
            try emitUnreadable(sourceKey: sourceKey, reason: reason)
        case .record(let source):
            try emit(key: key(source)) { () throws(ConnectorError) in try make(source) }
        }
    }
}

extension ModifiedSincePager {
    /// A pager over page records: a decoded record has `key` and `modified`; one that did
    /// not decode has only the key the page gave it, and sorts first (it has no time).
    public static func records<Source>(
        pageSize: Int, resolution: TimeInterval = 1, key: @escaping (Source) -> String, modified: @escaping (Source) -> Date
    ) -> ModifiedSincePager<PageRecord<Source>> where Record == PageRecord<Source> {
        ModifiedSincePager(pageSize: pageSize, resolution: resolution, key: { record in
            switch record {
            case .record(let source): key(source)
            case .unreadable(let key, _): key
            }
        }, modified: { record in record.decoded.map(modified) ?? .distantPast })
    }
}
