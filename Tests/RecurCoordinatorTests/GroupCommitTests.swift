import Foundation
import RecurAPI
import RecurEngine
import RecurStore
import RecurSweep
import Testing

@testable import RecurCoordinator

/// Worker calls that arrive together share one commit, and each still gets its own answer.
@Suite struct CoordinatorGroupCommitTests {
    @Test func concurrentCallsAreCommittedInGroupsWithTheirOwnOutcomes() async throws {
        let coordinator = try Coordinator(store: SweepStore(), leaseSeconds: 30, datasetDirectory: RouterTests.root)
        // Ten epochs per run: a report beyond the run's epochs is refused.
        _ = try await coordinator.createSweep(
            yaml: RouterTests.sweepYAML.replacingOccurrences(of: "training: {epochs: 2}", with: "training: {epochs: 10}")
        )
        let worker = try await coordinator.register(API.RegisterRequest(host: "h", slots: 2, version: "t", engineVersion: BuildInfo.engineVersion))
        let a = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)
        let b = try #require(try await coordinator.lease(worker: worker.workerId, sweep: nil).lease)

        // 2 leases × 10 epochs, each epoch sent twice, plus 5 calls with a token that never existed.
        let outcomes = await withTaskGroup(of: (String, Int, String).self) { group in
            for token in [a.token, b.token, a.token, b.token] {
                for epoch in 1...10 {
                    group.addTask {
                        let report = API.EpochReport(epoch: epoch, trainLoss: 1, valLoss: 1, valMae: 10 - Double(epoch) * 0.5, seconds: 0.1)
                        do { return (token, epoch, try await coordinator.report(token: token, report).action.rawValue) } catch {
                            return (token, epoch, "error: \(error)")
                        }
                    }
                }
            }
            for epoch in 1...5 {
                group.addTask {
                    do {
                        return (
                            "stale", epoch,
                            try await coordinator.report(
                                token: "stale",
                                API.EpochReport(epoch: epoch, trainLoss: 1, valLoss: 1, valMae: 1, seconds: 0.1)
                            ).action.rawValue
                        )
                    } catch {
                        return ("stale", epoch, "\(error)")
                    }
                }
            }
            var all: [(String, Int, String)] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.filter { $0.0 != "stale" }.allSatisfy { $0.2 == "continue" })
        #expect(outcomes.filter { $0.0 == "stale" }.allSatisfy { $0.2.contains("unknown lease token") })
        for lease in [a, b] {
            let rows = try coordinator.store.metrics(trial: lease.trialId)
            #expect(rows.map(\.epoch) == Array(1...10))
            #expect(try coordinator.store.trial(id: lease.trialId).bestValMetric == 5)
        }
        let counters = await coordinator.counters
        #expect(counters.reports == 40 && counters.duplicateReports == 20 && counters.staleCalls == 5)
        // Every call was answered after a commit that carried it.
        #expect(counters.groupedCalls == 1 + 2 + 45)
        #expect(counters.groupCommits < counters.groupedCalls, "45 concurrent calls, yet no commit carried more than one")
    }
}
