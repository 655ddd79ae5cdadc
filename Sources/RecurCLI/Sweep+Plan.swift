import ArgumentParser
import Foundation
import RecurEngine
import RecurForecast
import RecurStore
import RecurSweep

extension Sweep {
    /// `recur sweep plan`: what a sweep will cost, before it is launched.
    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Estimate a sweep's cost before launching it: seconds per trial over the space and wall time on N workers.",
            discussion: """
                Each configuration's cost is its model's training FLOPs per window × windows ×
                epochs, calibrated by timing training batches of the cheapest, a median and the
                priciest model on this machine (under 3 s). The dataset is read here to count
                windows. Assumptions (every epoch runs; what pruning leaves) are printed with the
                figures.

                Examples:
                  recur sweep plan sweeps/lecture.yaml --workers 8
                  recur sweep plan sweeps/lecture.yaml --json
                """
        )

        @Argument(help: "Sweep file (YAML).") var file: String
        @Option(help: "One-slot workers the sweep will run on (default: this machine's cores).") var workers: Int?
        @Option(
            help:
                "A database whose finished sweeps on the same task show how much early stopping saves, what a run costs beyond its epochs and how fast epochs really ran (read only)."
        )
        var db: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if let workers, workers < 1 { throw ValidationError("--workers: \(workers) must be ≥ 1") }
        }

        func run() throws {
            let (spec, _) = try SweepSpec.load(path: file)
            let dataset = try Create.locate(spec.task.dataset, sweepFile: file)
            var layouts: [SplitLayout: WindowCounts] = [:]
            let e = spec.evaluation
            let needed = Set((1...e.foldCount).map { e.layout(fold: e.foldMethod == .none ? nil : $0) } + (e.refits ? [.refit] : []))
            var task = spec.task
            task.dataset = dataset.path
            var features = 0
            for layout in needed {
                do {
                    let prepared = try PreparedTask.load(task, layout: layout)
                    layouts[layout] = WindowCounts(prepared)
                    features = prepared.featureCount
                } catch let error as ForecastError { throw CLIError("\(file): \(error.description)") }
            }
            let workerCount = workers ?? ProcessInfo.processInfo.activeProcessorCount

            // Calibrate on the cheapest, a median and the priciest model of the space.
            let byFLOPs = { (c: TrialConfig) in spec.flopsPerSample(c, features: features) }
            var samples: [TrialConfig] = (0..<200).map { number in
                var rng = SeededGenerator(seed: UInt64(number) &* 0x9E37_79B9)
                return spec.randomConfigForPlanning(rng: &rng)
            }
            samples.sort { byFLOPs($0) < byFLOPs($1) }
            let probes = [spec.corner(pricier: false, cost: byFLOPs), samples[samples.count / 2], spec.corner(pricier: true, cost: byFLOPs)]
            let models = try probes.map { config in
                let p = try spec.trainingPlan(for: config, features: features, seed: 1)
                return (spec: p.model, batch: p.settings.batchSize)
            }
            let clock = ContinuousClock()
            let started = clock.now
            let concurrency = min(workerCount, spec.search.maxParallel, ProcessInfo.processInfo.activeProcessorCount)
            let calibration = try CostCalibration.measure(models: models, steps: spec.task.sequenceLength, concurrency: concurrency)
            let calibrationSeconds = (clock.now - started).seconds
            var history: (share: Double, trials: Int)?
            var overhead: (seconds: Double, runs: Int)?
            var pace: (factor: Double, runs: Int)?
            if let db {
                let paces: [SweepStore.EpochPace]
                do {
                    let store = try SweepStore(readingPath: db)
                    let (name, target, sha) = (spec.task.dataset, spec.task.target, try? sha256Hex(fileAt: dataset))
                    history = try store.earlyStoppingShare(dataset: name, sha256: sha, target: target)
                    overhead = try store.runOverhead(dataset: name, sha256: sha, target: target, sweep: spec.name)
                    paces = try store.epochPaces(dataset: name, sha256: sha, target: target)
                } catch {
                    throw CLIError("--db \(db): cannot read it as a Recur database (\(error))")
                }
                pace = calibration.pace(of: Self.ranEpochs(paces, dataset: dataset))
            }
            let plan = spec.plan(
                workers: workerCount,
                features: features,
                windows: { layouts[$0] ?? WindowCounts(train: 0, validation: 0, test: 0) },
                calibration: calibration,
                earlyStopping: history,
                runOverhead: overhead,
                pace: pace
            )
            if json {
                print(Self.json(plan, calibration: calibration, seconds: calibrationSeconds, threads: concurrency))
            } else {
                print(Self.text(spec, plan, calibration: calibration, seconds: calibrationSeconds, threads: concurrency))
            }
        }

        /// Earlier runs' epochs with their FLOPs and windows, each counted on its own sweep's task
        /// and fold of this dataset file (loaded once per task and layout). A run whose task no
        /// longer loads is left out.
        static func ranEpochs(_ paces: [SweepStore.EpochPace], dataset: URL) -> [CostCalibration.RanEpochs] {
            struct Key: Hashable {
                var task: TaskSpec
                var layout: SplitLayout
            }
            var prepared: [Key: (windows: WindowCounts, features: Int)?] = [:]
            return paces.compactMap { pace in
                var task = pace.spec.task
                task.dataset = dataset.path
                let layout = pace.plan.kind == .refit ? SplitLayout.refit : pace.spec.evaluation.layout(fold: pace.plan.fold)
                let key = Key(task: task, layout: layout)
                if prepared[key] == nil {
                    prepared[key] = .some((try? PreparedTask.load(task, layout: layout)).map { (WindowCounts($0), $0.featureCount) })
                }
                guard let (windows, features) = prepared[key] ?? nil else { return nil }
                return CostCalibration.RanEpochs(
                    flops: pace.spec.flopsPerSample(pace.config, features: features),
                    windows: windows,
                    epochs: pace.epochs,
                    seconds: pace.seconds
                )
            }
        }

        static func text(_ spec: SweepSpec, _ plan: SweepPlan, calibration: CostCalibration, seconds: Double, threads: Int) -> String {
            let s = plan.secondsPerTrial
            var lines = [
                "sweep \(spec.name): \(plan.trials) trials (\(spec.search.method.rawValue)), \(plan.runsPerTrial) run(s) each, on \(plan.workers) worker(s)",
                "seconds per trial: min \(duration(s.min)) · median \(duration(s.median)) · max \(duration(s.max))",
                "  priciest: \(plan.priciest.config.compactDescription)",
                "wall time: \(duration(plan.wallSeconds.noPruning)) without pruning"
                    + (spec.pruning.method == .none
                        ? "" : " · \(duration(plan.wallSeconds.withPruning)) with \(spec.pruning.method.rawValue) pruning"),
                "assuming:",
            ]
            lines += plan.assumptions.map { "  - \($0)" }
            let rates = calibration.points.map { String(format: "%.1f", $0.secondsPerSample * 1e6) }.joined(separator: ", ")
            lines.append(
                String(
                    format: "calibrated in %.1f s on %d thread(s) at once on this CPU (%@, BLAS %@): %@ µs per training window",
                    seconds,
                    threads,
                    BuildInfo.thisCPU,
                    BLASInfo.current.coreName,
                    rates
                )
            )
            if !plan.warnings.isEmpty {
                lines.append("warnings:")
                lines += plan.warnings.map { "  - \($0)" }
            }
            return lines.joined(separator: "\n")
        }

        static func json(_ plan: SweepPlan, calibration: CostCalibration, seconds: Double, threads: Int) -> String {
            let object: [String: Any] = [
                "trials": plan.trials,
                "runs_per_trial": plan.runsPerTrial,
                "seconds_per_trial": ["min": plan.secondsPerTrial.min, "median": plan.secondsPerTrial.median, "max": plan.secondsPerTrial.max],
                "priciest": [
                    "config": (try? JSONSerialization.jsonObject(with: Data(plan.priciest.config.canonicalJSON.utf8))) ?? [:],
                    "seconds": plan.priciest.seconds,
                ],
                "wall_seconds": ["no_pruning": plan.wallSeconds.noPruning, "with_pruning": plan.wallSeconds.withPruning],
                "workers": plan.workers,
                "pruning_share": plan.pruningShare,
                "epochs_priced": plan.epochsPriced,
                "pace": plan.pace.map { ["factor": $0.factor, "runs": $0.runs] as [String: Any] } ?? NSNull(),
                "assumptions": plan.assumptions,
                "warnings": plan.warnings,
                "calibration": [
                    "seconds": seconds, "threads": threads, "cpu": BuildInfo.thisCPU, "blas_core": BLASInfo.current.coreName,
                    "points": calibration.points.map { ["flops_per_window": $0.flopsPerSample, "seconds_per_window": $0.secondsPerSample] },
                ],
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }

        static func duration(_ seconds: Double) -> String { SweepPlan.duration(seconds) }
    }
}
