import Foundation
import KoppelPluginSDK

/// Processes sales invoices Koppel booked, when the flow says `process_invoices`: Exact
/// leaves an invoice posted through the API "to be processed" (status 20), neither booked
/// nor receivable, until `salesinvoice/PrintedSalesInvoices` processes it (R-BIZ-1), which
/// also settles its date (R-BIZ-2). No email goes to the customer.
///
/// An invoice is booked once whatever happens here: one that could not be processed is
/// kept in the connection's state and tried again before the next invoice is written.
struct ExactInvoiceProcessor {
    let api: ExactAPI
    static let pendingKey = "invoices_to_process"

    /// Processes invoice `id`, dated `date` (the order's date); on failure it waits for
    /// the next write.
    func process(_ id: String, number: String, date: Date) throws(ConnectorError) {
        var pending = try self.pending()
        pending[id] = Pending(number: number, date: ExactAPI.dateText(date))
        try processAll(&pending)
    }

    /// Processes the invoices that wait from earlier writes.
    func processPending() throws(ConnectorError) {
        var pending = try self.pending()
        guard !pending.isEmpty else { return }
        try processAll(&pending)
    }

    private struct Pending: Codable {
        var number: String
        var date: String
    }

    private func pending() throws(ConnectorError) -> [String: Pending] {
        guard let text = try api.host.state.get(Self.pendingKey) else { return [:] }
        return (try? JSONDecoder().decode([String: Pending].self, from: Data(text.utf8))) ?? [:]
    }

    private func processAll(_ pending: inout [String: Pending]) throws(ConnectorError) {
        for (id, invoice) in pending.sorted(by: { $0.key < $1.key }) {
            do {
                _ = try api.create("salesinvoice/PrintedSalesInvoices", [
                    "InvoiceID": .string(id), "InvoiceDate": .string(invoice.date), "SendEmailToCustomer": false,
                ])
                pending[id] = nil
            } catch .invalidData(let message) {
                // Refused for good (processed by hand meanwhile, deleted): nothing to retry.
                api.host.log(.warning, "invoice for order \(invoice.number) is booked in Exact Online but was not processed: \(message)")
                pending[id] = nil
            } catch {
                api.host.log(.warning, "invoice for order \(invoice.number) is booked in Exact Online; processing it failed (\(error)) and is tried again at the next write")
            }
        }
        let text = pending.isEmpty ? nil : (try? JSONEncoder().encode(pending)).map { String(decoding: $0, as: UTF8.self) }
        if let text { try api.host.state.set(Self.pendingKey, text) } else { try api.host.state.delete(Self.pendingKey) }
    }
}
