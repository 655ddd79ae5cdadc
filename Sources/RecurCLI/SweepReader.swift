import ArgumentParser
import Foundation
import OpenAPIRuntime
import RecurAPI
import RecurStore
import RecurSweep
import RecurWorker

/// Where read-only commands get their data: the coordinator's API, or a database file (`--db`).
struct ReadOptions: ParsableArguments {
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Read this database file directly instead of asking a coordinator.") var db: String?

    /// The files of `--db` (the database, its WAL and shared memory) an output must not replace.
    var databaseFiles: [String] { db.map { [$0, $0 + "-wal", $0 + "-shm"] } ?? [] }

    func reader() throws -> SweepReader {
        if let db {
            guard FileManager.default.fileExists(atPath: db) else { throw CLIError("no database at \(db)") }
            do { return LocalReader(store: try SweepStore(readingPath: db)) } catch let error as StoreError { throw CLIError("\(db): \(error)") }
        }
        return RemoteReader(connection: connection)
    }
}

extension SweepReader {
    /// The trial id that `trial` names: an id, or with `sweep` the trial number in that sweep
    /// (the leaderboard's `trial` column).
    func trialID(_ trial: Int64, sweep: String?) async throws -> Int64 {
        guard let sweep else { return trial }
        guard let row = try await leaderboard(sweep, top: nil).first(where: { Int64($0.trial) == trial }) else {
            throw CLIError("sweep \(sweep) has no trial \(trial)")
        }
        return row.trialId
    }
}

protocol SweepReader: Sendable {
    func summaries() async throws -> [API.SweepSummary]
    func summary(_ name: String) async throws -> API.SweepSummary
    func leaderboard(_ name: String, top: Int?) async throws -> [API.LeaderboardRow]
    func trial(_ id: Int64) async throws -> API.TrialDetail
    func workers() async throws -> [API.WorkerInfo]
    /// Writes the trial's checkpoint into `file`, chunk by chunk; returns its size.
    func saveCheckpoint(_ id: Int64, to file: URL) async throws -> Int64
}

struct LocalReader: SweepReader {
    let store: SweepStore
    func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as StoreError { throw CLIError(error.description) }
    }
    func summaries() throws -> [API.SweepSummary] { try wrap { try store.summaries().map(API.SweepSummary.init) } }
    func summary(_ name: String) throws -> API.SweepSummary { try wrap { API.SweepSummary(try store.summary(named: name)) } }
    func leaderboard(_ name: String, top: Int?) throws -> [API.LeaderboardRow] {
        try wrap { try store.leaderboard(sweep: name, top: top).map(API.LeaderboardRow.init) }
    }
    func trial(_ id: Int64) throws -> API.TrialDetail { try wrap { API.TrialDetail(try store.trialDetail(id: id)) } }
    func workers() throws -> [API.WorkerInfo] { try wrap { try store.workerInfos().map { API.WorkerInfo($0) } } }
    func saveCheckpoint(_ id: Int64, to file: URL) async throws -> Int64 {
        switch try wrap({ try store.checkpoint(trial: id) }) {
        case .inline(let data):
            try data.write(to: file)
            return Int64(data.count)
        case .file(let url, _):
            guard FileManager.default.fileExists(atPath: url.path) else { throw CLIError("the checkpoint file \(url.path) is missing") }
            return try await HTTPBody(FileChunks(path: url.path), length: .unknown, iterationBehavior: .single).write(to: file)
        }
    }
}

struct RemoteReader: SweepReader {
    let connection: ConnectionOptions
    func summaries() async throws -> [API.SweepSummary] { try await connection.with { try await $0.sweeps() } }
    func summary(_ name: String) async throws -> API.SweepSummary { try await connection.with { try await $0.sweep(named: name) } }
    func leaderboard(_ name: String, top: Int?) async throws -> [API.LeaderboardRow] {
        try await connection.with { try await $0.leaderboard(sweep: name, top: top) }
    }
    func trial(_ id: Int64) async throws -> API.TrialDetail { try await connection.with { try await $0.trial(id: id) } }
    func workers() async throws -> [API.WorkerInfo] { try await connection.with { try await $0.workers() } }
    func saveCheckpoint(_ id: Int64, to file: URL) async throws -> Int64 {
        try await connection.with { try await $0.downloadCheckpoint(trial: id, to: file) }
    }
}

/// Terminal styling: colour only on a TTY and never with NO_COLOR.
enum Style {
    static let enabled = isatty(1) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
    static func paint(_ text: String, _ code: String) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
    /// A sweep, trial or attempt state, coloured by what it means.
    static func state<State: RawRepresentable>(_ s: State) -> String where State.RawValue == String { state(s.rawValue) }
    static func state(_ s: String) -> String {
        switch s {
        case "completed", "done": return paint(s, "32")
        case "pruned", "paused": return paint(s, "33")
        case "failed", "cancelled": return paint(s, "31")
        case "running": return paint(s, "36")
        default: return s
        }
    }
}

/// Aligns rows of cells into columns (right-aligned where `numeric`).
func alignedTable(_ rows: [[String]], numeric: Set<Int> = []) -> String {
    guard let first = rows.first else { return "" }
    let widths = (0..<first.count).map { c in rows.map { visibleWidth($0[c]) }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { c, text in
            let pad = String(repeating: " ", count: widths[c] - visibleWidth(text))
            return numeric.contains(c) ? pad + text : text + pad
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

/// Width without ANSI colour codes.
func visibleWidth(_ s: String) -> Int {
    var count = 0
    var escape = false
    for c in s {
        if c == "\u{1B}" {
            escape = true
            continue
        }
        if escape {
            if c == "m" { escape = false }
            continue
        }
        count += 1
    }
    return count
}
