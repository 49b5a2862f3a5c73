import Foundation

/// When a flow runs.
public enum FlowSchedule: Sendable, Equatable, CustomStringConvertible {
    /// Every so many seconds.
    case every(TimeInterval)
    /// On a cron schedule (minute hour day-of-month month day-of-week), in its time zone.
    case cron(CronExpression)
    /// When a webhook announces new records, with a safety poll every `poll` seconds; a
    /// poll that finds records the webhook never brought switches the flow to polling
    /// until deliveries come again.
    case webhook(poll: TimeInterval)
    /// Only when asked (`koppel sync`).
    case manual

    /// Why a schedule could not be read.
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `every 15m`, `every 30s`, `every 2h`, `daily 02:00`, `cron "0 2 * * *"`,
    /// `webhook` (a safety poll every 15 minutes), `webhook, poll every 5m` or `manual`. A daily or cron schedule is in UTC unless an IANA time zone
    /// follows it: `daily 02:00 Europe/Amsterdam`, `cron "0 2 * * 1-5" Europe/Amsterdam`.
    public init(parsing text: String) throws(ParseError) {
        let words = text.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1).map(String.init)
        let usage = "use every 15m, daily 02:00 Europe/Amsterdam, cron \"0 2 * * *\", webhook, webhook, poll every 5m or manual"
        func zone(_ name: Substring?) throws(ParseError) -> TimeZone {
            guard let name = name?.trimmingCharacters(in: .whitespaces), !name.isEmpty else { return CronExpression.utcZone }
            guard let zone = TimeZone(identifier: name) else {
                throw ParseError(description: "\"\(text)\": \(name) is not a time zone; use an IANA name such as Europe/Amsterdam")
            }
            return zone
        }
        switch (words.first?.lowercased(), words.count) {
        case ("manual", 1): self = .manual
        case ("webhook", 1): self = .webhook(poll: Self.defaultSafetyPoll)
        case ("webhook,", 2):
            guard case .every(let interval)? = try? FlowSchedule(parsing: words[1].replacingOccurrences(of: "poll ", with: "")),
                  words[1].hasPrefix("poll every ")
            else { throw ParseError(description: "\"\(text)\": after webhook, give the safety poll as poll every 5m") }
            self = .webhook(poll: interval)
        case ("every", 2):
            guard let match = words[1].wholeMatch(of: /([0-9]+)\s*(s|m|h)/), let amount = Int(match.1), amount > 0 else {
                throw ParseError(description: "\"\(text)\": the interval must be a number with s, m or h, such as every 15m")
            }
            self = .every(TimeInterval(amount) * ["s": 1, "m": 60, "h": 3600][String(match.2)]!)
        case ("daily", 2):
            let parts = words[1].split(separator: " ", maxSplits: 1)
            guard let match = parts[0].wholeMatch(of: /([0-9]{1,2}):([0-9]{2})/), let hour = Int(match.1), let minute = Int(match.2),
                hour < 24, minute < 60
            else { throw ParseError(description: "\"\(text)\": the time must be HH:MM, such as daily 02:00 Europe/Amsterdam") }
            self = .cron(try CronExpression("\(minute) \(hour) * * *", timeZone: zone(parts.count > 1 ? parts[1] : nil)))
        case ("cron", 2):
            var expression = words[1][...], zoneName: Substring?
            if let quote = expression.first, quote == "\"" || quote == "'", let close = expression.dropFirst().firstIndex(of: quote) {
                zoneName = expression[expression.index(after: close)...]
                expression = expression[expression.index(after: expression.startIndex)..<close]
            }
            self = .cron(try CronExpression(String(expression), timeZone: zone(zoneName)))
        default:
            throw ParseError(description: "\"\(text)\" is not a schedule; \(usage)")
        }
    }

    /// How often a webhook flow polls when its schedule does not say.
    public static let defaultSafetyPoll: TimeInterval = 900

    public var description: String {
        switch self {
        case .every(let seconds):
            seconds.truncatingRemainder(dividingBy: 3600) == 0 ? "every \(Int(seconds / 3600))h"
                : seconds.truncatingRemainder(dividingBy: 60) == 0 ? "every \(Int(seconds / 60))m" : "every \(Int(seconds))s"
        case .webhook(let poll) where poll == Self.defaultSafetyPoll: "webhook"
        case .webhook(let poll): "webhook, poll \(FlowSchedule.every(poll))"
        case .cron(let expression):
            "cron \"\(expression)\"" + (expression.timeZone == CronExpression.utcZone ? "" : " \(expression.timeZone.identifier)")
        case .manual: "manual"
        }
    }
}

/// A five-field cron expression (minute, hour, day of month, month, day of week) with
/// `*`, lists, ranges and steps, evaluated on the wall clock of `timeZone`. As in cron,
/// a time that the clock skips when summer time starts runs right after the jump, and
/// a time that occurs twice when it ends runs once.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let timeZone: TimeZone
    public static let utcZone = TimeZone(identifier: "UTC")!
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let restrictsDay: Bool
    let restrictsWeekday: Bool
    public let description: String

    public init(_ text: String, timeZone: TimeZone = CronExpression.utcZone) throws(FlowSchedule.ParseError) {
        self.timeZone = timeZone
        let fields = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw FlowSchedule.ParseError(description: "cron \"\(text)\" needs five fields: minute hour day-of-month month day-of-week")
        }
        func parse(_ field: String, _ range: ClosedRange<Int>, _ name: String) throws(FlowSchedule.ParseError) -> Set<Int> {
            var values = Set<Int>()
            for part in field.split(separator: ",").map(String.init) {
                let pieces = part.split(separator: "/", maxSplits: 1).map(String.init)
                let step = pieces.count == 2 ? Int(pieces[1]) : 1
                var bounds: ClosedRange<Int>?
                if pieces[0] == "*" {
                    bounds = range
                } else if let dash = pieces[0].firstIndex(of: "-"), let low = Int(pieces[0][..<dash]), let high = Int(pieces[0][pieces[0].index(after: dash)...]), low <= high {
                    bounds = low...high
                } else if let single = Int(pieces[0]) {
                    bounds = single...(pieces.count == 2 ? range.upperBound : single)
                }
                guard let bounds, let step, step > 0, range.contains(bounds.lowerBound), range.contains(bounds.upperBound) else {
                    throw FlowSchedule.ParseError(description: "cron \"\(text)\": \(name) \"\(part)\" is not within \(range.lowerBound)-\(range.upperBound)")
                }
                values.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
            }
            return values
        }
        minutes = try parse(fields[0], 0...59, "minute")
        hours = try parse(fields[1], 0...23, "hour")
        days = try parse(fields[2], 1...31, "day of month")
        months = try parse(fields[3], 1...12, "month")
        weekdays = Set(try parse(fields[4], 0...7, "day of week").map { $0 % 7 })
        restrictsDay = fields[2] != "*"
        restrictsWeekday = fields[4] != "*"
        description = fields.joined(separator: " ")
    }

    /// The first minute strictly after `date` whose wall-clock time matches.
    public func next(after date: Date) -> Date {
        var candidate = Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60)
        // At most a few years of minutes; a valid expression matches far sooner.
        for _ in 0..<(60 * 24 * 366 * 4) {
            let now = wallClock(candidate)
            let jump = Int(now.timeIntervalSince(wallClock(candidate.addingTimeInterval(-60)))) - 60
            if jump > 0 {
                // Summer time began: the wall-clock minutes the clock skipped run now.
                if stride(from: 60, through: jump, by: 60).contains(where: { matches(now.addingTimeInterval(TimeInterval(-$0))) }) { return candidate }
            }
            let fallBack = timeZone.secondsFromGMT(for: candidate.addingTimeInterval(-3600)) - timeZone.secondsFromGMT(for: candidate)
            let seenBefore = fallBack > 0 && wallClock(candidate.addingTimeInterval(TimeInterval(-fallBack))) == now
            if !seenBefore && matches(now) { return candidate }
            candidate = candidate.addingTimeInterval(60)
        }
        return .distantFuture
    }

    /// `date` moved by the zone's offset, so that its UTC components read as the wall clock.
    private func wallClock(_ date: Date) -> Date {
        date.addingTimeInterval(TimeInterval(timeZone.secondsFromGMT(for: date)))
    }

    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = CronExpression.utcZone
        return calendar
    }()

    /// Whether a wall-clock time (see `wallClock`) matches the expression.
    private func matches(_ wall: Date) -> Bool {
        let c = Self.utc.dateComponents([.minute, .hour, .day, .month, .weekday], from: wall)
        let dom = days.contains(c.day!), dow = weekdays.contains(c.weekday! - 1)
        let dayMatches = restrictsDay && restrictsWeekday ? dom || dow : dom && dow
        return months.contains(c.month!) && dayMatches && hours.contains(c.hour!) && minutes.contains(c.minute!)
    }
}
