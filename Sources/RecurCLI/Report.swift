import ArgumentParser
import Foundation
import RecurAPI
import RecurCoordinator
import RecurStore
import RecurSweep
import RecurWorker

/// `recur report SWEEP -o report.html`.
struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a sweep's dashboard page (leaderboard, learning curves, parallel coordinates, importance) as one self-contained HTML file.",
        discussion:
            "Examples:\n  recur report lecture -o lecture.html --db .recur/lecture.db\n  recur report lecture -o lecture.html --coordinator tcp://HOST:7878 --token-file sweeps.db.token"
    )

    @Argument(help: "Sweep name.") var sweep: String
    @Option(name: [.short, .customLong("output")], help: "HTML file to write.") var output: String
    @OptionGroup var source: ReadOptions

    func run() async throws {
        try OutputPath.check(output, option: "--output", example: "report.html", inputs: source.databaseFiles)
        let page: String
        if let db = source.db {
            guard FileManager.default.fileExists(atPath: db) else { throw CLIError("no database at \(db)") }
            do { page = try Dashboard.sweep(store: try SweepStore(readingPath: db), name: sweep, standalone: true) } catch let error as StoreError {
                throw CLIError(error.description)
            }
        } else {
            let escaped = API.pathComponent(sweep)
            _ = try await source.connection.with { try await $0.sweep(named: sweep) }
            let data = try await source.connection.with { try await $0.page("/sweeps/\(escaped)?standalone=1") }
            page = String(decoding: data, as: UTF8.self)
        }
        do { try Data(page.utf8).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw CLIError("cannot write \(output): \(error.localizedDescription)")
        }
        print("wrote \(output)")
    }
}
