import Foundation
import RecurAPI
import RecurStore
import RecurSweep

extension Coordinator {
    /// Queues hand-picked configurations for a sweep (`recur sweep enqueue`): each is checked
    /// against the space (422 `invalid_sweep` with every problem), one the sweep already has is
    /// skipped, and the rest are leased before any sampled configuration, within `max_trials`
    /// (409 when there is no room for them; raise it on a resume first).
    public func enqueue(sweep name: String, configs: [[String: ParameterValue]]) throws -> (queued: Int, duplicates: Int) {
        let record = try store.sweep(named: name)
        guard let runtime = runtimes[record.id!], runtime.record.state == .running || runtime.record.state == .paused,
            runtime.record.stopRule == nil
        else {
            throw APIFailure(
                .conflict,
                .sweepFinished,
                "sweep \(name) is \(record.stopRule == nil ? record.state.rawValue : "stopped by a rule"); resume it with a higher max_trials (recur sweep create) before enqueueing"
            )
        }
        var checked: [TrialConfig] = []
        var problems: [String] = []
        for (i, values) in configs.enumerated() {
            do { checked.append(try runtime.spec.checkedConfig(values)) } catch let error as SweepSpecError {
                problems += error.problems.map { "configs[\(i)].\($0)" }
            }
        }
        guard problems.isEmpty else {
            throw APIFailure(.unprocessableContent, .invalidSweep, problems.joined(separator: "; "), problems: problems)
        }
        // Within the request too, a configuration counts once.
        var seen = Set<String>()
        let distinct = checked.filter { seen.insert($0.hash).inserted }
        let room = runtime.spec.search.maxTrials - runtime.scheduler.nextNumber - runtime.scheduler.queued.count
        let fresh = distinct.filter { runtime.scheduler.wouldTake($0) }
        guard fresh.count <= room else {
            throw APIFailure(
                .conflict,
                .conflict,
                "search.max_trials \(runtime.spec.search.maxTrials) leaves room for \(max(0, room)) more trial(s) and \(fresh.count) are new; raise max_trials (resume with recur sweep create) to enqueue them"
            )
        }
        let added = try store.enqueue(sweep: record.id!, fresh, now: clock())
        for config in added { runtime.scheduler.enqueue(config) }
        logger.info("enqueued", metadata: ["sweep.name": "\(name)", "configs": "\(added.count)"])
        return (added.count, configs.count - added.count)
    }
}
