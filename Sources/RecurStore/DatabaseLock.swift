import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One coordinator per database: `recur serve` and `recur run` hold an exclusive `flock` on the
/// database file while they run. Two would each keep their own sampler and lease map, break
/// `max_parallel` and reap each other's leases. Readers (`--db`) take no lock. The kernel drops
/// the lock when the process dies, however it dies.
public final class DatabaseLock: Sendable {
    private let descriptor: Int32

    /// Takes the lock on `path` (which must exist), or throws naming the database.
    public init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DatabaseLockError(description: "\(path): cannot open the database to lock it (\(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw DatabaseLockError(
                description: "\(path) is in use by another coordinator (recur serve or recur run); stop it, or point its workers at it instead"
            )
        }
        descriptor = fd
    }

    deinit { close(descriptor) }
}

/// The database is locked by another coordinator, or cannot be opened to lock it.
public struct DatabaseLockError: Error, CustomStringConvertible {
    public let description: String
}
