import Foundation
import GRDB

/// Checkpoints live in files beside the database (`<db>.checkpoints/`), so they travel as
/// streams: an upload is written to `uploads/attempt-<id>.safetensors` in chunks while its lease
/// runs, and the completion of that lease moves it to `trial-<id>.safetensors` and records it.
/// Rows from before migration 0004 keep their bytes inline.
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

    /// Where an upload for `attempt` is written; its directory exists once this returns.
    public func uploadFile(attempt: Int64) throws -> URL {
        let uploads = checkpointDirectory.appendingPathComponent("uploads", isDirectory: true)
        try FileManager.default.createDirectory(at: uploads, withIntermediateDirectories: true)
        return uploads.appendingPathComponent("attempt-\(attempt).safetensors")
    }

    /// Moves a finished upload to its trial's file; called inside the completion's transaction,
    /// so a completion that does not commit leaves at worst an unreferenced file.
    func adoptUpload(_ db: Database, attempt: AttemptRecord, now: Double) throws {
        let upload = checkpointDirectory.appendingPathComponent("uploads/attempt-\(attempt.id!).safetensors")
        guard FileManager.default.fileExists(atPath: upload.path) else { return }
        let name = "trial-\(attempt.trialId).safetensors"
        let target = checkpointDirectory.appendingPathComponent(name)
        _ = try? FileManager.default.removeItem(at: target)
        try FileManager.default.moveItem(at: upload, to: target)
        let bytes = (try FileManager.default.attributesOfItem(atPath: target.path)[.size] as? NSNumber)?.int64Value ?? 0
        try db.execute(
            sql: "INSERT OR REPLACE INTO checkpoints (trial_id, attempt_id, data, file, bytes, created_at) VALUES (?, ?, X'', ?, ?, ?)",
            arguments: [attempt.trialId, attempt.id, name, bytes, now]
        )
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
