import Foundation
import RecurStore
import RecurSweep

extension Coordinator {
    /// Feeds TPE the finished trials (completed or pruned) of `search.warm_start.sweep` whose
    /// configurations fit this sweep's space; the rest are skipped and counted. The earlier
    /// sweep must be in this database and select on the same objective. Called at creation and
    /// on every restore, since the sampler lives in memory.
    static func warmStart(_ spec: SweepSpec, store: SweepStore) throws -> (observations: [Observation], skipped: Int)? {
        guard let name = spec.search.warmStartSweep else { return nil }
        let earlier: SweepRecord
        do { earlier = try store.sweep(named: name) } catch StoreError.notFound {
            throw SweepSpecError(source: spec.name, problems: ["search.warm_start.sweep: no sweep named '\(name)' in this database"])
        }
        let objective = earlier.definitionJson.spec.objective
        guard objective == spec.objective else {
            throw SweepSpecError(
                source: spec.name,
                problems: [
                    "search.warm_start.sweep: '\(name)' selects on \(objective.metric.rawValue) (\(objective.minimize ? "minimize" : "maximize")), this sweep on \(spec.objective.metric.rawValue); their values do not compare"
                ]
            )
        }
        var (observations, skipped) = ([Observation](), 0)
        for trial in try store.trials(sweep: earlier.id!) where trial.state == .completed || trial.state == .pruned {
            guard let value = trial.bestValMetric ?? (trial.state == .pruned ? .infinity : nil),
                let config = try? TrialConfig.decode(json: trial.configJson),
                let fitted = try? spec.checkedConfig(config.values)
            else {
                skipped += 1
                continue
            }
            observations.append(Observation(config: fitted, value: value, pruned: trial.state == .pruned))
        }
        return (observations, skipped)
    }
}
