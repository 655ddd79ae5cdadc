import ArgumentParser
import Foundation
import RecurAPI

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
        var rows = [["worker", "host", "slots", "running", "state", "last seen", "version", "engine", "checkpoints", "cpu"]]
        for w in workers {
            rows.append([
                String(w.id.prefix(8)), w.host, "\(w.slots)", "\(w.running)", Self.liveness(w, now: now).rawValue,
                String(format: "%.0f s ago", Self.secondsSinceSeen(w, now: now)), w.version,
                w.engineVersion ?? "–", w.checkpointFormat ?? "–", w.cpuFeatures ?? "–",
            ])
        }
        print(alignedTable(rows, numeric: [2, 3]))
        if workers.contains(where: { Self.liveness($0, now: now) == .gone }) {
            print("gone: not seen for over \(Int(Self.goneAfter)) s with no trial; it exited or cannot reach the coordinator")
        }
    }

    /// What a registered worker is doing, from what the coordinator saw of it.
    enum Liveness: String {
        /// Holds a lease: a worker that stops renewing loses it, and is then `gone`.
        case training
        /// Asked for work lately: an idle worker long-polls every few seconds.
        case idle
        /// Neither: it exited (`--exit-when-done`, a signal) or cannot reach the coordinator.
        case gone
    }

    /// Idle workers ask for work every 5 s, so a minute of silence means none is coming.
    static let goneAfter: Double = 60

    static func liveness(_ w: API.WorkerInfo, now: Double) -> Liveness {
        if w.running > 0 { return .training }
        return secondsSinceSeen(w, now: now) <= goneAfter ? .idle : .gone
    }

    /// By the coordinator's clock when it says (this machine's may differ), else by this one's.
    static func secondsSinceSeen(_ w: API.WorkerInfo, now: Double) -> Double { w.secondsSinceSeen ?? (now - w.lastSeen) }
}
