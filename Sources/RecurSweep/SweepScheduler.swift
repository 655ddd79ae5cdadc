import Foundation

/// One sweep's scheduling, with no SQLite and no HTTP: what a free slot gets next (a requeued
/// trial first, lowest number first, else a newly sampled configuration) within `max_trials` and
/// `max_parallel`, the seed each trial trains with, and what the pruner makes of each report.
///
/// The coordinator keeps one per active sweep, in step with its store: it asks ``next()`` when a
/// worker wants work, books the store's answers with ``started()`` and ``ended(number:trialId:_:)``,
/// and after a restart rebuilds it with ``restore(spec:history:)``. Not thread-safe: the
/// coordinator's actor owns it.
public final class SweepScheduler {
    public let spec: SweepSpec
    let sampler: Sampler
    let pruner: Pruner
    /// Config hashes already in the sweep (a config never runs twice).
    private var taken: Set<String> = []
    /// The number the next sampled trial gets.
    public private(set) var nextNumber = 0
    /// No new configuration will be sampled (the budget or the space ran out).
    public private(set) var exhausted = false
    /// Requeued trials waiting for a slot: number → trial id.
    public private(set) var pending: [Int: Int64] = [:]
    /// Leases out now.
    public private(set) var running = 0

    public init(spec: SweepSpec) {
        self.spec = spec
        sampler = spec.makeSampler()
        pruner = spec.makePruner()
    }

    /// What a free slot gets.
    public enum Assignment: Equatable, Sendable {
        /// A trial that went back to pending (lost, failed with retries left, or released).
        case requeued(trialId: Int64, number: Int)
        /// A new trial; `canonicalJSON` is the config's stored form.
        case new(number: Int, config: TrialConfig, canonicalJSON: String)
    }

    /// How an attempt ended, as the trial's state after it.
    public enum AttemptEnd: Sendable {
        case requeued, completed, pruned, failed
    }

    /// No trial runs, none waits, and no new one will come: the sweep is done.
    public var isFinished: Bool { running == 0 && pending.isEmpty && exhausted }

    /// The next assignment for a free slot, or nil (at `max_parallel`, or nothing to run now). A
    /// new configuration counts as taken at once; if the store refuses it as a duplicate, ask again.
    public func next() -> Assignment? {
        guard running < spec.search.maxParallel else { return nil }
        if let first = pending.keys.min(), let id = pending.removeValue(forKey: first) { return .requeued(trialId: id, number: first) }
        if !exhausted, nextNumber < spec.search.maxTrials, let config = sampler.suggest(number: nextNumber, isTaken: { taken.contains($0) }) {
            let number = nextNumber
            nextNumber += 1
            let json = config.canonicalJSON
            taken.insert(TrialConfig.hash(canonicalJSON: json))
            return .new(number: number, config: config, canonicalJSON: json)
        }
        exhausted = true
        return nil
    }

    /// Puts a requeued trial back (when its lease could not be handed out after all).
    public func putBack(_ assignment: Assignment) {
        if case .requeued(let id, let number) = assignment { pending[number] = id }
    }

    /// A lease was handed out.
    public func started() { running += 1 }

    /// An attempt ended; the trial is now in `end`'s state.
    public func ended(number: Int, trialId: Int64, _ end: AttemptEnd) {
        running = max(0, running - 1)
        switch end {
        case .requeued: requeue(number: number, trialId: trialId)
        case .completed: pruner.complete(trial: number)
        case .pruned, .failed: break
        }
    }

    /// The trial goes back to pending for a new attempt, judged afresh by the pruner.
    func requeue(number: Int, trialId: Int64) {
        pending[number] = trialId
        pruner.restart(trial: number)
    }

    /// One epoch's objective value; the pruner decides whether the trial goes on.
    public func report(trial number: Int, epoch: Int, value: Double) -> PruneDecision {
        pruner.report(trial: number, epoch: epoch, value: value)
    }

    /// A finished trial's result, for model-based samplers (TPE).
    public func observe(config: TrialConfig, value: Double, pruned: Bool) {
        sampler.observe(Observation(config: config, value: value, pruned: pruned))
    }

    /// The seed trial `number` trains with: the same for every attempt, different per trial.
    public func seed(forTrial number: Int) -> UInt64 { spec.search.seed &+ UInt64(number) &* 7919 }

    // MARK: Restore

    /// What the store knows of one trial, in the order its trials were numbered.
    public struct TrialHistory: Sendable {
        public enum State: Sendable { case pending, running, completed, pruned, failed }
        public var number: Int
        public var trialId: Int64
        public var configHash: String
        public var config: TrialConfig?
        public var state: State
        /// The objective's best value (completed and pruned trials).
        public var bestValue: Double?
        /// Every reported epoch, attempt by attempt: (attempt, epoch, objective value).
        public var epochs: [(attempt: Int64, epoch: Int, value: Double)]

        public init(
            number: Int,
            trialId: Int64,
            configHash: String,
            config: TrialConfig?,
            state: State,
            bestValue: Double?,
            epochs: [(attempt: Int64, epoch: Int, value: Double)]
        ) {
            self.number = number
            self.trialId = trialId
            self.configHash = configHash
            self.config = config
            self.state = state
            self.bestValue = bestValue
            self.epochs = epochs
        }
    }

    /// A scheduler in the state the live one had after `history`: the same taken set, numbers,
    /// pending queue, running count, pruner records (each attempt judged on its own epochs) and
    /// sampler observations.
    public static func restore(spec: SweepSpec, history: [TrialHistory]) -> SweepScheduler {
        let scheduler = SweepScheduler(spec: spec)
        for trial in history {
            scheduler.taken.insert(trial.configHash)
            scheduler.nextNumber = max(scheduler.nextNumber, trial.number + 1)
            var attempt = trial.epochs.first?.attempt
            for e in trial.epochs {
                if e.attempt != attempt {
                    scheduler.pruner.restart(trial: trial.number)
                    attempt = e.attempt
                }
                _ = scheduler.pruner.report(trial: trial.number, epoch: e.epoch, value: e.value)
            }
            switch trial.state {
            case .running: scheduler.running += 1
            case .pending: scheduler.requeue(number: trial.number, trialId: trial.trialId)
            case .completed: scheduler.pruner.complete(trial: trial.number)
            case .pruned, .failed: break
            }
            if trial.state == .completed || trial.state == .pruned, let config = trial.config {
                scheduler.observe(config: config, value: trial.bestValue ?? .infinity, pruned: trial.state == .pruned)
            }
        }
        scheduler.exhausted = scheduler.nextNumber >= spec.search.maxTrials
        return scheduler
    }
}
