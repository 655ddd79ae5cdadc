import Foundation
import HTTPTypes
import OpenAPIRuntime
import RecurAPI
import RecurStore
import RecurSweep

/// The `/v1` operations of docs/openapi.yaml, served by the generated server code: decoding,
/// routing and encoding are generated; this type only validates what the schema's constraints
/// say (the generator does not check `minimum`, `maxLength`…) and calls the coordinator.
struct CoordinatorAPI: APIProtocol {
    let coordinator: Coordinator
    /// The largest checkpoint upload (`recur serve --max-checkpoint-bytes`).
    let checkpointLimit: Int
    /// The largest dataset upload (`recur serve --max-dataset-bytes`).
    let datasetLimit: Int64

    // MARK: Workers

    func registerWorker(_ input: Operations.RegisterWorker.Input) async throws -> Operations.RegisterWorker.Output {
        guard case .json(let body) = input.body else { throw APIFailure.badRequest("the body must be JSON") }
        try check(!body.host.isEmpty && body.host.count <= 255, "host: must be 1 to 255 characters")
        try check((1...1024).contains(body.slots), "slots: \(body.slots) must be from 1 to 1024")
        try check(body.version.count <= 200, "version: must be at most 200 characters")
        try check((body.engineVersion?.count ?? 0) <= 200, "engine_version: must be at most 200 characters")
        try check((body.checkpointFormat?.count ?? 0) <= 200, "checkpoint_format: must be at most 200 characters")
        try check((body.cpuFeatures?.count ?? 0) <= 1000, "cpu_features: must be at most 1000 characters")
        return .created(.init(body: .json(try await coordinator.register(body))))
    }

    func listWorkers(_ input: Operations.ListWorkers.Input) async throws -> Operations.ListWorkers.Output {
        .ok(.init(body: .json(try coordinator.workers())))
    }

    func leaseTrial(_ input: Operations.LeaseTrial.Input) async throws -> Operations.LeaseTrial.Output {
        guard case .json(let body) = input.body else { throw APIFailure.badRequest("the body must be JSON") }
        try check(!body.workerId.isEmpty && body.workerId.count <= 200, "worker_id: must be 1 to 200 characters")
        if let sweep = body.sweep { try check(!sweep.isEmpty && sweep.count <= 200, "sweep: must be 1 to 200 characters") }
        try check((0...30).contains(body.waitSeconds), "wait_seconds: \(body.waitSeconds) must be from 0 to 30")
        let deadline = ContinuousClock.now + .milliseconds(Int(body.waitSeconds * 1000))
        while true {
            let response = try await coordinator.lease(worker: body.workerId, sweep: body.sweep)
            if response.status != .noWork || ContinuousClock.now >= deadline { return .ok(.init(body: .json(response))) }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func renewLease(_ input: Operations.RenewLease.Input) async throws -> Operations.RenewLease.Output {
        .ok(.init(body: .json(try await coordinator.heartbeat(token: try token(input.path.token)))))
    }

    func reportEpoch(_ input: Operations.ReportEpoch.Input) async throws -> Operations.ReportEpoch.Output {
        guard case .json(let body) = input.body else { throw APIFailure.badRequest("the body must be JSON") }
        try check((1...1_000_000).contains(body.epoch), "epoch: \(body.epoch) must be from 1 to 1000000")
        try check(body.seconds >= 0 && body.seconds <= 1e9, "seconds: \(body.seconds) must be from 0 to 1e9")
        try checkMetric(body.trainLoss, "train_loss")
        try checkMetric(body.valLoss, "val_loss")
        try checkMetric(body.valMae, "val_mae")
        return .ok(.init(body: .json(try await coordinator.report(token: try token(input.path.token), body))))
    }

    func completeTrial(_ input: Operations.CompleteTrial.Input) async throws -> Operations.CompleteTrial.Output {
        guard case .json(let body) = input.body else { throw APIFailure.badRequest("the body must be JSON") }
        try check((1...1_000_000).contains(body.bestEpoch), "best_epoch: \(body.bestEpoch) must be from 1 to 1000000")
        try check((1...1_000_000).contains(body.epochsRun), "epochs_run: \(body.epochsRun) must be from 1 to 1000000")
        try checkMetric(body.testMae, "test_mae")
        if let v = body.valMae { try checkMetric(v, "val_mae") }
        if let v = body.valLoss { try checkMetric(v, "val_loss") }
        return .ok(.init(body: .json(try await coordinator.complete(token: try token(input.path.token), body))))
    }

    /// Streams the checkpoint to a file beside the database, chunk by chunk.
    func uploadCheckpoint(_ input: Operations.UploadCheckpoint.Input) async throws -> Operations.UploadCheckpoint.Output {
        let target = try await coordinator.uploadTarget(token: try token(input.path.token))
        guard case .binary(let body) = input.body else { throw APIFailure.badRequest("the body must be application/octet-stream") }
        // Each request writes its own partial file, so a retry overlapping a stalled first try cannot
        // mix the two; the whole file then replaces any earlier upload in one rename.
        let part = target.deletingLastPathComponent().appendingPathComponent("\(target.lastPathComponent).part-\(UUID().uuidString)")
        try await receive(
            body,
            into: part,
            limit: Int64(checkpointLimit),
            what: "checkpoint",
            option: "--max-checkpoint-bytes",
            file: "safetensors file"
        )
        guard rename(part.path, target.path) == 0 else {
            _ = try? FileManager.default.removeItem(at: part)
            throw APIFailure(.internalServerError, ._internal, "cannot store the checkpoint: \(String(cString: strerror(errno)))")
        }
        // A long upload counts as a sign of life: the lease gets a full length for the completion.
        _ = try await coordinator.heartbeat(token: input.path.token)
        return .noContent(.init())
    }

    func failAttempt(_ input: Operations.FailAttempt.Input) async throws -> Operations.FailAttempt.Output {
        guard case .json(let body) = input.body else { throw APIFailure.badRequest("the body must be JSON") }
        try check(body.error.count <= 100_000, "error: must be at most 100000 characters")
        return .ok(.init(body: .json(try await coordinator.fail(token: try token(input.path.token), body))))
    }

    func releaseLease(_ input: Operations.ReleaseLease.Input) async throws -> Operations.ReleaseLease.Output {
        .ok(.init(body: .json(try await coordinator.release(token: try token(input.path.token)))))
    }

    // MARK: Sweeps

    func listSweeps(_ input: Operations.ListSweeps.Input) async throws -> Operations.ListSweeps.Output {
        .ok(.init(body: .json(try coordinator.sweeps())))
    }

    func createSweep(_ input: Operations.CreateSweep.Input) async throws -> Operations.CreateSweep.Output {
        guard case .json(let body) = input.body else { throw APIFailure.badRequest("the body must be JSON") }
        try check(body.yaml.count <= 1_000_000, "yaml: must be at most 1000000 characters")
        if let sha = body.datasetSha256 { try check(SweepStore.isDatasetHash(sha), "dataset_sha256: must be 64 lowercase hex digits") }
        if let engine = body.engineVersion { try check(!engine.isEmpty && engine.count <= 200, "engine_version: must be 1 to 200 characters") }
        var origin = Coordinator.Origin(datasetSHA256: body.datasetSha256)
        if let engine = body.engineVersion { origin.engineVersion = engine }
        let (name, opening) = try await coordinator.open(yaml: body.yaml, source: "sweep", origin: origin)
        switch opening {
        case .created: return .created(.init(body: .json(try coordinator.summary(named: name))))
        case .resumed: return .ok(.init(body: .json(try coordinator.summary(named: name))))
        }
    }

    func validateSweep(_ input: Operations.ValidateSweep.Input) async throws -> Operations.ValidateSweep.Output {
        guard case .json(let body) = input.body else { throw APIFailure.badRequest("the body must be JSON") }
        try check(body.yaml.count <= 1_000_000, "yaml: must be at most 1000000 characters")
        do {
            _ = try SweepSpec.parse(yaml: body.yaml)
            return .ok(.init(body: .json(.init(ok: true, problems: []))))
        } catch let error as SweepSpecError {
            return .unprocessableContent(.init(body: .json(.init(ok: false, problems: error.problems))))
        }
    }

    func getSweep(_ input: Operations.GetSweep.Input) async throws -> Operations.GetSweep.Output {
        .ok(.init(body: .json(try coordinator.summary(named: try name(input.path.name)))))
    }

    func pauseSweep(_ input: Operations.PauseSweep.Input) async throws -> Operations.PauseSweep.Output {
        .ok(.init(body: .json(try await setState(input.path.name, .paused))))
    }

    func resumeSweep(_ input: Operations.ResumeSweep.Input) async throws -> Operations.ResumeSweep.Output {
        .ok(.init(body: .json(try await setState(input.path.name, .running))))
    }

    func enqueueConfigs(_ input: Operations.EnqueueConfigs.Input) async throws -> Operations.EnqueueConfigs.Output {
        guard case .json(let request) = input.body else { throw APIFailure.badRequest("expected a JSON body") }
        guard (1...1000).contains(request.configs.count) else {
            throw APIFailure.badRequest("configs: give 1 to 1000 configurations (got \(request.configs.count))")
        }
        let result = try await coordinator.enqueue(sweep: input.path.name, configs: request.configs.map(\.values))
        return .ok(.init(body: .json(API.EnqueueResponse(queued: result.queued, duplicates: result.duplicates))))
    }

    func cancelSweep(_ input: Operations.CancelSweep.Input) async throws -> Operations.CancelSweep.Output {
        .ok(.init(body: .json(try await setState(input.path.name, .cancelled))))
    }

    func getLeaderboard(_ input: Operations.GetLeaderboard.Input) async throws -> Operations.GetLeaderboard.Output {
        if let top = input.query.top { try check((1...1_000_000).contains(top), "top: \(top) must be from 1 to 1000000") }
        return .ok(.init(body: .json(try coordinator.leaderboard(sweep: try name(input.path.name), top: input.query.top))))
    }

    func getTrial(_ input: Operations.GetTrial.Input) async throws -> Operations.GetTrial.Output {
        .ok(.init(body: .json(try coordinator.trial(id: try id(input.path.id)))))
    }

    func getCheckpoint(_ input: Operations.GetCheckpoint.Input) async throws -> Operations.GetCheckpoint.Output {
        switch try coordinator.checkpoint(trial: try id(input.path.id)) {
        case .file(let url, let bytes):
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw APIFailure(
                    .notFound,
                    .noCheckpoint,
                    "the checkpoint file \(url.lastPathComponent) is missing from \(url.deletingLastPathComponent().path)"
                )
            }
            let body = HTTPBody(FileChunks(path: url.path), length: .known(bytes), iterationBehavior: .single)
            return .ok(.init(headers: .init(contentLength: Int(bytes)), body: .binary(body)))
        case .inline(let data):
            return .ok(.init(headers: .init(contentLength: data.count), body: .binary(HTTPBody(data))))
        }
    }

    // MARK: Checks the generated code leaves to us

    /// Streams an upload into `part` (fsynced), refusing one over `limit` (413) or empty (400);
    /// returns its size.
    @discardableResult
    func receive(_ body: HTTPBody, into part: URL, limit: Int64, what: String, option: String, file: String) async throws -> Int64 {
        let bytes: Int64
        do { bytes = try await body.write(to: part, limit: limit) } catch is BodyTooLarge {
            throw APIFailure(.contentTooLarge, .bodyTooLarge, "the \(what) is over the coordinator's limit (\(limit) bytes; recur serve \(option))")
        }
        guard bytes > 0 else {
            _ = try? FileManager.default.removeItem(at: part)
            throw APIFailure.badRequest("the \(what) is empty; send the \(file) as the body")
        }
        return bytes
    }

    private func setState(_ name: String, _ state: SweepState) async throws -> API.SweepSummary {
        let name = try self.name(name)
        do {
            _ = try await coordinator.setState(sweep: name, to: state)
        } catch StoreError.conflict(let message) {
            throw APIFailure(.conflict, .sweepFinished, message)
        }
        return try coordinator.summary(named: name)
    }

    private func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        guard condition else { throw APIFailure.badRequest(message()) }
    }

    /// Losses and MAEs are float32 values ≥ 0 from the engine: anything else is not a result, and
    /// a value near Double's limit would make the means of a trial's runs infinite.
    private func checkMetric(_ value: Double, _ field: String) throws {
        try check(value >= 0 && value <= Double(Float.greatestFiniteMagnitude), "\(field): \(value) must be from 0 to 3.4e38 (a float32 loss or MAE)")
    }

    private func token(_ token: String) throws -> String {
        try check(!token.isEmpty && token.count <= 200, "token: must be 1 to 200 characters")
        return token
    }

    private func name(_ name: String) throws -> String {
        try check(!name.isEmpty && name.count <= 200, "name: must be 1 to 200 characters")
        return name
    }

    private func id(_ id: Int64) throws -> Int64 {
        try check(id >= 1, "id: \(id) must be ≥ 1")
        return id
    }
}
