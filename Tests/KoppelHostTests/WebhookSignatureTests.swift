import Crypto
import Foundation
import KoppelHost
import XCTest

/// The signature schemes a plugin may declare, checked as the intake checks a delivery.
final class WebhookSignatureTests: XCTestCase {
    func rule(_ scheme: String, header: String? = nil, signed: String? = nil, signature: String? = nil) -> PluginManifest.WebhookRule {
        PluginManifest.WebhookRule(scheme: scheme, header: header, secretSetting: "webhook_secret", signedMember: signed, signatureMember: signature)
    }

    func testAHeaderHMACOverTheRawBody() throws {
        let body = Data(#"{"id":118}"#.utf8)
        let mac = Data(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data("s3cret".utf8))))
        let check = WebhookSignature(rule: rule("hmac-sha256-base64", header: "X-WC-Webhook-Signature"), secret: "s3cret")
        XCTAssertNoThrow(try check.verify(headers: ["x-wc-webhook-signature": mac.base64EncodedString()], body: body))
        XCTAssertThrowsError(try check.verify(headers: ["x-wc-webhook-signature": mac.base64EncodedString()], body: Data(#"{"id":119}"#.utf8))) {
            XCTAssertEqual($0 as? WebhookSignature.Refusal, .mismatch)
        }
        XCTAssertThrowsError(try check.verify(headers: [:], body: body)) {
            XCTAssertEqual($0 as? WebhookSignature.Refusal, .missing("the X-WC-Webhook-Signature header"))
        }
    }

    func testAnEnvelopeSignsTheRawTextOfItsMember() throws {
        // Spaces inside Content are signed as sent: a re-encoding would not match.
        let content = #"{ "Topic": "SalesInvoices", "Key": "7f1c" }"#
        let mac = HMAC<SHA256>.authenticationCode(for: Data(content.utf8), using: SymmetricKey(data: Data("exact".utf8)))
        let hex = Data(mac).map { String(format: "%02X", $0) }.joined()
        let check = WebhookSignature(rule: rule("hmac-sha256-hex-envelope", signed: "Content", signature: "HashCode"), secret: "exact")
        XCTAssertNoThrow(try check.verify(headers: [:], body: Data(#"{"Content": \#(content), "HashCode": "\#(hex)"}"#.utf8)))
        XCTAssertThrowsError(try check.verify(headers: [:], body: Data(#"{"Content": {"Topic":"SalesInvoices","Key":"7f1c"}, "HashCode": "\#(hex)"}"#.utf8)))
        XCTAssertThrowsError(try check.verify(headers: [:], body: Data())) {
            XCTAssertEqual($0 as? WebhookSignature.Refusal, .malformed("the body is not a JSON object"))
        }
    }

    func testAURLTokenMustBeTheSecret() throws {
        let check = WebhookSignature(rule: rule("url-token"), secret: "buz-hook-8f31")
        let body = Data(#"{"event":"webhook-label-create"}"#.utf8)
        XCTAssertNoThrow(try check.verify(headers: [:], body: body, urlToken: "buz-hook-8f31"))
        for wrong in ["buz-hook-8f3", "buz-hook-8f31x", "BUZ-HOOK-8F31"] {
            XCTAssertThrowsError(try check.verify(headers: [:], body: body, urlToken: wrong), wrong) {
                XCTAssertEqual($0 as? WebhookSignature.Refusal, .mismatch)
            }
        }
        for missing in [nil, ""] as [String?] {
            XCTAssertThrowsError(try check.verify(headers: [:], body: body, urlToken: missing)) {
                guard case .missing = $0 as? WebhookSignature.Refusal else { return XCTFail("\($0)") }
            }
        }
    }
}
