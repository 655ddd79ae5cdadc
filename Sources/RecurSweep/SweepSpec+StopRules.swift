import Foundation

extension SweepSpec {
    /// When a sweep ends before `max_trials`: budgets (`search.budget`) and stop rules
    /// (`search.stop`), and what happens to running trials then (`search.on_stop`).
    public struct StopRules: Sendable, Equatable {
        /// `finish`: no new trial or run is leased, running ones finish, then the sweep is done;
        /// `release`: the sweep is done at once and running trials are told to stop.
        public enum OnStop: String, Sendable, CaseIterable, Codable { case finish, release }

        /// Minutes from the sweep's first lease (pauses included).
        public var wallMinutes: Double?
        /// Training time summed over every attempt, in hours.
        public var workerHours: Double?
        /// The objective's value that is good enough (≤ when minimizing, ≥ when maximizing).
        public var target: Double?
        /// Finished trials in a row after the best without improving on it.
        public var noImprovementTrials: Int?
        public var onStop: OnStop = .finish

        public init(
            wallMinutes: Double? = nil,
            workerHours: Double? = nil,
            target: Double? = nil,
            noImprovementTrials: Int? = nil,
            onStop: OnStop = .finish
        ) {
            self.wallMinutes = wallMinutes
            self.workerHours = workerHours
            self.target = target
            self.noImprovementTrials = noImprovementTrials
            self.onStop = onStop
        }

        public var isEmpty: Bool { wallMinutes == nil && workerHours == nil && target == nil && noImprovementTrials == nil }
    }
}

/// Which rule ended a sweep, and the one-line reason shown by `status`, the API and the dashboard.
public struct StopReason: Sendable, Equatable, Codable {
    public enum Rule: String, Sendable, Codable, CaseIterable {
        case wallMinutes = "wall_minutes"
        case workerHours = "worker_hours"
        case target
        case noImprovementTrials = "no_improvement_trials"
    }
    public var rule: Rule
    public var message: String

    public init(rule: Rule, message: String) {
        self.rule = rule
        self.message = message
    }
}

/// What the stop rules are checked against; all of it comes from the store, so a restarted
/// coordinator checks the same numbers.
public struct SweepProgressFacts: Sendable, Equatable {
    /// Seconds since the sweep's first lease (nil before it).
    public var wallSeconds: Double?
    /// Attempt seconds summed (running ones up to now).
    public var workerSeconds: Double
    /// The best completed trial's objective and number.
    public var best: (value: Double, trial: Int)?
    /// Trials finished (completed or pruned) after the best one finished.
    public var finishedSinceBest: Int

    public init(wallSeconds: Double?, workerSeconds: Double, best: (value: Double, trial: Int)?, finishedSinceBest: Int) {
        self.wallSeconds = wallSeconds
        self.workerSeconds = workerSeconds
        self.best = best
        self.finishedSinceBest = finishedSinceBest
    }

    public static func == (a: SweepProgressFacts, b: SweepProgressFacts) -> Bool {
        a.wallSeconds == b.wallSeconds && a.workerSeconds == b.workerSeconds && a.best?.value == b.best?.value && a.best?.trial == b.best?.trial
            && a.finishedSinceBest == b.finishedSinceBest
    }
}

extension SweepSpec.StopRules {
    /// The first rule met by `facts`, or nil. `label` names the objective ("val MAE").
    public func firstMet(by facts: SweepProgressFacts, minimize: Bool, label: String) -> StopReason? {
        if let target, let best = facts.best, minimize ? best.value <= target : best.value >= target {
            return StopReason(
                rule: .target,
                message: String(format: "target reached: %@ %.4g %@ %.4g (trial %d)", label, best.value, minimize ? "≤" : "≥", target, best.trial)
            )
        }
        if let n = noImprovementTrials, let best = facts.best, facts.finishedSinceBest >= n {
            return StopReason(
                rule: .noImprovementTrials,
                message: "no improvement in \(facts.finishedSinceBest) trials since trial \(best.trial) (no_improvement_trials: \(n))"
            )
        }
        if let m = wallMinutes, let wall = facts.wallSeconds, wall >= m * 60 {
            return StopReason(rule: .wallMinutes, message: String(format: "wall-time budget spent: %.1f of %g minutes", wall / 60, m))
        }
        if let h = workerHours, facts.workerSeconds >= h * 3600 {
            return StopReason(
                rule: .workerHours,
                message: String(format: "worker-hour budget spent: %.2f of %g hours", facts.workerSeconds / 3600, h)
            )
        }
        return nil
    }
}
