import ArgumentParser
import Foundation
import Logging
import RecurAPI
import RecurCoordinator
import RecurEngine
import RecurForecast
import RecurStore
import RecurSweep
import RecurWorker
import ServiceLifecycle

extension Bench {
    struct CoordinatorBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "coordinator",
            abstract: "Trial lifecycles per second through the real HTTP API, with fake training.",
            discussion: """
                Starts a coordinator on a temporary database (loopback TCP with a token, or a Unix
                socket), creates a sweep of N trials over the Optuna anchor's five parameters (cell,
                depth, dropout, bidirectional, learning rate; TPE by default), and runs K clients that
                each loop lease → E epoch reports → complete with fake training (no pruning, so every
                trial makes E reports). Each client is one keep-alive connection driven from its event
                loop, like a wrk connection; --client worker uses the worker's own HTTP client
                instead. Prints trials/s and p50/p99 latency per call, the error count, and whether
                the database holds exactly N completed trials. Compare with
                ../shared/anchors/optuna_dispatch.py run at the same time (docs/performance.md).

                Example:
                  .build/release/recur bench coordinator --clients 64 --trials 2000 --epochs 10 --json
                """
        )

        @Option(help: "Concurrent clients.") var clients = 64
        @Option(help: "Trials in the sweep.") var trials = 2000
        @Option(help: "Epoch reports per trial.") var epochs = 10
        enum Transport: String, ExpressibleByArgument, CaseIterable { case tcp, unix }
        enum Sampling: String, ExpressibleByArgument, CaseIterable { case random, tpe }
        enum Client: String, ExpressibleByArgument, CaseIterable { case lean, worker }

        @Option(help: "Transport.") var transport = Transport.tcp
        @Option(help: "Sampler (Optuna's anchor uses TPE).") var sampler = Sampling.tpe
        @Option(help: "lean (one keep-alive connection per client, like wrk) or worker (the worker's HTTP client).") var client = Client.lean
        @Flag(help: "One JSON object (the anchors' dispatch format).") var json = false
        @Option(help: "Keep the database at this path (e.g. to time `recur leaderboard bench --db PATH` at 10k trials).") var db: String?

        func validate() throws {
            guard clients >= 1, trials >= 1, epochs >= 1 else { throw ValidationError("--clients, --trials and --epochs must be ≥ 1") }
            if let db, FileManager.default.fileExists(atPath: db) {
                throw ValidationError("--db \(db): already exists; give a new path (the bench writes a fresh database there)")
            }
        }

        func run() async throws {
            var logger = Logger(label: "recur.bench")
            logger.logLevel = .error
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-bench-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            var csv = "timestamp,y,x\n"
            for i in 0..<400 { csv += "\(978_307_200 + i * 3600),\(sin(Double(i) / 5)),\(cos(Double(i) / 7))\n" }
            try Data(csv.utf8).write(to: dir.appendingPathComponent("d.csv"))
            let store = try SweepStore(path: db ?? dir.appendingPathComponent("bench.db").path)
            let coordinator = try Coordinator(store: store, leaseSeconds: 60, datasetDirectory: dir, logger: logger)
            _ = try await coordinator.createSweep(
                yaml: """
                    name: bench
                    task: {dataset: d.csv, target: y, sequence_length: 8, horizon: 1}
                    search: {method: \(sampler.rawValue), seed: 1, max_trials: \(trials), max_parallel: \(clients)}
                    space:
                      cell: {choice: [simple_rnn, lstm, gru]}
                      depth: {int: [1, 3]}
                      dropout: {float: [0.0, 0.5]}
                      bidirectional: {choice: [false, true]}
                      learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
                    training: {epochs: \(epochs)}
                    """
            )
            let token = "bench-token"
            let listener: Listener = transport == .tcp ? .tcp(host: "127.0.0.1", port: 0) : .unix(path: dir.appendingPathComponent("b.sock").path)
            let (stream, continuation) = AsyncStream<Listener>.makeStream()
            let access = AccessControl(adminToken: token, store: coordinator.store)
            let services = try makeCoordinatorServices(coordinator: coordinator, listeners: [listener], access: access, logger: logger) {
                continuation.yield($0)
            }
            let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
            let server = Task { try await group.run() }
            var iterator = stream.makeAsyncIterator()
            guard let bound = await iterator.next(), let address = CoordinatorAddress(bound.description) else {
                throw CLIError("the coordinator did not start")
            }
            let workerClient = try CoordinatorClient(address: address, token: token, logger: logger, maxConnections: clients)
            let started = ContinuousClock.now
            let results = try await withThrowingTaskGroup(of: LoadStats.self) { tasks in
                for _ in 0..<clients {
                    tasks.addTask {
                        client == .worker
                            ? await runWorkerClient(workerClient)
                            : try await LoadClient.run(listener: bound, token: transport == .tcp ? token : nil, epochs: epochs)
                    }
                }
                var all = LoadStats()
                for try await s in tasks { all.merge(s) }
                return all
            }
            let elapsed = ContinuousClock.now - started
            let seconds = elapsed.seconds
            await workerClient.shutdown()
            await group.triggerGracefulShutdown()
            _ = try? await server.value
            let summary = try coordinator.summary(named: "bench")
            let counters = await coordinator.counters
            let callsPerCommit = Double(counters.groupedCalls) / Double(max(1, counters.groupCommits))
            let integrity = summary.completed == trials && results.completed == trials
            let rate = Double(results.completed) / seconds
            func q(_ xs: [Double], _ p: Double) -> Double { xs.isEmpty ? 0 : xs.sorted()[min(xs.count - 1, Int(Double(xs.count) * p))] * 1000 }
            if json {
                let object: [String: Any] = [
                    "script": "recur_bench_coordinator",
                    "results": [
                        [
                            "storage": "recur-sqlite-wal", "sampler": sampler.rawValue, "workers": clients, "transport": transport.rawValue,
                            "client": client.rawValue,
                            "epochs": epochs,
                            "trials": trials, "trials_per_s": (rate * 10).rounded() / 10, "wall_s": seconds,
                            "latency_ms": [
                                "ask": ["p50": q(results.lease, 0.5), "p99": q(results.lease, 0.99)],
                                "report": ["p50": q(results.report, 0.5), "p99": q(results.report, 0.99)],
                                "tell": ["p50": q(results.complete, 0.5), "p99": q(results.complete, 0.99)],
                            ],
                            "errors_total": results.errors, "integrity_ok": integrity, "calls_per_commit": (callsPerCommit * 10).rounded() / 10,
                        ] as [String: Any]
                    ],
                ]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print(
                    "\(clients) \(client.rawValue) clients, \(sampler.rawValue), \(trials) trials × \(epochs) reports over \(transport.rawValue): \(String(format: "%.1f", rate)) trials/s in \(String(format: "%.1f", seconds)) s"
                )
                print(String(format: "lease    p50 %7.2f ms  p99 %7.2f ms", q(results.lease, 0.5), q(results.lease, 0.99)))
                print(String(format: "report   p50 %7.2f ms  p99 %7.2f ms", q(results.report, 0.5), q(results.report, 0.99)))
                print(String(format: "complete p50 %7.2f ms  p99 %7.2f ms", q(results.complete, 0.5), q(results.complete, 0.99)))
                print(
                    "errors: \(results.errors); database: \(summary.completed) completed of \(trials) (\(integrity ? "ok" : "MISMATCH")); \(String(format: "%.1f", callsPerCommit)) calls per commit"
                )
            }
            if let first = results.firstError { FileHandle.standardError.write(Data("first error: \(first)\n".utf8)) }
            if !integrity || results.errors > 0 { throw ExitCode(1) }
        }

        /// The same lifecycle through the worker's own HTTP client (AsyncHTTPClient), for comparison.
        func runWorkerClient(_ client: CoordinatorClient) async -> LoadStats {
            var stats = LoadStats()
            let clock = ContinuousClock()
            func timed<T>(_ into: inout [Double], _ body: () async throws -> T) async throws -> T {
                let start = clock.now
                let value = try await body()
                into.append((clock.now - start).seconds)
                return value
            }
            do {
                let worker = try await client.register(
                    API.RegisterRequest(host: "bench", slots: 1, version: "bench", engineVersion: BuildInfo.engineVersion)
                )
                while true {
                    let response = try await timed(&stats.lease) {
                        try await client.lease(API.LeaseRequest(workerId: worker.workerId, sweep: nil, waitSeconds: 1))
                    }
                    if response.status == .done { break }
                    guard let lease = response.lease else { continue }
                    for epoch in 1...epochs {
                        let e = Double(epoch)
                        let report = API.EpochReport(epoch: epoch, trainLoss: 1.0 / e, valLoss: 1.0 / e, valMae: 2.0 / e, seconds: 0.01)
                        _ = try await timed(&stats.report) { try await client.report(token: lease.token, report) }
                    }
                    let e = Double(epochs)
                    let done = API.CompleteRequest(
                        valMae: 2.0 / e,
                        valLoss: 1.0 / e,
                        testMae: 2.5 / e,
                        bestEpoch: epochs,
                        epochsRun: epochs
                    )
                    _ = try await timed(&stats.complete) { try await client.complete(token: lease.token, done) }
                    stats.completed += 1
                }
            } catch {
                stats.errors += 1
                stats.firstError = "\(error)"
            }
            return stats
        }
    }
}
