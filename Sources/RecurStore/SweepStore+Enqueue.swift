import Foundation
import GRDB
import RecurSweep

extension SweepStore {
    /// Queues configurations for a sweep, skipping those it already has as trials or queued;
    /// returns the ones added, in order.
    public func enqueue(sweep id: Int64, _ configs: [TrialConfig], now: Double) throws -> [TrialConfig] {
        try write { db in
            var added: [TrialConfig] = []
            for config in configs {
                let json = config.canonicalJSON
                let hash = TrialConfig.hash(canonicalJSON: json)
                let exists =
                    try Bool.fetchOne(
                        db,
                        sql: """
                            SELECT EXISTS (SELECT 1 FROM trials WHERE sweep_id = ?1 AND config_hash = ?2)
                                OR EXISTS (SELECT 1 FROM enqueued WHERE sweep_id = ?1 AND config_hash = ?2)
                            """,
                        arguments: [id, hash]
                    ) ?? false
                if exists { continue }
                try db.execute(
                    sql: "INSERT INTO enqueued (sweep_id, config_json, config_hash, created_at) VALUES (?, ?, ?, ?)",
                    arguments: [id, json, hash, now]
                )
                added.append(config)
            }
            if !added.isEmpty { try SweepStore.event(db, "enqueued", sweep: id, detail: ["configs": added.count], now: now) }
            return added
        }
    }

    /// The sweep's queued configurations, oldest first.
    public func enqueued(sweep id: Int64) throws -> [TrialConfig] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT config_json FROM enqueued WHERE sweep_id = ? ORDER BY id", arguments: [id]).map {
                try TrialConfig.decode(json: $0)
            }
        }
    }

    /// A queued configuration became a trial.
    public func dequeue(sweep id: Int64, hash: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM enqueued WHERE sweep_id = ? AND config_hash = ?", arguments: [id, hash]) }
    }
}
