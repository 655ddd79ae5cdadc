import Foundation
import GRDB

/// Checkpoints live in files beside the database (`<db>.checkpoints/`), so they travel as
/// streams. An upload is written in chunks to `attempt-<id>.safetensors` while its lease runs;
/// the completion of that lease records the file in its transaction (nothing moves, so a
/// completion that does not commit and is retried finds it again). Files of attempts that end
/// otherwise are removed, and at start-up every file no running attempt or stored checkpoint
/// refers to. Rows from before migration 0004 keep their bytes inline.
extension SweepStore {
    /// A trial's stored checkpoint.
    public enum StoredCheckpoint: Sendable, Equatable {
        /// A file of `bytes` bytes (stream it).
        case file(URL, bytes: Int64)
        /// Bytes stored in the database before checkpoints moved to files.
        case inline(Data)
    }

    /// Where this database keeps its checkpoint files: `<db>.checkpoints/` beside a database file,
    /// a directory of its own under the temporary directory for an in-memory one.
    public var checkpointDirectory: URL {
        let path = writer.path
        if path.isEmpty || path == ":memory:" || path.hasPrefix("file::memory:") {
            return FileManager.default.temporaryDirectory.appendingPathComponent("recur-memory-\(ObjectIdentifier(self).hashValue).checkpoints")
        }
        return URL(fileURLWithPath: path + ".checkpoints", isDirectory: true)
    }

    static func fileName(attempt: Int64) -> String { "attempt-\(attempt).safetensors" }

    /// Where the checkpoint of `attempt` is written; its directory exists once this returns.
    public func uploadFile(attempt: Int64) throws -> URL {
        try FileManager.default.createDirectory(at: checkpointDirectory, withIntermediateDirectories: true)
        return checkpointDirectory.appendingPathComponent(Self.fileName(attempt: attempt))
    }

    /// Records the attempt's uploaded checkpoint as its trial's; called inside the completion's
    /// transaction. No upload, no checkpoint.
    func adoptUpload(_ db: Database, attempt: AttemptRecord, now: Double) throws {
        let name = Self.fileName(attempt: attempt.id!)
        let path = checkpointDirectory.appendingPathComponent(name).path
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber else { return }
        try db.execute(
            sql: "INSERT OR REPLACE INTO checkpoints (trial_id, attempt_id, data, file, bytes, created_at) VALUES (?, ?, X'', ?, ?, ?)",
            arguments: [attempt.trialId, attempt.id, name, size.int64Value, now]
        )
    }

    /// Removes the upload of an attempt that ended without completing (failed, pruned, released,
    /// lost): nothing will ever refer to it.
    public func discardUpload(attempt: Int64) {
        _ = try? FileManager.default.removeItem(at: checkpointDirectory.appendingPathComponent(Self.fileName(attempt: attempt)))
    }

    /// At start-up: removes partial uploads and every checkpoint file that neither a running
    /// attempt nor a stored checkpoint refers to (an attempt that ended while the coordinator was
    /// down, a database deleted beside a kept directory). Returns how many files went.
    @discardableResult
    public func removeStaleCheckpointFiles() throws -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory.path) else { return 0 }
        let keep = try read { db -> Set<String> in
            let running = try Int64.fetchAll(db, sql: "SELECT id FROM attempts WHERE state = 'running'").map(Self.fileName(attempt:))
            let stored = try String.fetchAll(db, sql: "SELECT file FROM checkpoints WHERE file IS NOT NULL")
            return Set(running + stored)
        }
        var removed = 0
        for name in names where name.hasPrefix("attempt-") && !keep.contains(name) {
            if (try? FileManager.default.removeItem(at: checkpointDirectory.appendingPathComponent(name))) != nil { removed += 1 }
        }
        return removed
    }

    /// The trial's checkpoint, or why there is none.
    public func checkpoint(trial: Int64) throws -> StoredCheckpoint {
        try read { db in
            if let row = try Row.fetchOne(db, sql: "SELECT data, file, bytes FROM checkpoints WHERE trial_id = ?", arguments: [trial]) {
                if let name: String = row["file"] {
                    return .file(checkpointDirectory.appendingPathComponent(name), bytes: row["bytes"] ?? 0)
                }
                return .inline(row["data"])
            }
            guard let state = try String.fetchOne(db, sql: "SELECT state FROM trials WHERE id = ?", arguments: [trial]) else {
                throw StoreError.notFound(.trial, "no trial with id \(trial)")
            }
            if state == TrialState.completed.rawValue {
                throw StoreError.notFound(
                    .checkpoint,
                    "trial \(trial) completed without a checkpoint (it was over the coordinator's --max-checkpoint-bytes)"
                )
            }
            throw StoreError.notFound(.checkpoint, "trial \(trial) has no checkpoint (it is \(state), not completed)")
        }
    }

    /// The checkpoint's bytes, read whole (tests and small checkpoints; stream files otherwise).
    public func checkpointData(trial: Int64) throws -> Data {
        switch try checkpoint(trial: trial) {
        case .inline(let data): return data
        case .file(let url, _): return try Data(contentsOf: url)
        }
    }
}
