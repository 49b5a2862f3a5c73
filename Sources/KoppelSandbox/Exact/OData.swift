import Foundation

/// The part of OData v2 query syntax Exact Online's REST API accepts in `$filter`:
/// comparisons (eq, ne, gt, ge, lt, le) joined by and/or/not with parentheses; literals
/// 'text' (a quote doubled inside), guid'...', datetime'...', numbers, true, false,
/// null; and the functions substringof('x', Field) and startswith(Field, 'x').
/// Text comparisons ignore case, as Exact's database does.
indirect enum ODataFilter: Equatable {
    case and(ODataFilter, ODataFilter)
    case or(ODataFilter, ODataFilter)
    case not(ODataFilter)
    case compare(Operand, String, Operand)
    case function(String, [Operand])

    enum Operand: Equatable {
        case field(String)
        case string(String)
        case guid(String)
        case date(Date)
        case number(Decimal)
        case bool(Bool)
        case null
    }

    /// Why a filter could not be read; the message is what Exact would answer.
    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ text: String) throws(ParseError) -> ODataFilter {
        var parser = Parser(tokens: try tokenize(text))
        let filter = try parser.expression()
        guard parser.atEnd else { throw ParseError(description: "Syntax error in $filter near '\(parser.peek ?? "")'") }
        return filter
    }

    /// True when `record` passes the filter.
    func matches(_ record: [String: Any]) -> Bool {
        switch self {
        case .and(let a, let b): return a.matches(record) && b.matches(record)
        case .or(let a, let b): return a.matches(record) || b.matches(record)
        case .not(let a): return !a.matches(record)
        case .compare(let left, let op, let right):
            return Self.compare(Self.value(left, record), op, Self.value(right, record))
        case .function(let name, let arguments):
            let values = arguments.map { Self.value($0, record) }
            guard values.count == 2, let a = values[0] as? String, let b = values[1] as? String else { return false }
            switch name {
            case "substringof": return b.lowercased().contains(a.lowercased())
            case "startswith": return a.lowercased().hasPrefix(b.lowercased())
            case "endswith": return a.lowercased().hasSuffix(b.lowercased())
            default: return false
            }
        }
    }

    private static func value(_ operand: Operand, _ record: [String: Any]) -> Any? {
        switch operand {
        case .field(let name):
            var current: Any? = record
            for part in name.split(separator: "/") { current = (current as? [String: Any])?[String(part)] }
            return current is NSNull ? nil : current
        case .string(let s), .guid(let s): return s
        case .date(let d): return d
        case .number(let n): return n
        case .bool(let b): return b
        case .null: return nil
        }
    }

    private static func compare(_ a: Any?, _ op: String, _ b: Any?) -> Bool {
        guard let a, let b else {
            let bothNull = a == nil && b == nil
            return op == "eq" ? bothNull : op == "ne" ? !bothNull : false
        }
        let order: ComparisonResult?
        switch (a, b) {
        case let (x as String, y as String): order = x.lowercased().compare(y.lowercased())
        case let (x as Date, y as Date): order = x.compare(y)
        case let (x as Bool, y as Bool): order = x == y ? .orderedSame : (x ? .orderedDescending : .orderedAscending)
        default:
            if let x = decimal(a), let y = decimal(b) {
                order = x == y ? .orderedSame : (x < y ? .orderedAscending : .orderedDescending)
            } else {
                order = nil
            }
        }
        guard let order else { return op == "ne" }
        switch op {
        case "eq": return order == .orderedSame
        case "ne": return order != .orderedSame
        case "gt": return order == .orderedDescending
        case "ge": return order != .orderedAscending
        case "lt": return order == .orderedAscending
        case "le": return order != .orderedDescending
        default: return false
        }
    }

    private static func decimal(_ value: Any) -> Decimal? {
        switch value {
        case let d as Decimal: d
        case let i as Int: Decimal(i)
        case let n as NSNumber: n.decimalValue
        default: nil
        }
    }

    // MARK: Lexing and parsing

    enum Token: Equatable {
        case word(String)
        case literal(Operand)
        case open, close, comma
    }

    static func tokenize(_ text: String) throws(ParseError) -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        func quoted() throws(ParseError) -> String {
            // chars[i] is the opening quote.
            var value = ""
            i += 1
            while i < chars.count {
                if chars[i] == "'" {
                    if i + 1 < chars.count && chars[i + 1] == "'" {
                        value.append("'")
                        i += 2
                        continue
                    }
                    i += 1
                    return value
                }
                value.append(chars[i])
                i += 1
            }
            throw ParseError(description: "Unterminated string literal in $filter")
        }
        while i < chars.count {
            let c = chars[i]
            if c == " " { i += 1; continue }
            if c == "(" { tokens.append(.open); i += 1; continue }
            if c == ")" { tokens.append(.close); i += 1; continue }
            if c == "," { tokens.append(.comma); i += 1; continue }
            if c == "'" { tokens.append(.literal(.string(try quoted()))); continue }
            var word = ""
            while i < chars.count, !" (),'".contains(chars[i]) {
                word.append(chars[i])
                i += 1
            }
            if i < chars.count, chars[i] == "'", ["guid", "datetime", "datetimeoffset"].contains(word.lowercased()) {
                let raw = try quoted()
                if word.lowercased() == "guid" {
                    tokens.append(.literal(.guid(raw.lowercased())))
                } else {
                    guard let date = ExactJSON.parseDateLiteral(raw) else { throw ParseError(description: "'\(raw)' is not a valid datetime") }
                    tokens.append(.literal(.date(date)))
                }
                continue
            }
            guard !word.isEmpty else { throw ParseError(description: "Syntax error in $filter at position \(i)") }
            switch word.lowercased() {
            case "true": tokens.append(.literal(.bool(true)))
            case "false": tokens.append(.literal(.bool(false)))
            case "null": tokens.append(.literal(.null))
            default:
                let numeric = word.hasSuffix("m") || word.hasSuffix("M") || word.hasSuffix("d") || word.hasSuffix("L") ? String(word.dropLast()) : word
                if let number = Decimal(string: numeric), numeric.first.map({ $0.isNumber || $0 == "-" }) == true {
                    tokens.append(.literal(.number(number)))
                } else {
                    tokens.append(.word(word))
                }
            }
        }
        return tokens
    }

    struct Parser {
        var tokens: [Token]
        var position = 0

        var atEnd: Bool { position >= tokens.count }
        var peek: String? {
            guard !atEnd else { return nil }
            if case .word(let w) = tokens[position] { return w }
            return "\(tokens[position])"
        }

        mutating func keyword(_ word: String) -> Bool {
            if !atEnd, case .word(let w) = tokens[position], w.lowercased() == word {
                position += 1
                return true
            }
            return false
        }

        mutating func expression() throws(ParseError) -> ODataFilter {
            var left = try conjunction()
            while keyword("or") { left = .or(left, try conjunction()) }
            return left
        }

        mutating func conjunction() throws(ParseError) -> ODataFilter {
            var left = try unary()
            while keyword("and") { left = .and(left, try unary()) }
            return left
        }

        mutating func unary() throws(ParseError) -> ODataFilter {
            if keyword("not") { return .not(try unary()) }
            if !atEnd, tokens[position] == .open {
                position += 1
                let inner = try expression()
                guard !atEnd, tokens[position] == .close else { throw ParseError(description: "Missing ')' in $filter") }
                position += 1
                return inner
            }
            let left = try operand()
            if case .function = left.asFilter { return try maybeCompared(left.asFilter!) }
            guard !atEnd, case .word(let op) = tokens[position], ["eq", "ne", "gt", "ge", "lt", "le"].contains(op.lowercased()) else {
                throw ParseError(description: "Expected a comparison operator in $filter after '\(left)'")
            }
            position += 1
            let right = try operand()
            return .compare(left.asOperand!, op.lowercased(), right.asOperand!)
        }

        /// `substringof('x', Name) eq true` is the same as the bare function call.
        mutating func maybeCompared(_ function: ODataFilter) throws(ParseError) -> ODataFilter {
            guard !atEnd, case .word(let op) = tokens[position], ["eq", "ne"].contains(op.lowercased()) else { return function }
            position += 1
            guard !atEnd, case .literal(.bool(let value)) = tokens[position] else {
                throw ParseError(description: "A function in $filter can only be compared with true or false")
            }
            position += 1
            return (op.lowercased() == "eq") == value ? function : .not(function)
        }

        enum Term { case operand(Operand), function(ODataFilter)
            var asOperand: Operand? { if case .operand(let o) = self { return o }; return nil }
            var asFilter: ODataFilter? { if case .function(let f) = self { return f }; return nil }
        }

        mutating func operand() throws(ParseError) -> Term {
            guard !atEnd else { throw ParseError(description: "Unexpected end of $filter") }
            switch tokens[position] {
            case .literal(let value):
                position += 1
                return .operand(value)
            case .word(let name):
                position += 1
                if !atEnd, tokens[position] == .open {
                    position += 1
                    var arguments: [Operand] = []
                    while !atEnd, tokens[position] != .close {
                        guard let argument = try operand().asOperand else { throw ParseError(description: "Nested functions are not supported in $filter") }
                        arguments.append(argument)
                        if !atEnd, tokens[position] == .comma { position += 1 }
                    }
                    guard !atEnd else { throw ParseError(description: "Missing ')' in $filter") }
                    position += 1
                    let known = ["substringof", "startswith", "endswith"]
                    guard known.contains(name.lowercased()) else { throw ParseError(description: "Unknown function '\(name)' in $filter") }
                    return .function(.function(name.lowercased(), arguments))
                }
                return .operand(.field(name))
            default:
                throw ParseError(description: "Syntax error in $filter")
            }
        }
    }
}
