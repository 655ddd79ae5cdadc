import Foundation
import GRDB
import RecurSweep
import Testing

@testable import RecurStore

/// `SweepStore.batch`: many calls, one transaction; a call that throws leaves no trace.
@Suite struct GroupCommitTests {
    @Test func aFailingCallIsRolledBackAloneAndTheOthersCommitTogether() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-group-\(UUID()).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try SweepStore(path: path)
        let (_, trials) = try makeSweep(store, trials: 2)
        _ = try store.lease(trial: trials[0].id!, worker: "w", token: "a", deadline: 100, now: 1)
        _ = try store.lease(trial: trials[1].id!, worker: "w", token: "b", deadline: 100, now: 1)

        var outcomes: [Result<Bool, Error>] = []
        var seenInside = -1
        try store.batch {
            outcomes.append(
                Result {
                    try store.atomically {
                        try store.report(token: "a", metrics: metrics(1), objective: 1, minimize: true, deadline: 100, now: 2).inserted
                    }
                }
            )
            // Writes a metric row, then fails: the row must not survive.
            outcomes.append(
                Result {
                    try store.atomically {
                        _ = try store.report(token: "b", metrics: metrics(1), objective: 1, minimize: true, deadline: 100, now: 2)
                        _ = try store.report(token: "gone", metrics: metrics(2), objective: 1, minimize: true, deadline: 100, now: 2)
                        return true
                    }
                }
            )
            outcomes.append(
                Result {
                    try store.atomically {
                        try store.report(token: "a", metrics: metrics(2), objective: 0.5, minimize: true, deadline: 100, now: 3).inserted
                    }
                }
            )
            // Reads inside the batch see the batch's own uncommitted writes ...
            seenInside = try store.metrics(trial: trials[0].id!).count
            // ... and other connections do not, until COMMIT.
            let reader = try DatabaseQueue(path: path)
            #expect(try reader.read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM epoch_metrics") } == 0)
        }
        #expect(seenInside == 2)
        #expect((try? outcomes[0].get()) == true && (try? outcomes[2].get()) == true)
        #expect(throws: StoreError.notFound(.lease, "unknown lease token")) { try outcomes[1].get() }
        #expect(try store.metrics(trial: trials[0].id!).map(\.epoch) == [1, 2])
        #expect(try store.metrics(trial: trials[1].id!).isEmpty)
        #expect(try store.trial(id: trials[0].id!).bestValMetric == 0.5)
    }

    @Test func aBatchThatThrowsCommitsNothing() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 1)
        _ = try store.lease(trial: trials[0].id!, worker: "w", token: "a", deadline: 100, now: 1)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try store.batch {
                _ = try store.report(token: "a", metrics: metrics(1), objective: 1, minimize: true, deadline: 100, now: 2)
                throw Boom()
            }
        }
        #expect(try store.metrics(trial: trials[0].id!).isEmpty)
    }

    @Test func atomicallyOutsideABatchIsOneTransaction() throws {
        let store = try SweepStore()
        let (_, trials) = try makeSweep(store, trials: 1)
        _ = try store.lease(trial: trials[0].id!, worker: "w", token: "a", deadline: 100, now: 1)
        #expect(throws: StoreError.self) {
            try store.atomically {
                _ = try store.report(token: "a", metrics: metrics(1), objective: 1, minimize: true, deadline: 100, now: 2)
                _ = try store.complete(token: "nope", valMetric: 1, bestEpoch: 1, testMetric: 1, now: 3)
            }
        }
        #expect(try store.metrics(trial: trials[0].id!).isEmpty)
    }
}
