import Foundation
import Logging
import OpenAPIRuntime
import RecurAPI
import RecurEngine
import RecurForecast
import RecurSweep
import Synchronization

/// Why a trial stopped early.
final class TrialControl: Sendable {
    enum Reason: Int {
        case none = 0
        case pruned, stopped, leaseGone, shutdown
    }
    private let state = Atomic<Int>(0)

    var reason: Reason { Reason(rawValue: state.load(ordering: .acquiring)) ?? .none }
    /// Keeps the first reason given.
    func stop(_ reason: Reason) { _ = state.compareExchange(expected: 0, desired: reason.rawValue, ordering: .acquiringAndReleasing) }
}

extension Worker {
    func runTrial(_ lease: API.Lease, slot: Int) async {
        let meta: Logger.Metadata = [
            "sweep.name": "\(lease.sweep)", "trial.number": "\(lease.trialNumber)", "run": "\(lease.run.number)", "attempt": "\(lease.attempt)",
            "slot": "\(slot)",
        ]
        logger.info("trial leased", metadata: meta)
        let control = TrialControl()
        let (reports, continuation) = AsyncStream<API.EpochReport>.makeStream()
        let token = lease.token
        let client = self.client

        // Sends reports in order; retries while the coordinator is unreachable.
        let sender = Task {
            for await report in reports {
                // After a prune, stop or lost lease the coordinator wants nothing more for this attempt.
                if [.pruned, .stopped, .leaseGone].contains(control.reason) { continue }
                do {
                    // Unacknowledged reports are not kept by the coordinator; on shutdown they may be dropped.
                    let answer = try await retrying(logger: logger, "report", giveUp: onShutdown) {
                        try await client.report(token: token, report)
                    }
                    if answer.action == .prune {
                        control.stop(.pruned)
                        logger.info("pruned", metadata: meta.merging(["reason": "\(answer.reason ?? "")"]) { $1 })
                    }
                    if answer.action == .stop { control.stop(.stopped) }
                } catch let error as CoordinatorCallError where error.isLeaseGone {
                    control.stop(.leaseGone)
                    logger.warning("lease gone; giving the trial up", metadata: meta.merging(["error": "\(error)"]) { $1 })
                } catch {
                    logger.error("report not delivered", metadata: meta.merging(["error": "\(error)"]) { $1 })
                }
            }
        }
        // Heartbeats renew the lease between reports. The coordinator caps leases at a day; a
        // length outside that (or NaN) from an older or foreign one is clamped, not trusted.
        let leaseSeconds = lease.leaseSeconds.isFinite ? min(max(lease.leaseSeconds, 1), 86_400) : 30
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(max(0.2, leaseSeconds / 3)))
                if Task.isCancelled { break }
                do { _ = try await client.heartbeat(token: token) } catch let error as CoordinatorCallError where error.isLeaseGone {
                    // A heartbeat in flight when the trial ended (and this task was cancelled) says nothing new.
                    if control.reason == .none && !Task.isCancelled {
                        logger.warning("lease gone; giving the trial up", metadata: meta.merging(["error": "\(error)"]) { $1 })
                    }
                    control.stop(.leaseGone)
                } catch {}
            }
        }

        // The checkpoint goes to a file as soon as training ends, and is uploaded from it in chunks.
        let checkpointFile = FileManager.default.temporaryDirectory.appendingPathComponent("recur-checkpoint-\(UUID().uuidString).safetensors")
        defer { _ = try? FileManager.default.removeItem(at: checkpointFile) }
        let outcome: Result<TrainingResult, Error>
        do {
            let task: PreparedTask
            // The run's rows: a fold, a refit on every pre-test row, or the task's own split.
            do { task = try await datasets.task(lease.task, layout: lease.run.layout, from: client) } catch {
                throw DatasetUnavailable(message: "\(error)")
            }
            let worker = self
            outcome = .success(
                try await onThread {
                    let trainer = try Trainer(task: task, spec: lease.model, settings: lease.training)
                    let result = try trainer.run(
                        interrupt: { epoch in
                            // Shutdown abandons the epoch (the trial starts over elsewhere anyway),
                            // except the last, so a nearly finished result is not thrown away.
                            if worker.isShuttingDown && epoch < lease.training.epochs { control.stop(.shutdown) }
                            return control.reason != .none
                        },
                        onEpoch: { report in
                            // A refit has no validation metrics to report; its heartbeats keep the lease.
                            if task.hasValidation {
                                continuation.yield(
                                    API.EpochReport(
                                        epoch: report.epoch,
                                        trainLoss: report.trainLoss,
                                        valLoss: report.valLoss,
                                        valMae: report.valMAE,
                                        seconds: report.seconds
                                    )
                                )
                            }
                            // A shutdown during the last epoch lets it finish, so the result is completed, not thrown away.
                            if worker.isShuttingDown && report.epoch < lease.training.epochs { control.stop(.shutdown) }
                            return control.reason == .none ? .proceed : .stop
                        }
                    )
                    var metadata = ForecastCheckpoint(prepared: task, task: lease.task).metadata()
                    metadata["sweep"] = lease.sweep
                    metadata["trial"] = String(lease.trialNumber)
                    metadata["config"] = lease.config.canonicalJSON
                    metadata["val_mae"] = String(result.valMAE)
                    metadata["test_mae"] = String(result.testMAE)
                    try Checkpoint.write(trainer.model, metadata: metadata, to: checkpointFile)
                    return result
                }
            )
        } catch {
            outcome = .failure(error)
        }
        continuation.finish()
        await sender.value
        // Heartbeats go on through the checkpoint upload and the completion, however long they take.
        defer { heartbeat.cancel() }

        switch (outcome, control.reason) {
        case (_, .pruned), (_, .stopped), (_, .leaseGone):
            return
        case (_, .shutdown):
            _ = try? await retrying(logger: logger, "release", tries: 1) { try await client.release(token: token) }
            logger.info("lease released on shutdown", metadata: meta)
        case (.success(let result), .none):
            let validated = result.valMAE.isFinite
            let request = API.CompleteRequest(
                valMae: validated ? result.valMAE : nil,
                valLoss: validated ? result.history[result.bestEpoch - 1].valLoss : nil,
                testMae: result.testMAE,
                bestEpoch: result.bestEpoch,
                epochsRun: result.epochsRun
            )
            // Past the lease's length without heartbeats the lease is gone anyway, so a worker that
            // is shutting down stops retrying then.
            let giveUpAt = ContinuousClock.now + .seconds(leaseSeconds)
            let giveUp: @Sendable () -> Bool = { [self] in isShuttingDown && ContinuousClock.now > giveUpAt }
            do {
                // The metrics matter more than the weights: a checkpoint the coordinator refuses (413),
                // or that cannot be delivered in a few tries, is dropped and the trial completes without it.
                do {
                    try await retrying(logger: logger, "upload checkpoint", tries: 4, giveUp: giveUp) {
                        try await client.uploadCheckpoint(token: token, file: checkpointFile)
                    }
                } catch let error as CoordinatorCallError where !error.isLeaseGone {
                    logger.warning("checkpoint not uploaded; completing without it", metadata: meta.merging(["error": "\(error)"]) { $1 })
                }
                _ = try await retrying(logger: logger, "complete", giveUp: giveUp) { try await client.complete(token: token, request) }
                logger.info(
                    "trial completed",
                    metadata: meta.merging(["metric.val_mae": "\(result.valMAE)", "metric.test_mae": "\(result.testMAE)"]) { $1 }
                )
            } catch {
                logger.warning("completion refused", metadata: meta.merging(["error": "\(error)"]) { $1 })
            }
        case (.failure(let error as DatasetUnavailable), .none):
            // The worker's own files are at fault, not the trial: hand it back without charging an
            // attempt, and stop, rather than fail every trial of the sweep in turn.
            logger.error(
                "cannot load the trial's dataset; releasing the lease and stopping",
                metadata: meta.merging(["error": "\(error.message)"]) { $1 }
            )
            _ = try? await retrying(logger: logger, "release", tries: 1) { try await client.release(token: token) }
            stop(failing: error.message)
        case (.failure(let error), .none):
            let diverged = error is TrainingDiverged
            logger.error("trial failed", metadata: meta.merging(["error": "\(error)", "retryable": "\(!diverged)"]) { $1 })
            let request = API.FailRequest(error: "\(error)", retryable: !diverged, kind: diverged ? .diverged : .error)
            _ = try? await retrying(logger: logger, "fail") { try await client.fail(token: token, request) }
        }
    }
}

/// Runs CPU-bound work on a dedicated thread (not the cooperative pool), with an 8 MiB stack.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// The trial's dataset could not be loaded on this worker (missing file, other bytes than the
/// coordinator's): a fault of the worker, not of the trial.
struct DatasetUnavailable: Error {
    let message: String
}

extension API.RunInfo {
    /// The rows this run trains and validates on.
    var layout: SplitLayout {
        if kind == .refit { return .refit }
        if let fold { return .fold(index: fold, count: folds) }
        return .task
    }
}
