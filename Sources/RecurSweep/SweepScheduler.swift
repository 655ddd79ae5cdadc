import Foundation

/// One sweep's scheduling, with no SQLite and no HTTP: what a free slot gets next (a waiting
/// run of a trial already started — requeued, not yet leased, a refit or a confirmation — lowest
/// trial and run number first, else a newly sampled configuration) within `max_trials` and
/// `max_parallel`, the seed each run trains with, and what the pruners make of each report.
///
/// A trial is one configuration; its runs are folds × seeds (one run without `evaluation:`).
/// The coordinator keeps one scheduler per active sweep, in step with its store: it asks
/// ``next()`` when a worker wants work, books the store's answers with ``started()``,
/// ``add(_:)``, ``ended(_:_:)`` and ``close(trial:)``, and after a restart rebuilds it with
/// ``restore(spec:history:)``. Not thread-safe: the coordinator's actor owns it.
public final class SweepScheduler {
    public let spec: SweepSpec
    let sampler: Sampler
    /// One pruner per fold and seed index (fold 0 without folds): a run is compared with the
    /// other trials' runs on the same rows with the same seed index, never with its own trial's.
    private var pruners: [PrunerKey: Pruner] = [:]
    private struct PrunerKey: Hashable {
        var fold: Int
        var seedIndex: Int
    }
    /// Config hashes already in the sweep (a config never runs twice).
    private var taken: Set<String> = []
    /// The number the next sampled trial gets.
    public private(set) var nextNumber = 0
    /// No new configuration will be sampled (the budget or the space ran out).
    public private(set) var exhausted = false
    /// Runs waiting for a slot, by (trial number, run number).
    public private(set) var pending: [RunKey: RunRef] = [:]
    /// Leases out now.
    public private(set) var running = 0
    /// Trials pruned or failed: their runs still out are stopped at their next report.
    public private(set) var closed: Set<Int> = []
    /// Top-K confirmation runs were added (or there was nothing to confirm).
    public private(set) var confirmationAdded = false
    /// Hand-picked configurations (`recur sweep enqueue`), leased before sampled ones, priciest first.
    public private(set) var queued: [TrialConfig] = []

    public init(spec: SweepSpec) {
        self.spec = spec
        sampler = spec.makeSampler()
    }

    /// A run's place in the queue.
    public struct RunKey: Hashable, Comparable, Sendable {
        public var trial: Int
        public var run: Int
        public static func < (a: RunKey, b: RunKey) -> Bool { (a.trial, a.run) < (b.trial, b.run) }
    }

    /// What the scheduler needs to know of one run.
    public struct RunRef: Hashable, Sendable {
        public var runId: Int64
        /// The trial's number in the sweep, and the run's within the trial (1-based).
        public var trial: Int
        public var run: Int
        public var plan: RunPlan
        /// Estimated cost (training FLOPs per window): confirmation runs go priciest first.
        public var cost: Double
        public var key: RunKey { RunKey(trial: trial, run: run) }

        public init(runId: Int64, trial: Int, run: Int, plan: RunPlan, cost: Double = 0) {
            self.runId = runId
            self.trial = trial
            self.run = run
            self.plan = plan
            self.cost = cost
        }
    }

    /// What a free slot gets.
    public enum Assignment: Equatable, Sendable {
        /// A run of a trial already in the store.
        case run(RunRef)
        /// A new trial; `canonicalJSON` is the config's stored form.
        case new(number: Int, config: TrialConfig, canonicalJSON: String)
    }

    /// How a run's lease ended.
    public enum RunEnd: Sendable {
        /// Back to pending (lost, failed with retries left, or released).
        case requeued
        case succeeded, pruned, failed
    }

    /// No run is out, none waits, no new trial will come and confirmation (if any) was added:
    /// the sweep is done.
    public var isFinished: Bool { isIdle && (spec.evaluation.confirm == nil || confirmationAdded) }

    /// The search is over and every run has ended: time to add the top-K confirmation runs.
    public var needsConfirmation: Bool { isIdle && spec.evaluation.confirm != nil && !confirmationAdded }

    private var isIdle: Bool { running == 0 && pending.isEmpty && exhausted }

    /// The next assignment for a free slot, or nil (at `max_parallel`, or nothing to run now). A
    /// new configuration counts as taken at once; if the store refuses it as a duplicate, ask again.
    public func next() -> Assignment? {
        guard running < spec.search.maxParallel else { return nil }
        if var key = pending.keys.min() {
            // Confirmation runs are all known at once: the priciest starts first, so the sweep's
            // tail is short (equal costs keep trial and run order).
            if pending[key]?.plan.confirmation == true,
                let priciest = pending.filter({ $0.value.plan.confirmation }).max(by: { a, b in
                    a.value.cost != b.value.cost ? a.value.cost < b.value.cost : a.key > b.key
                })
            {
                key = priciest.key
            }
            if let ref = pending.removeValue(forKey: key) { return .run(ref) }
        }
        if nextNumber < spec.search.maxTrials, !queued.isEmpty {
            let config = queued.removeFirst()
            let number = nextNumber
            nextNumber += 1
            return .new(number: number, config: config, canonicalJSON: config.canonicalJSON)
        }
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

    /// Queues a hand-picked configuration ahead of sampled ones; false when the sweep already
    /// has it (run, running or queued).
    @discardableResult
    public func enqueue(_ config: TrialConfig) -> Bool {
        guard taken.insert(config.hash).inserted else { return false }
        // Priciest first (training FLOPs per window), so the longest trials start early; equal
        // ones keep the order they came in.
        let cost = { (c: TrialConfig) in self.spec.flopsPerSample(c, features: self.spec.featureHint) }
        let mine = cost(config)
        let at = queued.firstIndex { cost($0) < mine } ?? queued.endIndex
        queued.insert(config, at: at)
        exhausted = false
        return true
    }

    /// Whether ``enqueue(_:)`` would take `config` (the sweep does not have it yet).
    public func wouldTake(_ config: TrialConfig) -> Bool { !taken.contains(config.hash) }

    /// Puts a run back (when its lease could not be handed out after all).
    public func putBack(_ assignment: Assignment) {
        if case .run(let ref) = assignment { pending[ref.key] = ref }
    }

    /// A lease was handed out.
    public func started() { running += 1 }

    /// Runs the store added to a trial (its other runs when it was created, its refits, its
    /// confirmation runs): they wait for a slot.
    public func add(_ refs: [RunRef]) {
        for ref in refs { pending[ref.key] = ref }
    }

    /// The trial was pruned or failed: its waiting runs are never leased.
    public func close(trial: Int) {
        closed.insert(trial)
        for key in pending.keys where key.trial == trial { pending[key] = nil }
    }

    /// Confirmation runs were added (perhaps none, when no trial completed).
    public func confirmationStarted() { confirmationAdded = true }

    /// A run's lease ended.
    public func ended(_ ref: RunRef, _ end: RunEnd) {
        running = max(0, running - 1)
        booked(ref, end)
    }

    private func booked(_ ref: RunRef, _ end: RunEnd) {
        switch end {
        case .requeued:
            pending[ref.key] = ref
            // A retry is judged afresh, on its own epochs only.
            if let p = pruner(for: ref) { p.pruner.restart(trial: p.key) }
        case .succeeded:
            if let p = pruner(for: ref) { p.pruner.complete(trial: p.key) }
        case .pruned, .failed: break
        }
    }

    /// One epoch's objective value of a run; its fold's pruner decides whether it goes on.
    /// Refits and confirmation runs are never pruned.
    public func report(_ ref: RunRef, epoch: Int, value: Double) -> PruneDecision {
        guard let p = pruner(for: ref) else { return PruneDecision(prune: false, rule: .none, reason: "not pruned", numbers: [:]) }
        return p.pruner.report(trial: p.key, epoch: epoch, value: value)
    }

    /// The pruner a run reports to and its key there (the trial's number, as before runs); nil
    /// for runs that are not pruned.
    private func pruner(for ref: RunRef) -> (pruner: Pruner, key: Int)? {
        guard ref.plan.kind == .scoring, !ref.plan.confirmation else { return nil }
        let key = PrunerKey(fold: ref.plan.fold ?? 0, seedIndex: ref.plan.seedIndex)
        let pruner: Pruner
        if let p = pruners[key] {
            pruner = p
        } else {
            pruner = spec.makePruner()
            pruners[key] = pruner
        }
        return (pruner, ref.trial)
    }

    /// A finished trial's result, for model-based samplers (TPE).
    public func observe(config: TrialConfig, value: Double, pruned: Bool) {
        sampler.observe(Observation(config: config, value: value, pruned: pruned))
    }

    /// The seed trial `number` trains with: the same for every attempt, different per trial.
    public func seed(forTrial number: Int) -> UInt64 { spec.search.seed &+ UInt64(number) &* 7919 }

    /// The seed of seed index `seedIndex` of trial `number` (index 0: the trial's seed). Every
    /// fold of one seed index trains with the same seed.
    public func seed(forTrial number: Int, seedIndex: Int) -> UInt64 { seed(forTrial: number) &+ UInt64(seedIndex) &* 104_729 }

    // MARK: Restore

    /// What the store knows of one run.
    public struct RunHistory: Sendable {
        public enum State: Sendable { case pending, running, succeeded, pruned, failed, cancelled }
        public var ref: RunRef
        public var state: State
        /// Every reported epoch, attempt by attempt: (attempt, epoch, objective value).
        public var epochs: [(attempt: Int64, epoch: Int, value: Double)]

        public init(ref: RunRef, state: State, epochs: [(attempt: Int64, epoch: Int, value: Double)]) {
            self.ref = ref
            self.state = state
            self.epochs = epochs
        }
    }

    /// What the store knows of one trial, in the order its trials were numbered.
    public struct TrialHistory: Sendable {
        public enum State: Sendable { case pending, running, completed, pruned, failed }
        public var number: Int
        public var trialId: Int64
        public var configHash: String
        public var config: TrialConfig?
        public var state: State
        /// The objective's score (completed and pruned trials).
        public var bestValue: Double?
        public var runs: [RunHistory]

        public init(
            number: Int,
            trialId: Int64,
            configHash: String,
            config: TrialConfig?,
            state: State,
            bestValue: Double?,
            runs: [RunHistory]
        ) {
            self.number = number
            self.trialId = trialId
            self.configHash = configHash
            self.config = config
            self.state = state
            self.bestValue = bestValue
            self.runs = runs
        }
    }

    /// A scheduler in the state the live one had after `history`: the same taken set, numbers,
    /// queue, running count, pruner records (each attempt judged on its own epochs), sampler
    /// observations and confirmation state.
    /// `prior`: a warm start's observations, fed first, as at creation.
    public static func restore(spec: SweepSpec, history: [TrialHistory], prior: [Observation] = []) -> SweepScheduler {
        let scheduler = SweepScheduler(spec: spec)
        for observation in prior { scheduler.sampler.observe(observation) }
        for trial in history {
            scheduler.taken.insert(trial.configHash)
            scheduler.nextNumber = max(scheduler.nextNumber, trial.number + 1)
            for run in trial.runs {
                if run.ref.plan.confirmation { scheduler.confirmationAdded = true }
                var attempt = run.epochs.first?.attempt
                for e in run.epochs {
                    if e.attempt != attempt, let p = scheduler.pruner(for: run.ref) {
                        p.pruner.restart(trial: p.key)
                        attempt = e.attempt
                    }
                    _ = scheduler.report(run.ref, epoch: e.epoch, value: e.value)
                }
                switch run.state {
                case .running: scheduler.running += 1
                case .pending where trial.state != .pruned && trial.state != .failed: scheduler.booked(run.ref, .requeued)
                case .succeeded: scheduler.booked(run.ref, .succeeded)
                case .pending, .pruned, .failed, .cancelled: break
                }
            }
            if trial.state == .pruned || trial.state == .failed { scheduler.closed.insert(trial.number) }
            if trial.state == .completed || trial.state == .pruned, let config = trial.config {
                scheduler.observe(config: config, value: trial.bestValue ?? .infinity, pruned: trial.state == .pruned)
            }
        }
        scheduler.exhausted = scheduler.nextNumber >= spec.search.maxTrials
        return scheduler
    }
}
