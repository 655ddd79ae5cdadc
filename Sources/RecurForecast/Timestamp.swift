import Foundation

/// Parses timestamps into whole seconds since 1970-01-01T00:00Z.
///
/// Accepts ISO 8601 dates and date-times (`2001-01-01`, `2001-01-01T01:00`, `2001-01-01 01:00:00`,
/// with optional fractional seconds and `Z` or `±HH:MM`), and plain numbers (Unix seconds).
public enum Timestamp {
    /// Numeric timestamps beyond ±10¹² s (about ±31,700 years) are rejected, so row spacings
    /// cannot overflow.
    static let maximumSeconds = 1e12

    public static func parse<S: StringProtocol>(_ text: S) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces)
        if let n = Double(s), s.first != "+" { return n.isFinite && abs(n) <= maximumSeconds ? Int64(n.rounded()) : nil }
        let u = Array(s.utf8)
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= u.count else { return nil }
            var v = 0
            for k in 0..<digits {
                let c = u[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += digits
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < u.count, u[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect(45), let month = number(2), expect(45), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        // A day past its month's end (2001-02-31) is no date: the calendar's own round trip says
        // so, where it would otherwise roll into the next month.
        let days = daysFromCivil(year: year, month: month, day: day)
        guard civilFromDays(days) == (year, month, day) else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var offset = 0
        if i < u.count {
            guard u[i] == 84 || u[i] == 32 else { return nil }  // 'T' or ' '
            i += 1
            guard let h = number(2), expect(58), let m = number(2), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if expect(58) {
                guard let sec = number(2), sec < 61 else { return nil }
                second = sec
                if expect(46) { while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 } }
            }
            if i < u.count {
                if expect(90) {  // 'Z'
                } else if u[i] == 43 || u[i] == 45 {
                    let sign = u[i] == 45 ? -1 : 1
                    i += 1
                    guard let oh = number(2) else { return nil }
                    _ = expect(58)
                    let om = number(2) ?? 0
                    offset = sign * (oh * 3600 + om * 60)
                } else {
                    return nil
                }
            }
        }
        guard i == u.count else { return nil }
        return Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second - offset)
    }

    /// `YYYY-MM-DDTHH:MM` (UTC), with `:SS` when the seconds are not zero.
    public static func format(_ seconds: Int64) -> String {
        let days = Int(seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400)
        let rest = Int(seconds - Int64(days) * 86400)
        let (y, m, d) = civilFromDays(days)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var text = "\(y)-\(two(m))-\(two(d))T\(two(rest / 3600)):\(two(rest / 60 % 60))"
        if rest % 60 != 0 { text += ":\(two(rest % 60))" }
        return text
    }

    /// Howard Hinnant's days_from_civil.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp + (mp < 10 ? 3 : -9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
