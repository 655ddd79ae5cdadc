import Foundation
import GRDB
import Migrations
import RecurSweep

/// The coordinator's memory: sweeps, trials, leases, metrics and events in one SQLite file (WAL).
///
/// Every state change is one transaction whose UPDATE names the expected state (and lease token)
/// in its WHERE clause, so a concurrent or stale caller changes nothing and gets
/// ``StoreError/staleLease(_:)`` or ``StoreError/conflict(_:)``. A trial has at most one running
/// attempt (a partial unique index enforces it), and metric rows are only accepted from the
/// running attempt's lease.
public final class SweepStore: Sendable {
    public let writer: any DatabaseWriter

    /// Opens (creating if needed) the database at `path` in WAL mode and migrates it.
    public convenience init(path: String) throws {
        // Another program's database (or a newer Recur's) is refused before WAL mode, a change to
        // the file, is set.
        if let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue, size > 0 {
            var readOnly = Configuration()
            readOnly.readonly = true
            readOnly.busyMode = .timeout(10)
            let queue = try DatabaseQueue(path: path, configuration: readOnly)
            defer { try? queue.close() }
            try queue.read { db in try SweepStore.checkOwnership(db) }
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        // WAL with synchronous=NORMAL: a commit is durable once the call returns as far as any
        // process crash (kill -9) goes; only an OS crash or power loss can drop the last commits.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let pool = try DatabasePool(path: path, configuration: config)
        try self.init(writer: pool)
    }

    /// Opens an existing database for reading only (`--db` on the read commands): no write lock,
    /// no migration, nothing created. A database that lacks migrations is refused.
    public convenience init(readingPath path: String) throws {
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        try self.init(readOnly: try DatabaseQueue(path: path, configuration: config))
    }

    init(readOnly reader: any DatabaseWriter) throws {
        writer = reader
        try reader.read { db in
            let applied = try db.tableExists("grdb_migrations") ? Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")) : []
            let known = Migrations.all.map(\.id)
            let unknown = applied.subtracting(known)
            if !unknown.isEmpty { throw StoreError.newerDatabase(unknown.sorted()) }
            let missing = known.filter { !applied.contains($0) }
            if !missing.isEmpty { throw StoreError.olderDatabase(missing) }
        }
    }

    /// An in-memory database (tests).
    public convenience init() throws {
        try self.init(writer: DatabaseQueue())
    }

    public init(writer: any DatabaseWriter) throws {
        self.writer = writer
        try write { db in try SweepStore.checkOwnership(db) }
        try SweepStore.migrator().migrate(writer)
    }

    /// Recur creates its schema only in an empty database and upgrades only its own: tables
    /// without Recur's migrations (another program's, even another GRDB app's) are refused, and so
    /// are migrations this version does not know (a newer Recur's).
    static func checkOwnership(_ db: Database) throws {
        let tables = {
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        }
        guard try db.tableExists("grdb_migrations") else {
            let found = try tables()
            if !found.isEmpty { throw StoreError.foreignDatabase(found) }
            return
        }
        let known = Set(Migrations.all.map(\.id))
        let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
        if !applied.isEmpty && !applied.contains(where: known.contains) {
            throw StoreError.foreignDatabase(try tables().filter { $0 != "grdb_migrations" })
        }
        let unknown = applied.filter { !known.contains($0) }
        if !unknown.isEmpty { throw StoreError.newerDatabase(unknown.sorted()) }
    }

    /// Registers every migration of `migrations/`, in order, each in its own transaction.
    public static func migrator(upTo last: String? = nil) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for m in Migrations.all {
            migrator.registerMigration(m.id) { db in try db.execute(sql: m.sql) }
            if m.id == last { break }
        }
        return migrator
    }

    // MARK: - Transactions and group commit

    /// The write transaction a ``batch(_:)`` holds open on this task.
    final class OpenBatch: @unchecked Sendable {
        let db: Database
        let store: ObjectIdentifier
        init(db: Database, store: ObjectIdentifier) {
            self.db = db
            self.store = store
        }
    }
    @TaskLocal static var openBatch: OpenBatch?

    private var currentBatch: Database? {
        guard let batch = SweepStore.openBatch, batch.store == ObjectIdentifier(self) else { return nil }
        return batch.db
    }

    /// One transaction; inside ``batch(_:)`` a savepoint of the batch's transaction instead.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        guard let db = currentBatch else { return try writer.write(body) }
        var result: T?
        try db.inSavepoint {
            result = try body(db)
            return .commit
        }
        return result!
    }

    /// Reads committed data; inside ``batch(_:)`` reads through the batch's transaction.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        guard let db = currentBatch else { return try writer.read(body) }
        return try body(db)
    }

    /// Group commit: every store call `body` makes joins one write transaction, each call in its
    /// own savepoint (a call that throws leaves no trace), and the whole group commits once.
    /// Returns after COMMIT; throws only when the transaction itself fails.
    public func batch(_ body: () throws -> Void) throws {
        try inNewBatch(body)
    }

    /// Runs `body` in a savepoint of the current ``batch(_:)`` (or in its own transaction
    /// outside one): all of its store calls take effect, or none.
    public func atomically<T>(_ body: () throws -> T) throws -> T {
        if currentBatch != nil { return try write { _ in try body() } }
        return try inNewBatch(body)
    }

    private func inNewBatch<T>(_ body: () throws -> T) throws -> T {
        try writer.write { db in
            try SweepStore.$openBatch.withValue(OpenBatch(db: db, store: ObjectIdentifier(self))) { try body() }
        }
    }

    // MARK: - Events

    static func event(
        _ db: Database,
        _ kind: String,
        sweep: Int64?,
        trial: Int64? = nil,
        attempt: Int64? = nil,
        detail: [String: Any] = [:],
        now: Double
    ) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO events (sweep_id, trial_id, attempt_id, kind, detail_json, at) VALUES (?, ?, ?, ?, ?, ?)"
        )
        try statement.execute(arguments: [sweep, trial, attempt, kind, EventJSON.object(detail), now])
    }

    /// Records an event in its own transaction (e.g. a prune decision's numbers).
    public func recordEvent(_ kind: String, sweep: Int64?, trial: Int64? = nil, attempt: Int64? = nil, detail: [String: Any], now: Double) throws {
        nonisolated(unsafe) let detail = detail
        try write { db in try SweepStore.event(db, kind, sweep: sweep, trial: trial, attempt: attempt, detail: detail, now: now) }
    }

    // MARK: - Sweeps

    /// Stores a new sweep; `definition` carries what the coordinator learned of the dataset (its
    /// hash and feature count), written in the same transaction.
    public func createSweep(_ spec: SweepSpec, yaml: String, definition: SweepDefinition? = nil, now: Double) throws -> SweepRecord {
        try write { db in
            if try SweepRecord.filter(Column("name") == spec.name).fetchOne(db) != nil {
                throw StoreError.duplicate("sweep '\(spec.name)' already exists")
            }
            var sweep = SweepRecord(
                id: nil,
                name: spec.name,
                definitionYaml: yaml,
                definitionJson: definition ?? SweepDefinition(spec: spec, datasetSHA256: nil, features: nil),
                state: .running,
                createdAt: now,
                updatedAt: now,
                stopRule: nil,
                stopMessage: nil
            )
            try sweep.insert(db)
            try SweepStore.event(db, "sweep_created", sweep: sweep.id, detail: ["name": spec.name], now: now)
            return sweep
        }
    }

    public func sweep(named name: String) throws -> SweepRecord {
        try read { db in
            guard let s = try SweepRecord.filter(Column("name") == name).fetchOne(db) else {
                throw StoreError.notFound(.sweep, "no sweep named '\(name)'")
            }
            return s
        }
    }

    public func sweep(id: Int64) throws -> SweepRecord {
        try read { db in
            guard let s = try SweepRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.sweep, "no sweep with id \(id)") }
            return s
        }
    }

    public func sweeps() throws -> [SweepRecord] {
        try read { db in try SweepRecord.order(Column("id")).fetchAll(db) }
    }

    /// Moves a sweep to `state` if it is in one of `from`.
    @discardableResult
    public func setSweepState(_ id: Int64, to state: SweepState, from: [SweepState], now: Double) throws -> SweepRecord {
        try write { db in
            let placeholders = from.map { _ in "?" }.joined(separator: ",")
            var arguments: StatementArguments = [state.rawValue, now, id]
            arguments += StatementArguments(from.map(\.rawValue))
            try db.execute(sql: "UPDATE sweeps SET state = ?, updated_at = ? WHERE id = ? AND state IN (\(placeholders))", arguments: arguments)
            guard let s = try SweepRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.sweep, "no sweep with id \(id)") }
            guard db.changesCount == 1 || s.state == state else {
                throw StoreError.conflict("sweep '\(s.name)' is \(s.state.rawValue); it cannot become \(state.rawValue)")
            }
            if db.changesCount == 1 { try SweepStore.event(db, "sweep_\(state.rawValue)", sweep: id, now: now) }
            return s
        }
    }

    /// Replaces a sweep's definition (a resume that raised `max_trials` or `max_parallel`); a
    /// `done` sweep becomes `running` again when `reopen`.
    public func redefineSweep(_ id: Int64, yaml: String, definition: SweepDefinition, reopen: Bool, now: Double) throws -> SweepRecord {
        let definitionJSON = try definition.jsonString()
        return try write { db in
            try db.execute(
                sql: "UPDATE sweeps SET definition_yaml = ?, definition_json = ?, updated_at = ? WHERE id = ?",
                arguments: [yaml, definitionJSON, now, id]
            )
            // A resumed sweep's budgets and stop rules are checked afresh (its definition may raise them).
            if reopen {
                try db.execute(
                    sql: "UPDATE sweeps SET state = 'running', stop_rule = NULL, stop_message = NULL WHERE id = ? AND state IN ('done', 'running')",
                    arguments: [id]
                )
            }
            guard let s = try SweepRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.sweep, "no sweep with id \(id)") }
            try SweepStore.event(db, "sweep_redefined", sweep: id, now: now)
            return s
        }
    }

    // MARK: - Trials

    /// Adds a sampled trial (pending). A config already in the sweep is refused.
    public func addTrial(sweep: Int64, number: Int, config: TrialConfig, now: Double) throws -> TrialRecord {
        try write { db in try SweepStore.insertTrial(db, sweep: sweep, number: number, config: config, now: now) }
    }

    /// Inserts a pending trial and its runs (one scoring run on the task's split by default).
    static func insertTrial(
        _ db: Database,
        sweep: Int64,
        number: Int,
        config: TrialConfig,
        canonicalJSON: String? = nil,
        runs: [RunPlan] = [RunPlan(kind: .scoring, fold: nil, seedIndex: 0)],
        now: Double
    ) throws -> TrialRecord {
        let json = canonicalJSON ?? config.canonicalJSON
        var trial = TrialRecord(
            id: nil,
            sweepId: sweep,
            number: number,
            configJson: json,
            configHash: TrialConfig.hash(canonicalJSON: json),
            state: .pending,
            bestValMetric: nil,
            bestEpoch: nil,
            testMetric: nil,
            createdAt: now,
            startedAt: nil,
            finishedAt: nil
        )
        do {
            let insert = try db.cachedStatement(
                sql: "INSERT INTO trials (sweep_id, number, config_json, config_hash, state, created_at) VALUES (?, ?, ?, ?, 'pending', ?)"
            )
            try insert.execute(arguments: [sweep, number, json, trial.configHash, now])
            trial.id = db.lastInsertedRowID
        } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
            throw StoreError.duplicate("sweep \(sweep) already has trial \(number) or config \(json)")
        }
        try SweepStore.event(db, "trial_sampled", sweep: sweep, trial: trial.id, detail: ["number": number, "config": json], now: now)
        _ = try insertRuns(db, trial: trial.id!, runs, now: now)
        return trial
    }

    public func trial(id: Int64) throws -> TrialRecord {
        try read { db in
            guard let t = try TrialRecord.fetchOne(db, key: id) else { throw StoreError.notFound(.trial, "no trial with id \(id)") }
            return t
        }
    }

    public func trials(sweep: Int64) throws -> [TrialRecord] {
        try read { db in try TrialRecord.filter(Column("sweep_id") == sweep).order(Column("number")).fetchAll(db) }
    }

    /// A trial's runs, by number.
    public func runs(trial: Int64) throws -> [RunRecord] {
        try read { db in try RunRecord.filter(Column("trial_id") == trial).order(Column("number")).fetchAll(db) }
    }

    public func attempts(trial: Int64) throws -> [AttemptRecord] {
        try read { db in try AttemptRecord.filter(Column("trial_id") == trial).order(Column("number")).fetchAll(db) }
    }

    public func metrics(trial: Int64) throws -> [EpochMetricRecord] {
        try read { db in try EpochMetricRecord.filter(Column("trial_id") == trial).order(Column("attempt_id"), Column("epoch")).fetchAll(db) }
    }

    public func events(sweep: Int64) throws -> [EventRecord] {
        try read { db in try EventRecord.filter(Column("sweep_id") == sweep).order(Column("id")).fetchAll(db) }
    }

    /// Trials per state in a sweep.
    public func counts(sweep: Int64) throws -> [TrialState: Int] {
        try read { db in
            var out: [TrialState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM trials WHERE sweep_id = ? GROUP BY state", arguments: [sweep]) {
                if let s = TrialState(rawValue: row["state"]) { out[s] = row["n"] }
            }
            return out
        }
    }

    // MARK: - Workers

    /// Records a worker's registration. A worker that registers again gets a new id, so each
    /// attempt's `worker_id` names the engine, checkpoint format and CPU it ran with.
    public func registerWorker(
        host: String,
        slots: Int,
        version: String,
        engineVersion: String? = nil,
        checkpointFormat: String? = nil,
        cpuFeatures: String? = nil,
        trainsRuns: Bool = false,
        now: Double
    ) throws -> WorkerRecord {
        try write { db in
            var w = WorkerRecord(
                id: UUID().uuidString.lowercased(),
                host: host,
                slots: slots,
                version: version,
                registeredAt: now,
                lastSeen: now,
                engineVersion: engineVersion,
                checkpointFormat: checkpointFormat,
                cpuFeatures: cpuFeatures,
                trainsRuns: trainsRuns
            )
            try w.insert(db)
            try SweepStore.event(
                db,
                "worker_registered",
                sweep: nil,
                detail: ["worker": w.id, "host": host, "slots": slots, "engine": engineVersion ?? ""],
                now: now
            )
            return w
        }
    }

    public func touchWorker(_ id: String, now: Double) throws {
        try write { db in
            try db.execute(sql: "UPDATE workers SET last_seen = ? WHERE id = ?", arguments: [now, id])
            if db.changesCount == 0 { throw StoreError.notFound(.worker, "unknown worker \(id); register again") }
        }
    }

    public func workers() throws -> [WorkerRecord] {
        try read { db in try WorkerRecord.order(Column("registered_at")).fetchAll(db) }
    }

    public func worker(id: String) throws -> WorkerRecord {
        guard let w = try read({ db in try WorkerRecord.fetchOne(db, key: id) }) else {
            throw StoreError.notFound(.worker, "unknown worker \(id); register again")
        }
        return w
    }
}
