import Foundation
import RecurStore

/// Group commit. Worker calls (lease, report, complete, …) do not commit one by one: each call
/// queues its work, and one drain runs everything queued so far in a single SQLite transaction,
/// each call in its own savepoint, then answers every call after COMMIT. Under load a commit
/// carries dozens of calls (one WAL append and one lock round instead of dozens); alone, a call
/// waits for one actor hop. A call is answered only once its effects are committed, so what a
/// worker was told is never lost.
extension Coordinator {
    /// A call waiting for the next commit.
    final class QueuedWrite {
        let run: () -> Void
        let finish: (Error?) -> Void
        init(run: @escaping () -> Void, finish: @escaping (Error?) -> Void) {
            self.run = run
            self.finish = finish
        }
    }

    /// Runs `body` (actor state and store calls) in the next group commit and returns its result
    /// once that commit is durable. A `body` that throws is rolled back alone.
    func grouped<T: Sendable>(_ body: @escaping () throws -> T) async throws -> T {
        let store = self.store
        return try await withCheckedThrowingContinuation { continuation in
            var outcome: Result<T, Error> = .failure(CancellationError())
            queuedWrites.append(
                QueuedWrite(
                    run: { outcome = Result { try store.atomically(body) } },
                    finish: { error in continuation.resume(with: error.map { .failure($0) } ?? outcome) }
                )
            )
            if !drainScheduled {
                drainScheduled = true
                Task { self.drainWrites() }
            }
        }
    }

    /// Runs every queued call in one transaction and answers them.
    func drainWrites() {
        drainScheduled = false
        let calls = queuedWrites
        queuedWrites = []
        guard !calls.isEmpty else { return }
        do {
            try store.batch { for call in calls { call.run() } }
        } catch {
            // Nothing of this group is committed, but its calls changed the in-memory state:
            // rebuild that from the database, which holds only committed state.
            logger.error("group commit failed; reloading sweeps from the database", metadata: ["error": "\(error)", "calls": "\(calls.count)"])
            for call in calls { call.finish(error) }
            reloadFromStore()
            return
        }
        counters.groupCommits += 1
        counters.groupedCalls += calls.count
        for call in calls { call.finish(nil) }
    }

    /// Rebuilds samplers, pruners, queues and lease lookups from the database alone.
    func reloadFromStore() {
        leases = [:]
        runtimes = [:]
        do {
            runtimes = try Coordinator.restoreActiveSweeps(store: store)
        } catch {
            logger.critical("cannot reload sweeps from the database", metadata: ["error": "\(error)"])
        }
    }
}
