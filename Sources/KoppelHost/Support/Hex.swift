import Foundation

extension Sequence where Element == UInt8 {
    /// The bytes as lowercase hex text (a digest, a key fingerprint).
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        for byte in self {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

extension Data {
    /// Bytes from hex text, or nil.
    init?(hex: String) {
        var bytes: [UInt8] = []
        var iterator = hex.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let byte = UInt8(String([high, low]), radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.init(bytes)
    }
}
