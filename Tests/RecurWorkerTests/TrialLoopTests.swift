import Foundation
import Logging
import OpenAPIRuntime
import RecurAPI
import RecurEngine
import RecurForecast
import RecurSweep
import Synchronization
import Testing

@testable import RecurWorker

/// A coordinator the test scripts: each call is recorded, and answers come from closures.
final class FakeCoordinator: CoordinatorService, Sendable {
    let address = CoordinatorAddress("unix:/fake")!
    let calls = Mutex<[String]>([])
    let onReport: @Sendable (API.EpochReport, Int) throws -> API.ReportAction
    let onComplete: @Sendable (API.CompleteRequest, Int) throws -> Void
    let onUpload: @Sendable (Data) throws -> Void
    /// Answers to `lease`, in order; `.done` once they run out.
    let leaseAnswers = Mutex<[Result<API.LeaseResponse, CoordinatorCallError>]>([])
    let registrations = Mutex<[API.RegisterRequest]>([])
    /// Called on every lease request.
    let onLease: @Sendable () -> Void
    /// When set, `register` fails as if the coordinator could not be reached.
    let registerUnreachable = Mutex(false)
    let reportTries = Mutex(0)
    let completeTries = Mutex(0)

    init(
        onReport: @escaping @Sendable (API.EpochReport, Int) throws -> API.ReportAction = { _, _ in ._continue },
        onComplete: @escaping @Sendable (API.CompleteRequest, Int) throws -> Void = { _, _ in },
        onUpload: @escaping @Sendable (Data) throws -> Void = { _ in },
        onLease: @escaping @Sendable () -> Void = {}
    ) {
        self.onLease = onLease
        self.onReport = onReport
        self.onComplete = onComplete
        self.onUpload = onUpload
    }

    func record(_ call: String) { calls.withLock { $0.append(call) } }
    var log: [String] { calls.withLock { $0 } }

    func register(_ request: API.RegisterRequest) async throws -> API.RegisterResponse {
        record("register")
        if registerUnreachable.withLock({ $0 }) { throw CoordinatorCallError.unreachable("connection refused") }
        registrations.withLock { $0.append(request) }
        return .init(workerId: "w", leaseSeconds: 30)
    }
    func lease(_ request: API.LeaseRequest) async throws -> API.LeaseResponse {
        record("lease")
        onLease()
        let next = leaseAnswers.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        return try next?.get() ?? .init(status: .done)
    }
    func heartbeat(token: String) async throws -> API.DeadlineResponse { .init(deadline: 0) }
    func report(token: String, _ report: API.EpochReport) async throws -> API.ReportResponse {
        let attempt = reportTries.withLock {
            $0 += 1
            return $0
        }
        let action = try onReport(report, attempt)
        record("report \(report.epoch)")
        return .init(action: action, deadline: 0)
    }
    func complete(token: String, _ request: API.CompleteRequest) async throws -> API.TrialStateResponse {
        let attempt = completeTries.withLock {
            $0 += 1
            return $0
        }
        try onComplete(request, attempt)
        record("complete")
        return .init(trialId: 1, state: .completed)
    }
    func uploadCheckpoint(token: String, file: URL) async throws {
        let data = try Data(contentsOf: file)
        try onUpload(data)
        record((try? Checkpoint.decode(data)) != nil ? "upload" : "upload of an unreadable checkpoint")
    }
    func fail(token: String, _ request: API.FailRequest) async throws -> API.TrialStateResponse {
        record("fail \(request.kind?.rawValue ?? "error") retryable=\(request.retryable)")
        return .init(trialId: 1, state: .pending)
    }
    func release(token: String) async throws -> API.TrialStateResponse {
        record("release")
        return .init(trialId: 1, state: .pending)
    }

    /// Datasets served by hash; each call is recorded with the offset it resumed from.
    let datasets = Mutex<[String: Data]>([:])
    /// Bytes after which the next download breaks (a cut connection), once.
    let cutAfter = Mutex<Int?>(nil)
    /// Serve other bytes than the hash says, this many times.
    let corruptServes = Mutex(0)
    func downloadDataset(sha256: String, to file: URL) async throws {
        let have = ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? NSNumber)?.intValue ?? 0
        record("download from \(have)")
        guard var data = datasets.withLock({ $0[sha256] }) else { throw CoordinatorCallError.status(404, .unknownDataset, "no dataset") }
        if have > 0 && have >= data.count { throw CoordinatorCallError.status(416, .rangeNotSatisfiable, "the range starts past the end") }
        if corruptServes.withLock({ n in
            defer { n = max(0, n - 1) }
            return n > 0
        }) {
            data = Data(repeating: 0x41, count: data.count)
        }
        let rest = data.suffix(from: min(have, data.count))
        if let cut = cutAfter.withLock({ c in
            defer { c = nil }
            return c
        }) {
            try append(rest.prefix(cut), to: file)
            throw CoordinatorCallError.unreachable("connection reset")
        }
        try append(rest, to: file)
    }

    private func append(_ data: Data, to file: URL) throws {
        if !FileManager.default.fileExists(atPath: file.path) { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: file)
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
        try handle.close()
    }
}

/// The worker's trial loop against a fake coordinator: what it does on 409, 413, prune, shutdown
/// and an unreachable coordinator, with real (tiny) training in between.
@Suite struct TrialLoopTests {
    /// A 600-row hourly series with a daily cycle, written once.
    static let dataset: String = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-worker-tests-\(getpid()).csv")
        var csv = "timestamp,load,temp\n"
        for i in 0..<600 {
            let t = Timestamp.format(978_307_200 + Int64(i) * 3600)
            csv += "\(t),\(50 + 10 * sin(Double(i) * 2 * .pi / 24)),\(10 + 5 * cos(Double(i) * 2 * .pi / 24))\n"
        }
        try! Data(csv.utf8).write(to: url)
        return url.path
    }()

    static func lease(epochs: Int = 4, learningRate: Float? = nil) -> API.Lease {
        var task = TaskSpec(dataset: dataset, target: "load")
        task.sequenceLength = 12
        task.horizon = 3
        var training = TrainingSettings()
        training.epochs = epochs
        training.batchSize = 32
        training.earlyStopping = nil
        if let learningRate { training.optimizer = OptimizerConfig(kind: .sgd, learningRate: learningRate) }
        let model = ModelSpec(inputFeatures: 2, layers: [.recurrent(RecurrentSpec(cell: .gru, units: 4)), .dense(units: 1)])
        return API.Lease(
            token: "t",
            deadline: 0,
            leaseSeconds: 30,
            sweep: "s",
            trialId: 1,
            trialNumber: 0,
            attempt: 1,
            config: TrialConfig([:]),
            task: task,
            model: model,
            training: training,
            objective: .valMae,
            run: API.RunInfo(number: 1, kind: .scoring, fold: nil, folds: 1, seedIndex: 0, confirmation: false)
        )
    }

    static func worker(_ fake: FakeCoordinator) -> Worker {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return Worker(client: fake, options: Worker.Options(), logger: logger)
    }

    @Test func aTrialReportsEveryEpochInOrderThenCompletes() async {
        let fake = FakeCoordinator()
        await Self.worker(fake).runTrial(Self.lease(), slot: 0)
        #expect(fake.log == ["report 1", "report 2", "report 3", "report 4", "upload", "complete"])
    }

    /// Reports that cannot be delivered are retried, in order, while training goes on.
    @Test func reportsAreRetriedInOrderWhileTheCoordinatorIsUnreachable() async {
        let fake = FakeCoordinator(onReport: { _, attempt in
            if attempt <= 3 { throw CoordinatorCallError.unreachable("connection refused") }
            return ._continue
        })
        await Self.worker(fake).runTrial(Self.lease(), slot: 0)
        #expect(fake.log == ["report 1", "report 2", "report 3", "report 4", "upload", "complete"])
        #expect(fake.reportTries.withLock { $0 } == 7)
    }

    /// 409: the lease is gone (another worker may hold the trial now), so nothing more is sent.
    @Test func aLostLeaseStopsTheTrialWithoutCompleting() async {
        let fake = FakeCoordinator(onReport: { report, _ in
            if report.epoch == 2 { throw CoordinatorCallError.status(409, .leaseGone, "the lease is lost") }
            return ._continue
        })
        await Self.worker(fake).runTrial(Self.lease(epochs: 6), slot: 0)
        #expect(fake.log == ["report 1"])
    }

    @Test func aPruneStopsTrainingAndSendsNothingMore() async {
        let fake = FakeCoordinator(onReport: { report, _ in report.epoch == 2 ? .prune : ._continue })
        await Self.worker(fake).runTrial(Self.lease(epochs: 6), slot: 0)
        #expect(fake.log == ["report 1", "report 2"])
    }

    /// 413: the coordinator will not take the checkpoint; the metrics still arrive.
    @Test func aCheckpointRefusedAsTooLargeIsDroppedAndTheTrialCompletes() async {
        let fake = FakeCoordinator(onUpload: { _ in throw CoordinatorCallError.status(413, .bodyTooLarge, "over the limit") })
        await Self.worker(fake).runTrial(Self.lease(epochs: 2), slot: 0)
        #expect(fake.log == ["report 1", "report 2", "complete"])
    }

    /// An upload that keeps failing is given up after a few tries; the metrics still arrive.
    @Test func anUndeliverableCheckpointIsDroppedAndTheTrialCompletes() async {
        let fake = FakeCoordinator(onUpload: { _ in throw CoordinatorCallError.unreachable("connection reset") })
        await Self.worker(fake).runTrial(Self.lease(epochs: 2), slot: 0)
        #expect(fake.log == ["report 1", "report 2", "complete"])
    }

    /// SIGTERM (a shutdown request) during a trial: the epoch is abandoned at the next batch, so
    /// nothing more is reported, and the lease is released, which costs the trial no retry.
    @Test func shutdownReleasesTheLease() async {
        let fake = FakeCoordinator()
        let worker = Self.worker(fake)
        worker.requestShutdown()
        await worker.runTrial(Self.lease(epochs: 50), slot: 0)
        #expect(fake.log == ["release"])
    }

    /// A shutdown during the trial's last epoch finishes it: the result is completed, not lost.
    @Test func shutdownInTheLastEpochCompletesTheTrial() async {
        let fake = FakeCoordinator()
        let worker = Self.worker(fake)
        worker.requestShutdown()
        await worker.runTrial(Self.lease(epochs: 1), slot: 0)
        #expect(fake.log == ["report 1", "upload", "complete"])
    }

    /// A diverged run is reported as such (not retryable), by the error's type, not its text.
    @Test func divergenceIsReportedAsNotRetryable() async {
        let fake = FakeCoordinator()
        await Self.worker(fake).runTrial(Self.lease(epochs: 3, learningRate: 1e30), slot: 0)
        #expect(fake.log.last == "fail diverged retryable=false", "\(fake.log)")
    }

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// A worker registers what it runs: release, engine, checkpoint format and CPU features.
    @Test func registrationSaysWhichEngineRuns() async throws {
        let fake = FakeCoordinator()
        var options = Worker.Options()
        options.exitWhenDone = true
        try await Worker(client: fake, options: options, logger: Self.quiet).run()
        let sent = try #require(fake.registrations.withLock { $0.first })
        #expect(sent.engineVersion == BuildInfo.engineVersion && sent.checkpointFormat == BuildInfo.checkpointFormat)
        #expect(sent.cpuFeatures == BuildInfo.cpuFeatures && sent.cpuFeatures?.isEmpty == false)
    }

    /// Told that the sweep it was started for pins another engine (409 `engine_mismatch`), a
    /// worker leases nothing more and stops with the coordinator's message, which names the version.
    @Test func aWorkerForASweepPinnedToAnotherEngineStops() async throws {
        let fake = FakeCoordinator()
        let message = "sweep s pins engine 9.9.9 and this worker has 0.2.0; install recur with engine 9.9.9 on this worker"
        fake.leaseAnswers.withLock { $0 = [.failure(.status(409, .engineMismatch, message))] }
        var options = Worker.Options()
        options.sweep = "s"
        let worker = Worker(client: fake, options: options, logger: Self.quiet)
        try await worker.run()
        #expect(worker.failureReason == message)
        #expect(fake.log == ["register", "lease"])
    }

    /// With `--give-up-after`, a worker whose coordinator stays unreachable stops with a reason
    /// naming the option, whether it was asking for work or registering (without it, it retries
    /// for ever, as the outage tests show). The limit is one second; nothing here is timed.
    @Test(.timeLimit(.minutes(1))) func aWorkerGivesUpOnAnUnreachableCoordinatorWhenAsked() async throws {
        var options = Worker.Options()
        options.giveUpAfter = 1
        let waiting = FakeCoordinator()
        waiting.leaseAnswers.withLock { $0 = Array(repeating: .failure(.unreachable("connection refused")), count: 100_000) }
        let worker = Worker(client: waiting, options: options, logger: Self.quiet)
        try await worker.run()
        #expect(
            worker.failureReason?.hasPrefix("gave up after 1 s without an answer from the coordinator (--give-up-after)") == true,
            "\(worker.failureReason ?? "nil")"
        )
        #expect(waiting.log.filter { $0 == "lease" }.count > 1, "it retried before giving up")

        let registering = FakeCoordinator()
        registering.registerUnreachable.withLock { $0 = true }
        let unregistered = Worker(client: registering, options: options, logger: Self.quiet)
        try await unregistered.run()
        #expect(unregistered.failureReason?.hasPrefix("gave up after 1 s without an answer from the coordinator (--give-up-after)") == true)
    }

    /// An idle slot's give-up does not stop a slot that trains: its trial goes on (the
    /// coordinator keeps leases through an outage), and the worker stops once no slot trains.
    /// The trial is long (100,000 epochs) and is pruned only after the idle slot has asked for
    /// work ten times, i.e. after its first one-second limit ran out; stopping the worker then
    /// would abandon the trial and release it.
    @Test(.timeLimit(.minutes(1))) func aGiveUpWaitsForTheTrialsInHand() async throws {
        let leases = Mutex(0)
        let fake = FakeCoordinator(
            onReport: { _, _ in leases.withLock { $0 } >= 10 ? .prune : ._continue },
            onLease: { leases.withLock { $0 += 1 } }
        )
        fake.leaseAnswers.withLock {
            $0 =
                [.success(API.LeaseResponse(status: .leased, lease: Self.lease(epochs: 100_000)))]
                + Array(repeating: .failure(.unreachable("connection refused")), count: 100_000)
        }
        var options = Worker.Options()
        options.slots = 2
        options.giveUpAfter = 1
        let worker = Worker(client: fake, options: options, logger: Self.quiet)
        try await worker.run()
        #expect(!fake.log.contains("release") && fake.log.contains { $0.hasPrefix("report") }, "\(fake.log.filter { $0 != "lease" }.prefix(5))")
        #expect(worker.failureReason?.hasPrefix("gave up after 1 s") == true)
    }

    /// Sweeps skipped for their engine are logged once each, and leasing goes on for the others.
    @Test func skippedSweepsAreReportedAndLeasingGoesOn() async throws {
        let fake = FakeCoordinator()
        let skipped = API.LeaseResponse(status: .noWork, incompatible: [.init(sweep: "old", engineVersion: "0.1.0")])
        fake.leaseAnswers.withLock { $0 = [.success(skipped), .success(skipped)] }
        var options = Worker.Options()
        options.exitWhenDone = true
        let worker = Worker(client: fake, options: options, logger: Self.quiet)
        try await worker.run()
        #expect(worker.failureReason == nil && worker.incompatibleLogged.withLock { $0 } == ["old"])
        #expect(fake.log == ["register", "lease", "lease", "lease"])
    }
}
