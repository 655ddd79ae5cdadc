import Foundation

/// What to do with missing rows in a regular time index.
public enum GapPolicy: String, Codable, Sendable, CaseIterable {
    /// Refuse the file, naming the first gap.
    case error
    /// Fill missing rows by linear interpolation between their neighbours (and warn with the count).
    case interpolate
}

/// A regular multivariate series read from CSV: one timestamp column plus numeric columns.
public struct TimeSeries: Sendable, Equatable {
    /// Names of the numeric columns, in file order.
    public var columns: [String]
    /// Seconds since 1970 for each row, strictly increasing by `step` (after gap filling).
    public var timestamps: [Int64]
    /// Row-major `[rows, columns]`.
    public var values: [Double]
    /// Seconds between rows.
    public var step: Int64
    /// Rows added by interpolation.
    public var interpolatedRows: Int
    /// The header of the timestamp column that was read.
    public var timestampName = "timestamp"
    /// Per row, true when interpolation made it (empty when nothing was filled).
    public var filledRows: [Bool] = []

    public var rowCount: Int { timestamps.count }

    public func column(_ name: String) -> Int? { columns.firstIndex(of: name) }

    /// True when interpolation made row `row`.
    public func isFilled(_ row: Int) -> Bool { !filledRows.isEmpty && filledRows[row] }

    /// Reads `path` keeping the timestamp column (default: the first) and the named numeric columns
    /// (default: every other column).
    public static func load(
        path: String,
        timestampColumn: String? = nil,
        columns wanted: [String]? = nil,
        gaps: GapPolicy = .interpolate
    ) throws -> TimeSeries {
        let data: Data
        if let why = notARegularFile(URL(fileURLWithPath: path)) { throw ForecastError("dataset \(path): cannot read it: \(why)") }
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ForecastError("dataset \(path): cannot read the file (\(error.localizedDescription))")
        }
        return try parse(csv: data, source: path, timestampColumn: timestampColumn, columns: wanted, gaps: gaps)
    }

    public static func parse(
        csv data: Data,
        source: String,
        timestampColumn: String? = nil,
        columns wanted: [String]? = nil,
        gaps: GapPolicy = .interpolate,
        headerOnly: Bool = false
    ) throws -> TimeSeries {
        guard let text = String(data: data, encoding: .utf8) else { throw ForecastError("dataset \(source): not UTF-8 text") }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        guard let headerLine = lines.first, !headerLine.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ForecastError("dataset \(source): the file is empty; expected a header line like 'timestamp,temp_c,…'")
        }
        let header = splitCSVLine(headerLine).map { $0.trimmingCharacters(in: .whitespaces) }
        guard header.count >= 2 else {
            throw ForecastError("dataset \(source): the header has \(header.count) column; expected a timestamp and at least one numeric column")
        }
        let timeIndex: Int
        if let name = timestampColumn {
            guard let i = header.firstIndex(of: name) else {
                throw ForecastError("dataset \(source): no timestamp column '\(name)'; columns: \(header.joined(separator: ", "))")
            }
            timeIndex = i
        } else {
            timeIndex = 0
        }
        let names = wanted ?? header.enumerated().filter { $0.offset != timeIndex }.map(\.element)
        // A column the task reads is named once: of two, which one it reads would be a guess.
        // Columns it does not read (or left unnamed by trailing commas) may repeat.
        for name in [header[timeIndex]] + names where header.filter({ $0 == name }).count > 1 {
            throw ForecastError("dataset \(source): the header names column '\(name)' twice; rename one of them")
        }
        var indices: [Int] = []
        for name in names {
            guard let i = header.firstIndex(of: name), i != timeIndex else {
                throw ForecastError(
                    "dataset \(source): unknown column '\(name)'; columns: \(header.enumerated().filter { $0.offset != timeIndex }.map(\.element).joined(separator: ", "))"
                )
            }
            indices.append(i)
        }
        if headerOnly {
            return TimeSeries(columns: names, timestamps: [], values: [], step: 0, interpolatedRows: 0, timestampName: header[timeIndex])
        }
        guard lines.count > 1 else { throw ForecastError("dataset \(source): the file has a header but no data rows") }
        var timestamps: [Int64] = []
        var values: [Double] = []
        timestamps.reserveCapacity(lines.count - 1)
        values.reserveCapacity((lines.count - 1) * indices.count)
        for (offset, line) in lines.dropFirst().enumerated() {
            let lineNumber = offset + 2
            let cells = splitCSVLine(line)
            guard cells.count == header.count else {
                throw ForecastError("dataset \(source) line \(lineNumber): \(cells.count) cells; the header has \(header.count)")
            }
            guard let t = Timestamp.parse(cells[timeIndex]) else {
                throw ForecastError(
                    "dataset \(source) line \(lineNumber), column '\(header[timeIndex])': '\(cells[timeIndex])' is not a timestamp (use ISO 8601 like 2001-01-01T01:00)"
                )
            }
            if let previous = timestamps.last, t <= previous {
                throw ForecastError(
                    "dataset \(source) line \(lineNumber): timestamp \(cells[timeIndex]) is \(t == previous ? "a duplicate of" : "earlier than") the previous row; sort the file by time and remove duplicates"
                )
            }
            timestamps.append(t)
            for (k, i) in indices.enumerated() {
                let cell = cells[i].trimmingCharacters(in: .whitespaces)
                guard let v = Double(cell), v.isFinite else {
                    throw ForecastError("dataset \(source) line \(lineNumber), column '\(names[k])': '\(cell)' is not a number")
                }
                values.append(v)
            }
        }
        var series = TimeSeries(
            columns: names,
            timestamps: timestamps,
            values: values,
            step: 0,
            interpolatedRows: 0,
            timestampName: header[timeIndex]
        )
        try series.regularize(source: source, gaps: gaps)
        return series
    }

    /// Finds the row step (the most common spacing) and fills or rejects gaps.
    mutating func regularize(source: String, gaps: GapPolicy) throws {
        guard rowCount >= 2 else {
            step = 1
            return
        }
        var counts: [Int64: Int] = [:]
        for i in 1..<rowCount { counts[timestamps[i] - timestamps[i - 1], default: 0] += 1 }
        step = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
        let width = columns.count
        var newTimes: [Int64] = [timestamps[0]]
        var newValues: [Double] = Array(values[0..<width])
        var filled = [false]
        var added = 0
        for i in 1..<rowCount {
            let gap = timestamps[i] - timestamps[i - 1]
            guard gap % step == 0 else {
                throw ForecastError(
                    "dataset \(source) line \(i + 2): timestamp \(Timestamp.format(timestamps[i])) is off the \(step)-second grid of the rows before it"
                )
            }
            let missing = Int(gap / step) - 1
            if missing > 0 {
                if gaps == .error {
                    throw ForecastError(
                        "dataset \(source) line \(i + 2): \(missing) missing row(s) before \(Timestamp.format(timestamps[i])); fill them or set gaps: interpolate"
                    )
                }
                guard added + missing <= max(rowCount, 10_000) else {
                    throw ForecastError(
                        "dataset \(source) line \(i + 2): \(missing) missing row(s) before \(Timestamp.format(timestamps[i])) would more than double the data; fill the gap in the file or split it there"
                    )
                }
                for k in 1...missing {
                    let w = Double(k) / Double(missing + 1)
                    newTimes.append(timestamps[i - 1] + Int64(k) * step)
                    filled.append(true)
                    for c in 0..<width { newValues.append(values[(i - 1) * width + c] * (1 - w) + values[i * width + c] * w) }
                }
                added += missing
            }
            newTimes.append(timestamps[i])
            filled.append(false)
            newValues.append(contentsOf: values[(i * width)..<((i + 1) * width)])
        }
        timestamps = newTimes
        values = newValues
        interpolatedRows = added
        filledRows = added > 0 ? filled : []
    }
}

/// Splits one CSV line on commas, honouring double-quoted cells (`""` is a literal quote).
func splitCSVLine(_ line: Substring) -> [String] {
    if !line.contains("\"") { return line.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    var cells: [String] = []
    var current = ""
    var quoted = false
    var iterator = line.makeIterator()
    while let c = iterator.next() {
        if quoted {
            if c == "\"" {
                var lookahead = iterator
                if lookahead.next() == "\"" {
                    current.append("\"")
                    iterator = lookahead
                } else {
                    quoted = false
                }
            } else {
                current.append(c)
            }
        } else if c == "\"" {
            quoted = true
        } else if c == "," {
            cells.append(current)
            current = ""
        } else {
            current.append(c)
        }
    }
    cells.append(current)
    return cells
}

/// Why `url` cannot be read as a dataset (nil: a regular file, or a link to one, or nothing
/// there, which reading reports): a directory fails late with a vague error, and a FIFO or
/// /dev/zero never ends. `stat` follows symbolic links, as reading does.
public func notARegularFile(_ url: URL) -> String? {
    switch FileKind(path: url.path) {
    case .missing, .regular: return nil
    case .directory: return "it is a directory; give the CSV file"
    case .other: return "it is not a regular file"
    }
}

/// What a path leads to, links followed (`stat`), as a read or a write would reach it: the one
/// check behind every refusal of a directory, a device or a pipe where a file is expected.
public enum FileKind: Sendable {
    case missing, regular, directory, other

    public init(path: String) {
        var s = stat()
        guard stat(path, &s) == 0 else {
            self = .missing
            return
        }
        switch s.st_mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        default: self = .other
        }
    }
}
