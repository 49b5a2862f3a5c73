import Foundation
import KoppelHost
import XCTest

/// WooCommerce over plain HTTP takes OAuth 1.0a signatures; the signer must agree with
/// an independent implementation of RFC 5849 (Python's hmac and urllib here).
final class OAuth1Tests: XCTestCase {
    func testSignatureMatchesAnIndependentImplementation() throws {
        let url = "http://shop.test/wp-json/wc/v3/orders"
        let parameters = [
            ("per_page", "100"), ("page", "2"), ("modified_after", "2026-01-01T00:00:00"), ("search", "Jan & Piet's"),
            ("oauth_consumer_key", "ck_4f2a"), ("oauth_nonce", "n0nce"), ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", "1767225600"),
        ]
        let secret = "cs_9b/1+x"
        let ours = OAuth1Authorizer.signature(method: "GET", baseURL: url, parameters: parameters, consumerSecret: secret)
        XCTAssertEqual(ours, try Self.independentSignature(method: "GET", url: url, parameters: parameters, secret: secret))
    }

    /// RFC 5849's HMAC signature as Python's hmac and urllib make it: the oracle the
    /// signer is checked against.
    static func independentSignature(method: String, url: String, parameters: [(String, String)], secret: String) throws -> String {
        let script = """
            import base64, hashlib, hmac, json, sys, urllib.parse
            spec = json.load(sys.stdin)
            enc = lambda s: urllib.parse.quote(s, safe="~")
            params = "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in spec["params"]))
            base = "&".join([spec["method"], enc(spec["url"]), enc(params)])
            key = (enc(spec["secret"]) + "&").encode()
            print(base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode())
            """
        let spec = try JSONSerialization.data(withJSONObject: ["method": method, "url": url, "secret": secret, "params": parameters.map { [$0.0, $0.1] }])
        let theirs = try TestSupport.run("/usr/bin/env", ["python3", "-c", script], stdin: String(decoding: spec, as: UTF8.self))
        XCTAssertEqual(theirs.status, 0, theirs.stderr)
        return theirs.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testAuthorizerAddsTheSignedParametersToTheQuery() throws {
        let signer = OAuth1Authorizer(consumerKey: "ck_1", consumerSecret: "cs_1", clock: { Date(timeIntervalSince1970: 1_767_225_600) })
        var request = OutboundRequest(method: "GET", url: "http://shop.test/wp-json/wc/v3/orders?page=1")
        try signer.authorize(&request)
        let items = URLComponents(string: request.url)?.queryItems ?? []
        let names = items.map(\.name)
        XCTAssertEqual(Set(names), ["page", "oauth_consumer_key", "oauth_nonce", "oauth_signature_method", "oauth_timestamp", "oauth_signature"])
        XCTAssertEqual(items.first { $0.name == "oauth_timestamp" }?.value, "1767225600")
        // The signature a server computes over what arrived, independently.
        let signed = items.filter { $0.name != "oauth_signature" }.map { ($0.name, $0.value ?? "") }
        let expected = try Self.independentSignature(method: "GET", url: "http://shop.test/wp-json/wc/v3/orders", parameters: signed, secret: "cs_1")
        XCTAssertEqual(items.first { $0.name == "oauth_signature" }?.value, expected)
    }
}
