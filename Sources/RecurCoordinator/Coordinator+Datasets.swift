import Foundation
import Logging
import RecurAPI
import RecurEngine
import RecurForecast
import RecurStore
import RecurSweep

/// Where a sweep's dataset comes from and which engine it pins: the creator uploads the dataset
/// under its SHA-256 (or the coordinator imports it from its own disk), and the sweep keeps the
/// creator's engine version unless it says `workers: {engine: any}`.
extension Coordinator {
    /// Where a new sweep's dataset and engine come from.
    public struct Origin: Sendable, Equatable {
        /// The dataset's hash as the creator read it, uploaded to the store before; nil: the
        /// coordinator reads `task.dataset` from its own disk.
        public var datasetSHA256: String?
        /// The creator's engine version, pinned unless the sweep says `workers: {engine: any}`.
        public var engineVersion: String
        public init(datasetSHA256: String? = nil, engineVersion: String = BuildInfo.engineVersion) {
            self.datasetSHA256 = datasetSHA256
            self.engineVersion = engineVersion
        }
    }

    /// The task with its dataset's SHA-256, the dataset's feature count and its baselines. A
    /// declared hash must be in the store; otherwise the file is read from the coordinator's disk
    /// and imported.
    nonisolated static func prepareDataset(
        _ spec: SweepSpec,
        source: String,
        directory: URL,
        store: SweepStore,
        declared: String?
    ) throws -> (task: TaskSpec, features: Int, baselines: Baselines) {
        var task = spec.task
        if let declared {
            guard store.datasetSize(sha256: declared) != nil else {
                throw SweepSpecError(
                    source: source,
                    problems: ["task.dataset: the coordinator does not hold dataset \(declared); upload it first (recur sweep create does)"]
                )
            }
            task.datasetSHA256 = declared
            return try validated(spec, task: task, file: store.datasetFile(sha256: declared), source: source)
        }
        let url = URL(fileURLWithPath: spec.task.dataset, relativeTo: directory)
        guard FileManager.default.isReadableFile(atPath: url.path), notARegularFile(url) == nil else {
            throw SweepSpecError(
                source: source,
                problems: [
                    "task.dataset: the coordinator cannot read \(spec.task.dataset) (\(url.path)) as a regular file; create the sweep with recur sweep create, which uploads it"
                ]
            )
        }
        // Copied, then checked, then kept under its hash: a file that is no dataset for this task
        // is never kept (nor served to workers), and what workers get is the copy that was checked.
        let part: URL
        do {
            part = try store.datasetPartFile()
            try FileManager.default.copyItem(at: url.resolvingSymlinksInPath(), to: part)
        } catch {
            throw SweepSpecError(source: source, problems: ["task.dataset: cannot store \(spec.task.dataset) beside the database: \(error)"])
        }
        defer { _ = try? FileManager.default.removeItem(at: part) }
        var result = try validated(spec, task: task, file: part, source: source)
        do {
            result.task.datasetSHA256 = try store.adoptDataset(copy: part)
        } catch {
            throw SweepSpecError(source: source, problems: ["task.dataset: cannot store \(spec.task.dataset) beside the database: \(error)"])
        }
        return result
    }

    /// The task's dataset `file` read as the task says, and every fold of the evaluation checked
    /// to hold whole windows: the feature count and the baselines.
    nonisolated static func validated(
        _ spec: SweepSpec,
        task: TaskSpec,
        file: URL,
        source: String
    ) throws -> (task: TaskSpec, features: Int, baselines: Baselines) {
        var local = task
        local.dataset = file.path
        let prepared: PreparedTask
        do { prepared = try PreparedTask.load(local) } catch let error as ForecastError {
            throw SweepSpecError(source: source, problems: [error.description.replacingOccurrences(of: file.path, with: spec.task.dataset)])
        }
        var baselines = prepared.baselines()
        let evaluation = spec.evaluation
        guard evaluation.foldMethod == .rollingOrigin || evaluation.refits else { return (task, prepared.featureCount, baselines) }
        // Every fold (and the refit) must hold whole windows; the validation baselines become the
        // folds' mean, so a trial's mean over folds compares with persistence on the same rows.
        var persistence: [Double] = []
        var trainMean: [Double] = []
        let layouts = (1...evaluation.foldCount).map { evaluation.layout(fold: $0) } + (evaluation.refits ? [SplitLayout.refit] : [])
        for layout in layouts where layout != .task {
            do {
                let fold = try PreparedTask.load(local, layout: layout)
                guard layout != .refit else { continue }
                let b = fold.baselines()
                persistence.append(b.persistence.valMAE)
                trainMean.append(b.trainMean.valMAE)
            } catch let error as ForecastError {
                let text = error.description.replacingOccurrences(of: file.path, with: spec.task.dataset)
                throw SweepSpecError(source: source, problems: ["evaluation.folds.count: \(evaluation.folds) folds do not fit: \(text)"])
            }
        }
        if !persistence.isEmpty {
            baselines.persistence.valMAE = persistence.reduce(0, +) / Double(persistence.count)
            baselines.trainMean.valMAE = trainMean.reduce(0, +) / Double(trainMean.count)
        }
        return (task, prepared.featureCount, baselines)
    }

    /// What a worker registered with (engine, runs), remembered after the first lookup.
    func traits(ofWorker id: String) throws -> WorkerTraits {
        if let known = workerTraits[id] { return known }
        let w = try store.worker(id: id)
        let traits = WorkerTraits(engine: w.engineVersion, trainsRuns: w.trainsRuns)
        workerTraits[id] = traits
        return traits
    }

    /// The size of the stored dataset `sha256` when its bytes hash to it, checked once per
    /// process; a file that does not is removed (a truncated copy, a disk fault), so it can be
    /// uploaded again and is never served.
    public nonisolated func intactDatasetSize(sha256: String) -> Int64? {
        guard let size = store.datasetSize(sha256: sha256) else { return nil }
        if verifiedDatasets.withLock({ $0.contains(sha256) }) { return size }
        let file = store.datasetFile(sha256: sha256)
        guard (try? sha256Hex(fileAt: file)) == sha256 else {
            logger.error("a stored dataset does not match its hash; removed", metadata: ["dataset.sha256": "\(sha256)", "file": "\(file.path)"])
            _ = try? FileManager.default.removeItem(at: file)
            return nil
        }
        verifiedDatasets.withLock { _ = $0.insert(sha256) }
        return size
    }

    /// Sweeps created before datasets were kept by hash name a file the coordinator read from its
    /// own disk: it is imported at start when it still hashes the same, so workers can fetch it.
    nonisolated static func importMissingDatasets(of tasks: [TaskSpec], store: SweepStore, directory: URL, logger: Logger) {
        for task in tasks {
            guard let sha = task.datasetSHA256, SweepStore.isDatasetHash(sha), store.datasetSize(sha256: sha) == nil else { continue }
            let url = URL(fileURLWithPath: task.dataset, relativeTo: directory)
            if (try? store.importDataset(from: url)) != sha {
                logger.warning(
                    "a running sweep's dataset is not stored and its file is gone or changed; workers cannot fetch it",
                    metadata: ["dataset": "\(url.path)", "dataset.sha256": "\(sha)"]
                )
            }
        }
    }
}
