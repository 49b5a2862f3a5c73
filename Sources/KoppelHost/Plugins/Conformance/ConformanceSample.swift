import Foundation

/// One canonical record of each kind (plugin-sdk/schema), for the write cases that
/// `koppel plugins validate --write` runs against a real connection. The records are
/// marked as tests wherever the record has a place for it, and keyed so that a person who
/// finds one in a remote system sees where it came from.
enum ConformanceSample {
    /// The source key and number every sample carries.
    static let key = "koppel-validate-1"

    /// The sample for `kind` (a manifest's stream record), nil for "any" or an unknown kind.
    static func record(kind: String, at now: Date = Date()) -> Data? {
        let stamp = Date.ISO8601FormatStyle().format(now)
        let address: [String: Any] = [
            "name": "Koppel Validatie", "company": NSNull(), "street": "Teststraat", "house_number": "1", "house_number_suffix": "A",
            "line2": NSNull(), "postcode": "1011AA", "city": "Amsterdam", "region": NSNull(), "country": "NL",
        ]
        let customer: [String: Any] = [
            "source_key": key, "updated_at": stamp, "kind": "person", "email": "validate@koppel.invalid", "first_name": "Koppel",
            "last_name": "Validatie", "company_name": NSNull(), "vat_number": NSNull(), "coc_number": NSNull(), "phone": "+31201234567",
            "language": "nl", "billing_address": address, "shipping_address": address,
        ]
        let record: [String: Any]
        switch kind {
        case "order":
            record = [
                "source_key": key, "updated_at": stamp, "number": key, "created_at": stamp, "paid_at": stamp, "status": "paid",
                "is_test": true, "currency": "EUR", "prices_include_vat": true, "customer": customer,
                "billing_address": address, "shipping_address": address,
                "lines": [[
                    "sku": "KOPPEL-VALIDATE", "ean": NSNull(), "name": "Koppel validation article", "quantity": "1",
                    "unit_price": "12.10", "discount": "0.00", "vat_rate": "21", "vat_amount": "2.10", "total": "12.10",
                ]],
                "shipping_costs": [] as [Any], "payment_costs": [] as [Any], "discounts": [] as [Any],
                "payment_method": NSNull(), "shipping_method": NSNull(), "note": "A test record written by koppel plugins validate",
                "coupon_codes": NSNull(), "sales_order_key": NSNull(), "refund_of": NSNull(),
                "totals": ["lines": "12.10", "shipping": "0.00", "payment_costs": "0.00", "discount": "0.00", "vat": "2.10", "total": "12.10"],
            ]
        case "customer":
            record = customer
        case "shipment":
            record = [
                "source_key": key, "updated_at": stamp, "order_number": key, "shipped_at": stamp, "carrier": "PostNL",
                "tracking_code": "3SKOPPEL0000001", "tracking_url": NSNull(), "lines": [] as [Any],
            ]
        case "product":
            record = [
                "source_key": key, "updated_at": stamp, "sku": "KOPPEL-VALIDATE", "ean": NSNull(), "kind": "simple",
                "name": "Koppel validation article", "description": NSNull(), "short_description": NSNull(),
                "price_excl_vat": "10.00", "price_incl_vat": "12.10", "purchase_price": "5.00", "vat_rate": "21", "currency": "EUR",
                "stock_quantity": NSNull(), "unit": NSNull(), "attributes": [:] as [String: Any], "components": [] as [Any],
            ]
        case "stock_level":
            record = ["source_key": key, "updated_at": stamp, "sku": "KOPPEL-VALIDATE", "warehouse": NSNull(), "quantity": "0"]
        case "supplier":
            record = [
                "source_key": key, "updated_at": stamp, "code": key, "name": "Koppel Validatie Leverancier", "email": "supplier@koppel.invalid",
                "phone": NSNull(), "products": [] as [Any],
            ]
        default:
            return nil
        }
        return try? JSONSerialization.data(withJSONObject: record, options: .sortedKeys)
    }
}
