import Migrations

/// Why a store operation was refused. Each maps to an HTTP status in the coordinator.
public enum StoreError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What a 404 did not find; the API sends it as a stable error code.
    public enum Missing: String, Sendable { case sweep, trial, worker, checkpoint, lease, token }
    /// 404: no such sweep, trial, worker, checkpoint or lease.
    case notFound(Missing, String)
    /// 409: the lease token is not (or no longer) the running attempt's.
    case staleLease(String)
    /// 409: the entity is not in a state that allows this change.
    case conflict(String)
    /// 409: a sweep name or a config already exists.
    case duplicate(String)
    /// The database was written by a newer Recur.
    case newerDatabase([String])
    /// Opened for reading only, the database lacks migrations (an older Recur, or not Recur's).
    case olderDatabase([String])
    /// The file is another program's SQLite database: tables, and no Recur migration.
    case foreignDatabase([String])

    public var description: String {
        switch self {
        case .notFound(_, let m), .staleLease(let m), .conflict(let m), .duplicate(let m): return m
        case .newerDatabase(let ids):
            return "the database was written by a newer Recur (unknown migrations: \(ids.joined(separator: ", "))); upgrade recur to open it"
        case .foreignDatabase(let tables):
            let shown = tables.prefix(5).joined(separator: ", ") + (tables.count > 5 ? ", …" : "")
            return "the file is another program's SQLite database (tables: \(shown)), left untouched; give recur a new path or a Recur database"
        case .olderDatabase(let ids) where ids.count == Migrations.all.count:
            return "not a Recur database (it has none of Recur's tables)"
        case .olderDatabase(let ids):
            return
                "the database has an older schema (missing migrations: \(ids.joined(separator: ", "))); open it once with recur serve or recur run to upgrade it"
        }
    }
}
