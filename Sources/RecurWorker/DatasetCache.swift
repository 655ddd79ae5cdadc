import Foundation
import Logging
import RecurAPI
import RecurForecast

/// Datasets cached by SHA-256 under `--cache-dir` (`<dir>/datasets/<sha256>.csv`), so a worker
/// needs no path and no copy made by hand: the first trial of a sweep downloads its dataset, every
/// later one (other sweeps of the same file, restarts, other slots and other workers on this
/// machine) reuses it. A file lock makes one process download while the others wait; a cut
/// download resumes where it stopped; an entry whose bytes no longer hash to its name is fetched
/// again.
public actor DatasetCache {
    let directory: URL
    let logger: Logger
    /// Hashes verified by this process, so a file is hashed once, not once per trial.
    private var verified: Set<String> = []
    /// Prepared tasks keyed by their spec, so consecutive trials of a sweep parse the CSV once.
    private var prepared: [String: PreparedTask] = [:]

    /// `$XDG_CACHE_HOME/recur`, else `~/.cache/recur`.
    public static func defaultDirectory() -> URL {
        let environment = ProcessInfo.processInfo.environment
        if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") { return URL(fileURLWithPath: xdg).appendingPathComponent("recur") }
        let home = environment["HOME"].map { URL(fileURLWithPath: $0) } ?? FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/recur")
    }

    public init(directory: URL, logger: Logger) {
        self.directory = directory.appendingPathComponent("datasets", isDirectory: true)
        self.logger = logger
    }

    /// The task prepared from its dataset: fetched by hash when the task names one, else read
    /// from the path (a coordinator that does not send hashes).
    func task(_ spec: TaskSpec, layout: SplitLayout = .task, from client: any CoordinatorService) async throws -> PreparedTask {
        let key = String(decoding: (try? API.encoder().encode(spec)) ?? Data(), as: UTF8.self) + "\(layout)"
        if let t = prepared[key] { return t }
        var local = spec
        if let sha = spec.datasetSHA256 { local.dataset = try await file(sha256: sha.lowercased(), from: client).path }
        let t = try PreparedTask.load(local, layout: layout)
        // Room for every fold, the refit and the task's split of a sweep or two.
        if prepared.count > 12 { prepared.removeAll() }
        prepared[key] = t
        return t
    }

    /// The cached file of dataset `sha256`, downloaded first if this machine does not have it.
    public func file(sha256 sha: String, from client: any CoordinatorService) async throws -> URL {
        guard sha.count == 64, sha.allSatisfy(\.isHexDigit) else { throw DatasetCacheError("the task's dataset_sha256 '\(sha)' is not a SHA-256") }
        let final = directory.appendingPathComponent("\(sha).csv")
        if verified.contains(sha), FileManager.default.fileExists(atPath: final.path) { return final }
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw DatasetCacheError("--cache-dir: cannot create \(directory.path) (\(error.localizedDescription)); pick a writable directory")
        }
        let lock = try await FileLock(path: directory.appendingPathComponent("\(sha).lock").path)
        defer { lock.unlock() }
        if FileManager.default.fileExists(atPath: final.path) {
            if (try? sha256Hex(fileAt: final)) == sha {
                verified.insert(sha)
                return final
            }
            logger.warning("cached dataset is corrupted; fetching it again", metadata: ["dataset.sha256": "\(sha)", "file": "\(final.path)"])
            try? FileManager.default.removeItem(at: final)
        }
        let part = directory.appendingPathComponent("\(sha).csv.part")
        let started = ContinuousClock.now
        // A part left by a cut download is resumed; one whose bytes turn out wrong is dropped and
        // the whole file fetched once more. A part that is already whole (killed before the rename)
        // is kept as it is.
        for round in 0..<2 {
            if FileManager.default.fileExists(atPath: part.path), (try? sha256Hex(fileAt: part)) == sha { break }
            do {
                try await retrying(logger: logger, "download dataset", tries: 8) { try await client.downloadDataset(sha256: sha, to: part) }
            } catch CoordinatorCallError.status(416, _, _) {
                // The part is as long as the file or longer, and not it: start again from byte 0.
                try? FileManager.default.removeItem(at: part)
                try await retrying(logger: logger, "download dataset", tries: 8) { try await client.downloadDataset(sha256: sha, to: part) }
            }
            if try sha256Hex(fileAt: part) == sha { break }
            try? FileManager.default.removeItem(at: part)
            if round == 1 { throw DatasetCacheError("the coordinator sent dataset \(sha) twice with other bytes; check its disk (<db>.datasets/)") }
            logger.warning("downloaded dataset does not match its hash; fetching it again", metadata: ["dataset.sha256": "\(sha)"])
        }
        guard rename(part.path, final.path) == 0 else {
            throw DatasetCacheError("cannot move the dataset into \(final.path): \(String(cString: strerror(errno)))")
        }
        verified.insert(sha)
        let bytes = ((try? FileManager.default.attributesOfItem(atPath: final.path))?[.size] as? NSNumber)?.int64Value ?? 0
        let elapsed = (ContinuousClock.now - started).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        logger.info(
            "dataset downloaded",
            metadata: [
                "dataset.sha256": "\(sha)", "bytes": "\(bytes)", "file": "\(final.path)", "seconds": "\(String(format: "%.2f", seconds))",
            ]
        )
        return final
    }
}

/// A dataset could not be put in the cache.
public struct DatasetCacheError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// An exclusive `flock` on a file, shared by every process on the machine (and by separate opens
/// within one process). Waiting polls, so no thread of the cooperative pool blocks.
final class FileLock: Sendable {
    let descriptor: Int32

    init(path: String) async throws {
        descriptor = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw DatasetCacheError("cannot open the lock file \(path): \(String(cString: strerror(errno)))") }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                throw DatasetCacheError("cannot lock \(path): \(reason)")
            }
            do { try await Task.sleep(for: .milliseconds(100)) } catch {
                close(descriptor)
                throw error
            }
        }
    }

    func unlock() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
