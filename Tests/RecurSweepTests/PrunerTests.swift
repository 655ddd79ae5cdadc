import Testing

@testable import RecurSweep

/// Pruners on hand-built histories.
@Suite struct PrunerTests {
    @Test func medianPrunesAWorseThanMedianTrialAfterWarmup() {
        let p = MedianPruner(warmup: 1, minTrials: 3, minimize: true)
        // Trials 0–3 report epochs 1 and 2.
        for (trial, values) in [(0, [5.0, 4.0]), (1, [5.0, 3.0]), (2, [6.0, 2.0]), (3, [4.0, 1.0])] {
            for (e, v) in values.enumerated() { _ = p.report(trial: trial, epoch: e + 1, value: v) }
            p.complete(trial: trial)
        }
        // Trial 4: epoch 1 is warm-up; at epoch 2 its best (3.5) is worse than the median of 4, 3, 2, 1 (2.5).
        #expect(p.report(trial: 4, epoch: 1, value: 3.5).prune == false)
        let d = p.report(trial: 4, epoch: 2, value: 3.6)
        #expect(d.prune && d.numbers["median"] == 2.5 && d.numbers["best"] == 3.5 && d.numbers["others"] == 4)
        // Trial 5 at 2.4 is better than the median: goes on.
        _ = p.report(trial: 5, epoch: 1, value: 9)
        #expect(p.report(trial: 5, epoch: 2, value: 2.4).prune == false)
    }

    @Test func medianWaitsForEnoughTrials() {
        let p = MedianPruner(warmup: 0, minTrials: 3, minimize: true)
        _ = p.report(trial: 0, epoch: 1, value: 1)
        _ = p.report(trial: 1, epoch: 1, value: 1)
        p.complete(trial: 0)
        p.complete(trial: 1)
        let d = p.report(trial: 2, epoch: 1, value: 100)
        #expect(!d.prune && d.reason.contains("3 needed"))
    }

    /// Only completed trials set the median (Optuna's rule): a first wave of parallel trials, none
    /// finished yet, cannot prune one another, however many of them have reported.
    @Test func medianCountsOnlyCompletedTrials() {
        let p = MedianPruner(warmup: 0, minTrials: 2, minimize: true)
        for trial in 0..<6 { _ = p.report(trial: trial, epoch: 1, value: Double(trial)) }
        #expect(!p.report(trial: 6, epoch: 1, value: 100).prune)
        p.complete(trial: 0)
        p.complete(trial: 1)
        let d = p.report(trial: 7, epoch: 1, value: 100)
        #expect(d.prune && d.numbers["others"] == 2 && d.numbers["median"] == 0.5)
        // A trial that completes after reporting enters the median with its own values only then.
        _ = p.report(trial: 8, epoch: 2, value: 3)
        #expect(!p.report(trial: 9, epoch: 2, value: 50).prune)
    }

    /// A retried trial is judged on its own epochs: the lost attempt's good value no longer
    /// carries it (the reviewer's repro: 1.0 lost, then 9.0 against a median of 5).
    @Test func aRetryForgetsItsLostAttempt() {
        let median = MedianPruner(warmup: 0, minTrials: 1, minimize: true)
        for e in 1...3 { _ = median.report(trial: 0, epoch: e, value: 5) }
        median.complete(trial: 0)
        #expect(!median.report(trial: 1, epoch: 1, value: 1).prune)
        median.restart(trial: 1)
        #expect(median.report(trial: 1, epoch: 1, value: 9).prune)

        let asha = ASHAPruner(minEpochs: 1, reductionFactor: 2, maxEpochs: 8, minimize: true)
        _ = asha.report(trial: 0, epoch: 1, value: 5)
        #expect(!asha.report(trial: 1, epoch: 1, value: 1).prune)
        asha.restart(trial: 1)
        // Without the restart the rung would hold [1, 5] and the retry's best would still be 1.
        let d = asha.report(trial: 1, epoch: 1, value: 9)
        #expect(d.prune && d.numbers["best"] == 9 && d.numbers["trials"] == 2 && d.numbers["threshold"] == 5)
    }

    @Test func medianHandlesMaximisation() {
        let p = MedianPruner(warmup: 0, minTrials: 2, minimize: false)
        _ = p.report(trial: 0, epoch: 1, value: 0.9)
        _ = p.report(trial: 1, epoch: 1, value: 0.8)
        p.complete(trial: 0)
        p.complete(trial: 1)
        #expect(p.report(trial: 2, epoch: 1, value: 0.5).prune)
        #expect(!p.report(trial: 3, epoch: 1, value: 0.95).prune)
    }

    @Test func ashaRungsAreMinEpochsTimesEtaPowers() {
        let p = ASHAPruner(minEpochs: 2, reductionFactor: 3, maxEpochs: 20, minimize: true)
        #expect(p.rung(at: 2) == 0 && p.rung(at: 6) == 1 && p.rung(at: 18) == 2)
        #expect(p.rung(at: 3) == nil && p.rung(at: 54) == nil)
    }

    @Test func ashaRungsStopBeforeOverflowing() {
        let p = ASHAPruner(minEpochs: 1 << 40, reductionFactor: 1 << 30, maxEpochs: .max, minimize: true)
        #expect(p.rung(at: 1 << 40) == 0 && p.rung(at: 1 << 41) == nil)
        #expect(p.report(trial: 1, epoch: 5, value: 1).prune == false)
    }

    @Test func ashaKeepsTheTopThirdAtARung() {
        let p = ASHAPruner(minEpochs: 1, reductionFactor: 3, maxEpochs: 9, minimize: true)
        // First trial at rung 0: alone, it is the best, goes on.
        #expect(!p.report(trial: 0, epoch: 1, value: 5).prune)
        // Second, worse: with 2 < η values only the best goes on.
        #expect(p.report(trial: 1, epoch: 1, value: 6).prune)
        // Third, best so far: goes on.
        #expect(!p.report(trial: 2, epoch: 1, value: 1).prune)
        // Six values → the top 2 go on: 1 and 2 survive, 5.5 does not.
        _ = p.report(trial: 3, epoch: 1, value: 7)
        _ = p.report(trial: 4, epoch: 1, value: 2)
        let d = p.report(trial: 5, epoch: 1, value: 5.5)
        #expect(d.prune && d.numbers["threshold"] == 2 && d.numbers["trials"] == 6)
        // Between rungs nothing is pruned.
        #expect(!p.report(trial: 2, epoch: 2, value: 100).prune)
    }

    @Test func ashaUsesTheBestSoFar() {
        let p = ASHAPruner(minEpochs: 2, reductionFactor: 2, maxEpochs: 8, minimize: true)
        _ = p.report(trial: 0, epoch: 1, value: 1.0)
        _ = p.report(trial: 0, epoch: 2, value: 1.5)
        _ = p.report(trial: 1, epoch: 1, value: 3.0)
        // Trial 1's best is 1.2 at epoch 2; trial 0's rung value is 1.0 (its best), so trial 1 is cut.
        let d = p.report(trial: 1, epoch: 2, value: 1.2)
        #expect(d.prune && d.numbers["best"] == 1.2 && d.numbers["threshold"] == 1.0)
    }
}
