import Foundation
import GRDB
import Migrations
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

    /// Every earlier schema version upgrades to the latest, keeping its data.
    @Test func everyEarlierVersionUpgrades() throws {
        for earlier in Migrations.all.dropLast() {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("recur-upgrade-\(UUID()).db").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let pool = try DatabasePool(path: path)
            try SweepStore.migrator(upTo: earlier.id).migrate(pool)
            try pool.write { db in
                try db.execute(sql: "INSERT INTO sweeps (name, definition_yaml, definition_json, state, created_at, updated_at) VALUES ('old', 'name: old', '{}', 'running', 1, 1)")
            }
            try pool.close()
            let store = try SweepStore(path: path)
            #expect(try store.sweep(named: "old").definitionYaml == "name: old")
            let applied = try store.writer.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
            #expect(applied == Migrations.all.map(\.id))
        }
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
}
