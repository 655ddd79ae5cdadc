import Foundation
import GRDB
import Migrations
import RecurSweep
import Testing

@testable import RecurStore

@Suite struct MigrationTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("migrations")

    /// The folder and the registered list agree (a new file must be registered, and vice versa).
    @Test func folderAndRegisteredListAgree() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == Migrations.all.map(\.id))
        let manifest = try String(contentsOf: Self.folder.deletingLastPathComponent().appendingPathComponent("Package.swift"), encoding: .utf8)
        for file in files { #expect(manifest.contains(".embedInCode(\"\(file)\")"), "\(file) is not listed in Package.swift") }
    }

    @Test func identifiersAreNumberedAndIncreasing() {
        let ids = Migrations.all.map(\.id)
        #expect(ids == ids.sorted())
        for (i, id) in ids.enumerated() {
            #expect(id.range(of: "^\\d{4}_[a-z0-9_]+$", options: .regularExpression) != nil)
            #expect(Int(id.prefix(4)) == i + 1)
            #expect(["CREATE", "DROP", "ALTER"].contains { Migrations.all[i].sql.contains($0) })
        }
    }

    @Test func migratingIsIdempotentAndRecordedByName() throws {
        let queue = try DatabaseQueue()
        try SweepStore.migrator().migrate(queue)
        try SweepStore.migrator().migrate(queue)
        let applied = try queue.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
        #expect(applied == Migrations.all.map(\.id))
    }

    /// The read commands' `--db` open neither locks, migrates nor creates: an older database is
    /// refused untouched, and a foreign SQLite file gets no Recur tables.
    @Test func readingOpenNeverWrites() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-ro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let older = dir.appendingPathComponent("older.db").path
        try SweepStore.migrator(upTo: Migrations.all[1].id).migrate(try DatabaseQueue(path: older))
        #expect(throws: StoreError.olderDatabase(Migrations.all.dropFirst(2).map(\.id))) { try SweepStore(readingPath: older) }
        let applied = try DatabaseQueue(path: older).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM grdb_migrations") }
        #expect(applied == 2)

        let foreign = dir.appendingPathComponent("foreign.db").path
        try DatabaseQueue(path: foreign).write { try $0.execute(sql: "CREATE TABLE notes (x TEXT)") }
        do {
            _ = try SweepStore(readingPath: foreign)
            Issue.record("opened a foreign database")
        } catch {
            #expect("\(error)".contains("not a Recur database"))
        }
        #expect(
            try DatabaseQueue(path: foreign).read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") } == ["notes"]
        )

        let current = dir.appendingPathComponent("current.db").path
        _ = try SweepStore(path: current)
        let reader = try SweepStore(readingPath: current)
        #expect(try reader.summaries().isEmpty)
    }

    /// Every earlier schema version upgrades to the latest, keeping its data.
    @Test func everyEarlierVersionUpgrades() throws {
        // The definition as every version so far stored it: the spec's JSON plus the dataset's hash.
        let yaml = "name: old\ntask: {dataset: d.csv, target: y}\nspace:\n  units: {choice: [4, 8]}\n"
        var json = try #require(try JSONSerialization.jsonObject(with: Data(SweepSpec.parse(yaml: yaml).jsonString().utf8)) as? [String: Any])
        json["dataset_sha256"] = "ab"
        json["features"] = 3
        let definition = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        for earlier in Migrations.all.dropLast() {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-upgrade-\(UUID()).db").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let pool = try DatabasePool(path: path)
            try SweepStore.migrator(upTo: earlier.id).migrate(pool)
            try pool.write { db in
                try db.execute(
                    sql:
                        "INSERT INTO sweeps (name, definition_yaml, definition_json, state, created_at, updated_at) VALUES ('old', ?, ?, 'running', 1, 1)",
                    arguments: [yaml, definition]
                )
            }
            try pool.close()
            let store = try SweepStore(path: path)
            let old = try store.sweep(named: "old")
            #expect(old.definitionYaml == yaml && old.definitionJson.datasetSHA256 == "ab" && old.definitionJson.features == 3)
            #expect(old.definitionJson.spec.space.map(\.name) == ["units"])
            let applied = try store.writer.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
            #expect(applied == Migrations.all.map(\.id))
        }
    }

    /// Trials stored before runs existed get one run each that mirrors them, their attempts
    /// become that run's, and a requeued one leases and completes as before.
    @Test func trialsFromBeforeRunsBecomeOneRunEach() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-runs-\(UUID()).db").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let pool = try DatabasePool(path: path)
        try SweepStore.migrator(upTo: "0005_tokens_and_worker_engines").migrate(pool)
        let spec = try SweepSpec.parse(yaml: "name: old\ntask: {dataset: d.csv, target: y}\nspace:\n  units: {choice: [4, 8]}\n")
        try pool.write { db in
            try db.execute(
                sql:
                    "INSERT INTO sweeps (name, definition_yaml, definition_json, state, created_at, updated_at) VALUES ('old', 'x', ?, 'running', 1, 1)",
                arguments: [spec.jsonString()]
            )
            try db.execute(
                sql: """
                    INSERT INTO trials (sweep_id, number, config_json, config_hash, state, best_val_metric, best_epoch, test_metric, created_at)
                    VALUES (1, 0, '{"units":4}', 'a', 'completed', 2.5, 3, 2.75, 1), (1, 1, '{"units":8}', 'b', 'pending', NULL, NULL, NULL, 1)
                    """
            )
            try db.execute(
                sql: """
                    INSERT INTO attempts (trial_id, number, lease_token, lease_deadline, state, started_at)
                    VALUES (1, 1, 't1', 9, 'succeeded', 1), (2, 1, 't2', 9, 'lost', 1)
                    """
            )
        }
        try pool.close()
        let store = try SweepStore(path: path)
        let done = try store.runs(trial: 1)
        #expect(
            done.count == 1 && done[0].state == .succeeded && done[0].bestValMetric == 2.5 && done[0].testMetric == 2.75 && done[0].kind == .scoring
        )
        #expect(try store.attempts(trial: 1).map(\.runId) == [done[0].id])
        #expect(try store.leaderboard(sweep: "old").first?.runs == 1)
        let (_, attempt) = try store.lease(trial: 2, worker: "w", token: "t3", deadline: 20, now: 10)
        let run = try store.runs(trial: 2).first
        #expect(attempt.number == 2 && attempt.runId == run?.id)
        let completed = try store.complete(token: "t3", valMetric: 1, bestEpoch: 1, testMetric: 1, now: 11).trial
        #expect(completed.state == .completed && completed.bestValMetric == 1 && completed.valRuns == 1)
    }

    @Test func aDatabaseFromANewerVersionIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-newer-\(UUID()).db").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try SweepStore(path: path)
        let pool = try DatabasePool(path: path)
        try pool.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_from_the_future')") }
        try pool.close()
        #expect(throws: StoreError.newerDatabase(["9999_from_the_future"])) { try SweepStore(path: path) }
    }

    /// Another program's SQLite file gets no Recur tables: the store refuses it and leaves it as
    /// it was.
    @Test func anotherProgramsDatabaseIsLeftUntouched() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-foreign-\(UUID()).db").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "CREATE TABLE invoices (id INTEGER PRIMARY KEY); CREATE TABLE customers (id INTEGER)") }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: StoreError.foreignDatabase(["customers", "invoices"])) { try SweepStore(path: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "not even WAL mode is set")
        let after = try DatabaseQueue(path: path)
        let tables = try after.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") }
        #expect(tables == ["customers", "invoices"])
        try after.close()

        // Another GRDB app keeps its migrations in the same table, none of them Recur's.
        let grdbApp = FileManager.default.temporaryDirectory.appendingPathComponent("recur-grdb-app-\(UUID()).db").path
        defer { try? FileManager.default.removeItem(atPath: grdbApp) }
        let app = try DatabaseQueue(path: grdbApp)
        try app.write {
            try $0.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY); INSERT INTO grdb_migrations VALUES ('v1')")
            try $0.execute(sql: "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
        }
        try app.close()
        #expect(throws: StoreError.foreignDatabase(["notes"])) { try SweepStore(path: grdbApp) }
    }
}
