import Foundation
import RecurAPI
import RecurStore
import RecurSweep

// The store's read models as wire types. The CLI uses these too when it reads a database file
// (--db), so both ways of reading print the same JSON.

extension API.SweepSummary {
    public init(_ m: RecurStore.SweepSummary) {
        self.init(
            name: m.name,
            state: API.SweepState(m.state),
            method: .init(rawValue: m.method.rawValue) ?? .random,
            maxTrials: m.maxTrials,
            trials: m.trials,
            pending: m.pending,
            running: m.running,
            completed: m.completed,
            pruned: m.pruned,
            failed: m.failed,
            bestValMae: m.bestValue,
            bestTrial: m.bestTrial,
            createdAt: m.createdAt,
            objective: API.Objective(m.objective),
            engineVersion: m.engineVersion,
            datasetSha256: m.datasetSHA256,
            persistenceValMae: m.persistence?.valMAE,
            persistenceTestMae: m.persistence?.testMAE,
            bestValSkill: m.bestValSkill,
            trialsDone: m.trialsDone,
            etaSeconds: m.etaSeconds,
            endsAt: m.endsAt,
            stopReason: m.stopReason.map { API.StopReason(rule: .init(rawValue: $0.rule.rawValue) ?? .target, message: $0.message) }
        )
    }
}

extension API.LeaderboardRow {
    public init(_ m: RecurStore.LeaderboardRow) {
        self.init(
            rank: m.rank,
            trial: m.trial,
            trialId: m.trialId,
            params: m.params,
            valMae: m.value,
            testMae: m.testMAE,
            epochs: m.epochs,
            state: API.TrialState(m.state),
            pruned: m.pruned,
            durationS: m.durationSeconds,
            worker: m.worker,
            valSkill: m.valSkill,
            testSkill: m.testSkill,
            valMaeSd: m.valSd,
            valMaeCi95: m.valCI95.map { [$0.low, $0.high] },
            runs: m.runs,
            confirmed: m.confirmed
        )
    }
}

extension API.TrialDetail {
    public init(_ m: RecurStore.TrialDetail) {
        self.init(
            sweep: m.sweep,
            trial: m.trial,
            trialId: m.trialId,
            state: API.TrialState(m.state),
            params: m.params,
            valMae: m.value,
            testMae: m.testMAE,
            bestEpoch: m.bestEpoch,
            valMaeSd: m.valSd,
            valMaeCi95: m.valCI95.map { [$0.low, $0.high] },
            confirmed: m.confirmed,
            runs: m.runs.map {
                API.RunDetail(
                    number: $0.number,
                    kind: API.RunKind(rawValue: $0.kind.rawValue) ?? .scoring,
                    fold: $0.fold,
                    folds: $0.folds,
                    seedIndex: $0.seedIndex,
                    confirmation: $0.confirmation,
                    state: .init(rawValue: $0.state.rawValue) ?? .pending,
                    valMae: $0.value,
                    bestEpoch: $0.bestEpoch,
                    testMae: $0.testMAE,
                    epochs: $0.epochs
                )
            },
            attempts: m.attempts.map {
                API.AttemptInfo(
                    number: $0.number,
                    run: $0.run,
                    worker: $0.worker,
                    state: API.AttemptState(rawValue: $0.state.rawValue) ?? .failed,
                    error: $0.error,
                    pruneReason: $0.pruneReason,
                    startedAt: $0.startedAt,
                    finishedAt: $0.finishedAt,
                    workerVersion: $0.workerVersion,
                    engineVersion: $0.engineVersion,
                    cpuFeatures: $0.cpuFeatures
                )
            },
            metrics: m.metrics.map {
                API.MetricRow(
                    run: $0.run,
                    attempt: $0.attempt,
                    epoch: $0.epoch,
                    trainLoss: $0.trainLoss,
                    valLoss: $0.valLoss,
                    valMae: $0.valMAE,
                    seconds: $0.seconds
                )
            },
            objective: API.Objective(m.objective)
        )
    }
}

extension API.WorkerInfo {
    /// `now`: the answering side's clock (the coordinator's, or the database reader's).
    public init(_ m: RecurStore.WorkerInfo, now: Double = Date().timeIntervalSince1970) {
        self.init(
            id: m.id,
            host: m.host,
            slots: Int32(clamping: m.slots),
            version: m.version,
            lastSeen: m.lastSeen,
            secondsSinceSeen: max(0, now - m.lastSeen),
            running: Int32(clamping: m.running),
            engineVersion: m.engineVersion,
            checkpointFormat: m.checkpointFormat,
            cpuFeatures: m.cpuFeatures
        )
    }
}

extension API.SweepState {
    public init(_ state: RecurStore.SweepState) {
        switch state {
        case .running: self = .running
        case .paused: self = .paused
        case .cancelled: self = .cancelled
        case .done: self = .done
        }
    }
}

extension API.TrialState {
    public init(_ state: RecurStore.TrialState) {
        switch state {
        case .pending: self = .pending
        case .running: self = .running
        case .completed: self = .completed
        case .pruned: self = .pruned
        case .failed: self = .failed
        }
    }
}

/// What the API reads, as the API sends it: the handlers ask the coordinator, not its store.
extension Coordinator {
    public nonisolated func sweeps() throws -> [API.SweepSummary] { try store.summaries().map(API.SweepSummary.init) }
    public nonisolated func trial(id: Int64) throws -> API.TrialDetail { API.TrialDetail(try store.trialDetail(id: id)) }
    public nonisolated func workers() throws -> [API.WorkerInfo] { try store.workerInfos().map { API.WorkerInfo($0) } }
    public nonisolated func checkpoint(trial id: Int64) throws -> SweepStore.StoredCheckpoint { try store.checkpoint(trial: id) }

    /// A sweep's summary as the API sends it.
    public nonisolated func summary(named name: String) throws -> API.SweepSummary { API.SweepSummary(try store.summary(named: name)) }
    /// A sweep's leaderboard as the API sends it.
    public nonisolated func leaderboard(sweep name: String, top: Int? = nil) throws -> [API.LeaderboardRow] {
        try store.leaderboard(sweep: name, top: top).map(API.LeaderboardRow.init)
    }
}
