import Foundation
import RecurStore
import RecurSweep

/// How a sweep definition meets a database, with the same rules wherever it comes from: `recur
/// run`, `POST /v1/sweeps` (`recur sweep create`), and a coordinator restarting on a database
/// whose last embedded workers died with it.
extension Coordinator {
    /// What ``open(yaml:source:origin:)`` did.
    public enum Opening: Sendable, Equatable {
        case created
        /// Resumed the sweep of that name; `maxTrials` is (before, after) when the definition changed it.
        case resumed(maxTrialsBefore: Int?, maxTrialsAfter: Int?)
    }

    /// Creates the sweep, or resumes the one of the same name. On a resume only
    /// `search.max_trials` (not below the trials the sweep has), `max_parallel`, budgets and stop
    /// rules may change; a paused or cancelled sweep runs again, and raising `max_trials` (or
    /// changing the rules that ended it) reopens a done one.
    /// Another definition under the same name is an error naming the fix.
    public func open(yaml: String, source: String, origin: Origin = Origin()) async throws -> (sweep: String, opening: Opening) {
        let spec = try SweepSpec.parse(yaml: yaml, source: source)
        return (spec.name, try await open(spec, yaml: yaml, source: source, origin: origin))
    }

    /// ``open(yaml:source:origin:)`` for a definition already parsed from `yaml` (it is parsed once).
    public func open(_ spec: SweepSpec, yaml: String, source: String, origin: Origin = Origin()) async throws -> Opening {
        let existing: SweepRecord
        do { existing = try store.sweep(named: spec.name) } catch StoreError.notFound(.sweep, _) {
            do {
                _ = try await createSweep(spec, yaml: yaml, source: source, origin: origin)
                return .created
            } catch StoreError.duplicate(_) {
                // Created meanwhile by a concurrent call (the dataset is read off the actor): resume it.
                existing = try store.sweep(named: spec.name)
            }
        }
        // The same definition over other bytes is another experiment, not a resume.
        if let declared = origin.datasetSHA256, let stored = existing.definitionJson.datasetSHA256, declared != stored {
            throw SweepSpecError(
                source: source,
                problems: [
                    "task.dataset: sweep \(spec.name) was created from a dataset with SHA-256 \(stored), and this file's is \(declared); give the sweep a new name"
                ]
            )
        }
        var before: Int?
        var after: Int?
        if existing.definitionYaml != yaml {
            let old = try redefine(existing, as: spec, yaml: yaml, source: source)
            if old != spec.search.maxTrials { (before, after) = (old, spec.search.maxTrials) }
        }
        let current = try store.sweep(named: spec.name)
        if current.state == .cancelled {
            _ = try store.setSweepState(current.id!, to: .paused, from: [.cancelled], now: clock())
        }
        if current.state == .paused || current.state == .cancelled {
            _ = try setState(sweep: spec.name, to: .running)
        }
        return .resumed(maxTrialsBefore: before, maxTrialsAfter: after)
    }

    /// Stores a changed definition of a sweep under the resume rules and rebuilds its runtime;
    /// returns the old `max_trials`.
    private func redefine(_ existing: SweepRecord, as spec: SweepSpec, yaml: String, source: String) throws -> Int {
        let old = existing.definitionJson.spec
        func comparable(_ s: SweepSpec) -> String {
            var s = s
            s.search.maxTrials = 0
            s.search.maxParallel = 0
            s.search.stopRules = .init()
            s.notify = nil
            s.description = ""
            return s.jsonString()
        }
        guard comparable(old) == comparable(spec) else {
            throw SweepSpecError(
                source: source,
                problems: [
                    "name: a sweep named '\(spec.name)' exists with another definition (on a resume only search.max_trials, max_parallel, budget, stop, on_stop and notify may change); rename the sweep or use another database"
                ]
            )
        }
        if spec.search.maxTrials > old.search.maxTrials, try store.confirmationStarted(sweep: existing.id!) {
            throw SweepSpecError(
                source: source,
                problems: [
                    "search.max_trials: sweep '\(spec.name)' was confirmed (evaluation.confirm ran after its search), so its search cannot be extended; create a new sweep"
                ]
            )
        }
        let trials = try store.trials(sweep: existing.id!).count
        guard spec.search.maxTrials >= trials else {
            throw SweepSpecError(
                source: source,
                problems: ["search.max_trials: \(spec.search.maxTrials) is below the \(trials) trials sweep '\(spec.name)' already has"]
            )
        }
        var definition = existing.definitionJson
        definition.spec = spec
        let updated = try store.redefineSweep(
            existing.id!,
            yaml: yaml,
            definition: definition,
            // New budgets or stop rules give a sweep they ended another chance.
            reopen: spec.search.maxTrials > old.search.maxTrials || (existing.stopRule != nil && spec.search.stopRules != old.search.stopRules),
            now: clock()
        )
        if updated.state == .running || updated.state == .paused {
            runtimes[updated.id!] = try Coordinator.restore(updated, store: store)
        }
        logger.info("sweep redefined", metadata: ["sweep.name": "\(spec.name)", "sweep.max_trials": "\(spec.search.maxTrials)"])
        return old.search.maxTrials
    }

    /// Hands back every attempt a previous coordinator of this database left running (`recur
    /// run`'s workers die with it), without using up a retry, instead of waiting for the leases
    /// to expire and counting them as lost. Returns how many.
    public func releaseOrphans() async throws -> Int {
        var released = 0
        for attempt in try store.runningAttempts() {
            do {
                _ = try await release(token: attempt.leaseToken)
            } catch StoreError.conflict(_) {
                // Its sweep is not active (cancelled): hand the trial back in the store alone; the
                // sweep's runtime is rebuilt from there if it runs again.
                _ = try store.release(token: attempt.leaseToken, now: clock())
                store.discardUpload(attempt: attempt.id!)
            }
            released += 1
        }
        return released
    }
}
