import Foundation
import Testing

@testable import RecurSweep

/// Hand-picked configurations: checked against the space, parsed from `--params`, and queued
/// ahead of sampled ones.
@Suite struct EnqueueTests {
    static let spec = try! SweepSpec.parse(
        yaml: """
            name: e
            task: {dataset: d.csv, target: y}
            search: {method: random, seed: 4, max_trials: 5}
            space:
              cell: {choice: [gru, lstm]}
              depth: {int: [1, 3]}
              units: {per_layer: {choice: [16, 32, 64]}}
              learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
              batch_size: 128
            """
    )

    @Test func aConfigIsCheckedAgainstTheSpace() throws {
        let ok = try Self.spec.checkedConfig(try TrialConfig.parse(params: "cell=gru,depth=2,units=[64,32],learning_rate=0.002"))
        #expect(ok["batch_size"] == .int(128), "fixed values are filled in")
        #expect(ok["units"] == .list([.int(64), .int(32)]))
        let broadcast = try Self.spec.checkedConfig(try TrialConfig.parse(params: "cell=lstm,depth=3,units=32,learning_rate=1e-3"))
        #expect(broadcast["units"] == .list([.int(32), .int(32), .int(32)]))
        do {
            _ = try Self.spec.checkedConfig(try TrialConfig.parse(params: "cell=rnn,depth=4,units=[16,48],learning_rate=0.5,width=3"))
            Issue.record("accepted")
        } catch let error as SweepSpecError {
            #expect(
                error.problems == [
                    "width: not a parameter of this sweep's space (cell, depth, units, learning_rate, batch_size)",
                    "cell: rnn is not in {gru, lstm}",
                    "depth: 4 is not in integers 1…3",
                    "units: 2 values for 4 layers; give one per layer, or one for all",
                    "learning_rate: 0.5 is not in [0.0001, 0.01]",
                ]
            )
        }
        #expect(throws: SweepSpecError.self) { _ = try Self.spec.checkedConfig(["cell": .string("gru")]) }
    }

    /// Numbers no Int holds, and a depth no list should be built for, are problems, not crashes
    /// (`depth=1e300` once stopped the coordinator).
    @Test func hugeOrFractionalIntegersAreProblems() throws {
        for (depth, problem) in [
            (ParameterValue.double(1e300), "depth: 1e+300 is not in integers 1…3"), (.double(2.5), "depth: 2.5 is not in integers 1…3"),
            (.int(100_000_000_000), "depth: 100000000000 is not in integers 1…3"),
        ] {
            let given: [String: ParameterValue] = ["cell": .string("gru"), "depth": depth, "units": .int(16), "learning_rate": .double(1e-3)]
            #expect(throws: SweepSpecError.self) { _ = try Self.spec.checkedConfig(given) }
            do { _ = try Self.spec.checkedConfig(given) } catch let error as SweepSpecError { #expect(error.problems == [problem]) }
        }
        #expect(ParameterValue.double(1e300).intValue == nil && ParameterValue.double(-3).intValue == -3)
    }

    @Test func paramsParseNumbersListsAndStrings() throws {
        #expect(
            try TrialConfig.parse(params: "a=1, b=2.5,c=true,d=[1,2.0],e=gru")
                == ["a": .int(1), "b": .double(2.5), "c": .bool(true), "d": .list([.int(1), .double(2)]), "e": .string("gru")]
        )
        #expect(throws: SweepSpecError.self) { _ = try TrialConfig.parse(params: "cell") }
        #expect(throws: SweepSpecError.self) { _ = try TrialConfig.parse(params: "a=1,a=2") }
    }

    @Test func queuedConfigsGoBeforeSampledOnesOnce() throws {
        let scheduler = SweepScheduler(spec: Self.spec)
        let picked = try Self.spec.checkedConfig(try TrialConfig.parse(params: "cell=gru,depth=1,units=16,learning_rate=0.001"))
        #expect(scheduler.enqueue(picked))
        #expect(!scheduler.enqueue(picked), "a config is queued once")
        guard case .new(0, let config, _) = scheduler.next() else {
            Issue.record("no trial")
            return
        }
        #expect(config == picked)
        guard case .new(1, let sampled, _) = scheduler.next() else {
            Issue.record("no trial")
            return
        }
        #expect(sampled != picked && !scheduler.wouldTake(picked))
    }

    /// Queued configurations are known up front: the priciest goes first, equal ones in order.
    @Test func theQueueLeasesThePriciestFirst() throws {
        let scheduler = SweepScheduler(spec: Self.spec)
        let small = try Self.spec.checkedConfig(try TrialConfig.parse(params: "cell=gru,depth=1,units=16,learning_rate=0.001"))
        let big = try Self.spec.checkedConfig(try TrialConfig.parse(params: "cell=lstm,depth=3,units=64,learning_rate=0.001"))
        let small2 = try Self.spec.checkedConfig(try TrialConfig.parse(params: "cell=gru,depth=1,units=16,learning_rate=0.002"))
        for c in [small, big, small2] { scheduler.enqueue(c) }
        #expect(scheduler.queued == [big, small, small2])
    }
}
