import Foundation

/// When a flow runs.
public enum FlowSchedule: Sendable, Equatable, CustomStringConvertible {
    /// Every so many seconds.
    case every(TimeInterval)
    /// On a cron schedule (minute hour day-of-month month day-of-week), in UTC.
    case cron(CronExpression)
    /// When a webhook announces new records (with a polling fallback).
    case webhook
    /// Only when asked (`koppel sync`).
    case manual

    /// Why a schedule could not be read.
    public struct ParseError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses `every 15m`, `every 30s`, `every 2h`, `daily 02:00`, `cron "0 2 * * *"`,
    /// `webhook` or `manual`.
    public init(parsing text: String) throws(ParseError) {
        let words = text.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1).map(String.init)
        let usage = "use every 15m, daily 02:00, cron \"0 2 * * *\", webhook or manual"
        switch (words.first?.lowercased(), words.count) {
        case ("manual", 1): self = .manual
        case ("webhook", 1): self = .webhook
        case ("every", 2):
            guard let match = words[1].wholeMatch(of: /([0-9]+)\s*(s|m|h)/), let amount = Int(match.1), amount > 0 else {
                throw ParseError(description: "\"\(text)\": the interval must be a number with s, m or h, such as every 15m")
            }
            self = .every(TimeInterval(amount) * ["s": 1, "m": 60, "h": 3600][String(match.2)]!)
        case ("daily", 2):
            guard let match = words[1].wholeMatch(of: /([0-9]{1,2}):([0-9]{2})/), let hour = Int(match.1), let minute = Int(match.2),
                hour < 24, minute < 60
            else { throw ParseError(description: "\"\(text)\": the time must be HH:MM in UTC, such as daily 02:00") }
            self = .cron(try CronExpression("\(minute) \(hour) * * *"))
        case ("cron", 2):
            self = .cron(try CronExpression(words[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))))
        default:
            throw ParseError(description: "\"\(text)\" is not a schedule; \(usage)")
        }
    }

    public var description: String {
        switch self {
        case .every(let seconds):
            seconds.truncatingRemainder(dividingBy: 3600) == 0 ? "every \(Int(seconds / 3600))h"
                : seconds.truncatingRemainder(dividingBy: 60) == 0 ? "every \(Int(seconds / 60))m" : "every \(Int(seconds))s"
        case .cron(let expression): "cron \"\(expression)\""
        case .webhook: "webhook"
        case .manual: "manual"
        }
    }
}

/// A five-field cron expression (minute, hour, day of month, month, day of week) with
/// `*`, lists, ranges and steps, evaluated in UTC.
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let restrictsDay: Bool
    let restrictsWeekday: Bool
    public let description: String

    public init(_ text: String) throws(FlowSchedule.ParseError) {
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

    /// The first minute strictly after `date` that matches, in UTC.
    public func next(after date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var candidate = calendar.date(bySetting: .second, value: 0, of: date.addingTimeInterval(60)) ?? date
        if candidate <= date { candidate = candidate.addingTimeInterval(60) }
        // At most a few years of minutes; a valid expression matches far sooner.
        for _ in 0..<(60 * 24 * 366 * 4) {
            let c = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: candidate)
            let dayMatches: Bool
            let dom = days.contains(c.day!), dow = weekdays.contains(c.weekday! - 1)
            if restrictsDay && restrictsWeekday { dayMatches = dom || dow } else { dayMatches = dom && dow }
            if months.contains(c.month!) && dayMatches && hours.contains(c.hour!) && minutes.contains(c.minute!) {
                return candidate
            }
            candidate = candidate.addingTimeInterval(60)
        }
        return .distantFuture
    }
}
