import Foundation

/// Times as a service writes them in its own zone without saying so (Mijnwebwinkel's
/// `2026-03-05 14:02:11`, Boekuwzending's `createdAtSource`, both in Europe/Amsterdam):
/// one formatter per format and zone, for reading and writing, safe to share between
/// threads.
public final class ZonedTimeFormat: @unchecked Sendable {
    private let formatter: DateFormatter
    private let lock = NSLock()

    /// `format` in DateFormatter's pattern language; `zone` an IANA name.
    public init(_ format: String, zone: String) {
        formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: zone)
        formatter.dateFormat = format
    }

    public func string(_ date: Date) -> String { lock.withLock { formatter.string(from: date) } }
    public func date(_ text: String) -> Date? { lock.withLock { formatter.date(from: text) } }

    /// `yyyy-MM-dd HH:mm:ss` in Europe/Amsterdam, as Dutch shop systems write times.
    public static let dutch = ZonedTimeFormat("yyyy-MM-dd HH:mm:ss", zone: "Europe/Amsterdam")
}
