/// The schema, as numbered SQL files compiled into the binary (the only schema source).
public enum Migrations {
    /// A migration: its identifier (the file name without `.sql`) and its SQL.
    public struct Migration: Sendable, Equatable {
        public var id: String
        public var sql: String
    }

    /// Every migration in order. Add a file to `migrations/`, list it in `Package.swift`
    /// (`.embedInCode`), and append it here; shipped files are never edited.
    public static let all: [Migration] = [
        Migration(id: "0001_initial_schema", sql: String(decoding: PackageResources._001_initial_schema_sql, as: UTF8.self)),
        Migration(id: "0002_leaderboard_and_attempt_indexes", sql: String(decoding: PackageResources._002_leaderboard_and_attempt_indexes_sql, as: UTF8.self)),
        Migration(id: "0003_drop_deadline_index", sql: String(decoding: PackageResources._003_drop_deadline_index_sql, as: UTF8.self)),
        Migration(id: "0004_checkpoint_files", sql: String(decoding: PackageResources._004_checkpoint_files_sql, as: UTF8.self)),
        Migration(
            id: "0005_tokens_and_worker_engines",
            sql: String(decoding: PackageResources._005_tokens_and_worker_engines_sql, as: UTF8.self)
        ),
        Migration(id: "0006_runs", sql: String(decoding: PackageResources._006_runs_sql, as: UTF8.self)),
        Migration(id: "0007_stop_rules", sql: String(decoding: PackageResources._007_stop_rules_sql, as: UTF8.self)),
        Migration(id: "0008_enqueued", sql: String(decoding: PackageResources._008_enqueued_sql, as: UTF8.self)),
    ]
}
