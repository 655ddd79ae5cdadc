import Foundation
import Testing

@testable import RecurSweep

@Suite struct SweepSpecTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every shipped sweep file parses.
    @Test func everyFileInSweepsParses() throws {
        let dir = Self.root.appendingPathComponent("sweeps")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count >= 3)
        for file in files {
            do {
                let (spec, _) = try SweepSpec.load(path: dir.appendingPathComponent(file).path)
                #expect(spec.name + ".yaml" == file, "name \(spec.name) vs file \(file)")
                #expect(!spec.space.isEmpty)
            } catch {
                Issue.record("\(file): \(error)")
            }
        }
    }

    @Test func theIssueExampleParsesWithItsValues() throws {
        let (spec, _) = try SweepSpec.load(path: Self.root.appendingPathComponent("sweeps/lecture.yaml").path)
        #expect(spec.search.method == .tpe && spec.search.maxTrials == 60 && spec.search.maxParallel == 4 && spec.search.seed == 7)
        #expect(spec.space.map(\.name) == ["cell", "depth", "units", "dropout", "recurrent_dropout", "bidirectional", "learning_rate", "batch_size"])
        #expect(spec.parameter("learning_rate")?.domain == .float(low: 1e-4, high: 1e-2, log: true, grid: nil))
        #expect(spec.parameter("units")?.domain == .perLayer(.choice([.int(16), .int(32), .int(64)])))
        #expect(spec.pruning.method == .asha && spec.pruning.minEpochs == 2 && spec.pruning.reductionFactor == 3)
        #expect(spec.training.epochs == 20 && spec.training.earlyStopping?.patience == 3 && spec.maxAttempts == 3)
        #expect(spec.maximumDepth == 3)
        #expect(spec.jsonString().contains("\"per_layer\""))
    }

    /// Parses `yaml`, expecting it refused with a problem starting with each of `lines`.
    @discardableResult
    static func expectProblems(
        _ yaml: String,
        source: String = "sweep",
        _ lines: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> SweepSpecError? {
        do {
            _ = try SweepSpec.parse(yaml: yaml, source: source)
            Issue.record("accepted \(source)", sourceLocation: sourceLocation)
        } catch let error as SweepSpecError {
            for line in lines {
                #expect(error.problems.contains { $0.hasPrefix(line) }, "missing: \(line)\nall: \(error.problems)", sourceLocation: sourceLocation)
            }
            return error
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    static let valid = """
        name: t
        task: {dataset: d.csv, target: y}
        space:
          cell: gru
          units: 32
        """

    @Test func fixedValuesAreAllowedWhereRangesAre() throws {
        let spec = try SweepSpec.parse(yaml: Self.valid)
        #expect(spec.parameter("units")?.domain == .fixed(.int(32)))
        #expect(spec.parameter("cell")?.domain == .fixed(.string("gru")))
    }

    /// All problems are reported at once, each with its YAML path.
    @Test func validationReportsEveryProblemWithItsPath() {
        let yaml = """
            name: bad sweep
            task: {dataset: d.csv, target: y, horizon: 0}
            objective: {metric: test_mae}
            search: {method: bayes, max_trials: 0}
            space:
              dropout: {float: [0.0, 1.5]}
              cell: {choice: [lstm, transformer]}
              units: {int: [0, 64]}
              depht: {int: [1, 3]}
              learning_rate: {float: [0, 0.1], log: true}
              bidirectional: [true, false]
            training: {epochs: 0, optimizer: adagrad}
            pruning: {method: hyperband}
            colour: blue
            """
        let error = Self.expectProblems(
            yaml,
            source: "bad.yaml",
            [
                "name: 'bad sweep' must be letters",
                "task.horizon: 0 must be ≥ 1",
                "objective.metric: 'test_mae' must be val_mae or val_loss",
                "search.method: 'bayes' must be grid, random or tpe",
                "search.max_trials: 0 must be ≥ 1",
                "space.dropout.float[1]: 1.5 must be < 1",
                "space.cell.choice[1]: 'transformer' must be one of simple_rnn, lstm, gru",
                "space.units.int[0]: 0 must be ≥ 1",
                "space.depht: unknown parameter",
                "space.learning_rate.float[0]: 0.0 must be > 0",
                "space.bidirectional: a bare list is ambiguous",
                "training.epochs: 0 must be ≥ 1",
                "training.optimizer: 'adagrad' must be rmsprop, adam or sgd",
                "pruning.method: 'hyperband' must be none, median or asha",
                "colour: unknown key",
            ]
        )
        #expect(error?.description.split(separator: "\n").allSatisfy { $0.hasPrefix("bad.yaml: ") } == true)
    }

    @Test func outOfRangeNumbersAndEmptyGridsAreProblemsNotCrashes() {
        let yaml = """
            name: huge
            task: {dataset: d.csv, target: y, sequence_length: 9223372036854775807, sampling_rate: 4000000000}
            search: {max_trials: 100000000000}
            space:
              depth: {int: [1, 9223372036854775807]}
              units: {choice: [32, 100000]}
              dropout: {float: [0, 0.5], grid: []}
              batch_size: 1000000000
            training: {epochs: 99999999999}
            pruning: {method: asha, reduction_factor: 1000000000000000000}
            retries: {max_attempts: 1000}
            """
        Self.expectProblems(
            yaml,
            source: "huge.yaml",
            [
                "task.sequence_length: 9223372036854775807 must be ≤ 1000000",
                "task.sampling_rate: 4000000000 must be ≤ 1000000",
                "search.max_trials: 100000000000 must be ≤ 1000000",
                "space.depth.int[1]: 9223372036854775807 must be ≤ 16",
                "space.units.choice[1]: 100000 must be ≤ 4096",
                "space.dropout.grid: expected a non-empty list",
                "space.batch_size: 1000000000 must be ≤ 65536",
                "training.epochs: 99999999999 must be ≤ 1000000",
                "pruning.reduction_factor: 1000000000000000000 must be ≤ 100",
                "retries.max_attempts: 1000 must be ≤ 100",
            ]
        )
    }

    /// `grid` and `log` where they do not apply, and repeated grid points, are problems rather
    /// than silently ignored (a user meaning 4 units values must not get 57).
    /// Early stopping keeps the epoch the objective ranks by: its monitor follows
    /// `objective.metric`, and a different monitor is refused.
    @Test func earlyStoppingMonitorsTheObjective() throws {
        let loss = try SweepSpec.parse(yaml: Self.valid + "\nobjective: {metric: val_loss}\ntraining: {early_stopping: {patience: 2}}")
        #expect(loss.training.earlyStopping?.monitor == .valLoss)
        #expect(try SweepSpec.parse(yaml: Self.valid + "\nobjective: {metric: val_loss}").training.earlyStopping?.monitor == .valLoss)
        #expect(try SweepSpec.parse(yaml: Self.valid).training.earlyStopping?.monitor == .valMAE)
        Self.expectProblems(
            Self.valid + "\nobjective: {metric: val_loss}\ntraining: {early_stopping: {monitor: val_mae}}",
            [
                "training.early_stopping.monitor: val_mae differs from objective.metric val_loss"
            ]
        )
    }

    @Test func keysThatDoNotApplyAreProblems() {
        let yaml = """
            name: keys
            task: {dataset: d.csv, target: y}
            search: {method: grid}
            space:
              units: {int: [8, 64], grid: [8, 16, 32, 64]}
              cell: {choice: [gru, lstm], log: true}
              dropout: {float: [0, 0.5], grid: [0.1, 0.2, 0.1]}
            """
        Self.expectProblems(
            yaml,
            [
                "space.units.grid: an int range is already a grid", "space.cell.log: applies to int and float ranges only",
                "space.dropout.grid[2]: 0.1 is listed twice",
            ]
        )
    }

    /// `target_mode` is a task key and a parameter: a trial's task takes the sampled mode, and a
    /// searched seasonal_delta must fit the window.
    @Test func targetModeIsATaskKeyAndAParameter() throws {
        let base = "name: m\ntask: {dataset: d.csv, target: y, sequence_length: 30, horizon: 6}\nspace:\n  units: 4\n"
        let spec = try SweepSpec.parse(yaml: base + "  target_mode: {choice: [level, delta, seasonal_delta]}\n", source: "m")
        let task = spec.task(for: TrialConfig(["target_mode": .string("seasonal_delta")]), base: spec.task)
        #expect(task.mode == .seasonalDelta && task.referenceLag == 24)
        #expect(spec.task(for: TrialConfig(["units": .int(4)]), base: spec.task).mode == .level)
        let fixed = try SweepSpec.parse(yaml: base.replacingOccurrences(of: "horizon: 6}", with: "horizon: 6, target_mode: delta}"), source: "m")
        #expect(fixed.task.mode == .delta && fixed.task.referenceLag == 6)
        Self.expectProblems(base + "  target_mode: {choice: [level, trend]}\n", ["space.target_mode"])
        Self.expectProblems(
            base + "  target_mode: {choice: [level, delta]}\nobjective: {metric: val_loss}\n",
            ["objective.metric: val_loss is in each trial's standardized units"]
        )
        Self.expectProblems(
            base.replacingOccurrences(of: "horizon: 6}", with: "horizon: 6, season: 200}") + "  target_mode: {choice: [level, seasonal_delta]}\n",
            ["task.season: 200 reaches before the window"]
        )
    }

    /// `workers: {engine: any}` lets every worker train the sweep; the default pins the creator's engine.
    @Test func workersEngineIsPinnedOrAny() throws {
        let base = "name: w\ntask: {dataset: d.csv, target: y}\nspace:\n  units: 4\n"
        #expect(try SweepSpec.parse(yaml: base, source: "w").workers.engine == .pinned)
        let open = try SweepSpec.parse(yaml: base + "workers: {engine: any}\n", source: "w")
        #expect(open.workers.engine == .any)
        let stored = try SweepDefinition.decode(json: SweepDefinition(spec: open, datasetSHA256: nil, features: 1).jsonString())
        #expect(stored.spec.workers.engine == .any)
        Self.expectProblems(
            base + "workers: {engine: newest}\n",
            ["workers.engine: expected pinned (only workers with the creator's engine version) or any"]
        )
        Self.expectProblems(base + "workers: {gpu: true}\n", ["workers.gpu: unknown key; allowed: engine"])
    }

    @Test func malformedYAMLIsOneProblem() {
        #expect(throws: SweepSpecError.self) { try SweepSpec.parse(yaml: "name: [unclosed\n", source: "x.yaml") }
        #expect(throws: SweepSpecError.self) { try SweepSpec.parse(yaml: "", source: "x.yaml") }
    }

    /// A grid past the cap of max_trials is refused (it is leased, planned and listed point by
    /// point; 4096¹⁶ points once validated and hung `sweep plan`), and so is a name the API could
    /// not address afterwards.
    @Test func hugeGridsAndLongNamesAreProblems() {
        let grid = """
            name: g
            task: {dataset: d.csv, target: y}
            search: {method: grid}
            space:
              depth: {int: [1, 16]}
              units: {per_layer: {int: [1, 4096]}}
            """
        _ = Self.expectProblems(
            grid,
            source: "g.yaml",
            ["space: the grid holds over 10^18 points, more than 1000000; narrow the space or set search.max_trials"]
        )
        #expect((try? SweepSpec.parse(yaml: grid.replacingOccurrences(of: "{method: grid}", with: "{method: grid, max_trials: 50}"))) != nil)
        let long = String(repeating: "n", count: 250)
        _ = Self.expectProblems(
            "name: \(long)\ntask: {dataset: d.csv, target: y}\nspace:\n  units: 4\n",
            source: "n.yaml",
            ["name: 250 characters; at most 200 (the API's limit for a sweep's name)"]
        )
    }

    @Test func gridNeedsDiscreteValues() {
        let yaml = """
            name: g
            task: {dataset: d.csv, target: y}
            search: {method: grid}
            space:
              dropout: {float: [0.0, 0.5]}
            """
        #expect(throws: SweepSpecError.self) { try SweepSpec.parse(yaml: yaml) }
    }

    @Test func trialConfigsBecomeModelsAndSettings() throws {
        let (spec, _) = try SweepSpec.load(path: Self.root.appendingPathComponent("sweeps/lecture.yaml").path)
        let config = TrialConfig([
            "cell": .string("lstm"), "depth": .int(2), "units": .list([.int(32), .int(16)]), "dropout": .double(0.1),
            "recurrent_dropout": .double(0.2), "bidirectional": .bool(true), "learning_rate": .double(0.003), "batch_size": .int(128),
        ])
        let plan = try spec.trainingPlan(for: config, features: 13, seed: 5)
        #expect(plan.model.layers.count == 3)
        #expect(plan.model.jsonString().contains("\"units\":32") && plan.model.jsonString().contains("\"bidirectional\":true"))
        #expect(plan.settings.batchSize == 128 && abs(plan.settings.optimizer.learningRate - 0.003) < 1e-9 && plan.settings.seed == 5)
    }
}
