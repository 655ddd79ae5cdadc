import ArgumentParser
import Foundation

/// `recur workers`.
struct Workers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Registered workers, their slots, running trials and when they were last seen.",
        discussion: "Example:\n  recur workers --coordinator tcp://127.0.0.1:7878 --token-file sweeps.db.token"
    )

    @OptionGroup var source: ReadOptions

    func run() async throws {
        let workers = try await source.reader().workers()
        if workers.isEmpty {
            print("no workers registered")
            return
        }
        let now = Date().timeIntervalSince1970
        var rows = [["worker", "host", "slots", "running", "last seen", "version", "engine", "checkpoints", "cpu"]]
        for w in workers {
            rows.append([
                String(w.id.prefix(8)), w.host, "\(w.slots)", "\(w.running)", String(format: "%.0f s ago", now - w.lastSeen), w.version,
                w.engineVersion ?? "–", w.checkpointFormat ?? "–", w.cpuFeatures ?? "–",
            ])
        }
        print(alignedTable(rows, numeric: [2, 3]))
    }
}
