import Foundation
import GRDB
import RecurForecast

/// Datasets are kept by content beside the database (`<db>.datasets/<sha256>.csv`): a sweep
/// names its dataset by hash, so workers on any machine fetch exactly the bytes it was created
/// from, and two sweeps of one file share it.
extension SweepStore {
    /// `<db>.datasets/` beside a database file; a directory of its own for an in-memory one.
    public var datasetDirectory: URL {
        let path = writer.path
        if path.isEmpty || path == ":memory:" || path.hasPrefix("file::memory:") {
            return FileManager.default.temporaryDirectory.appendingPathComponent("recur-memory-\(ObjectIdentifier(self).hashValue).datasets")
        }
        return URL(fileURLWithPath: path + ".datasets", isDirectory: true)
    }

    /// Whether `text` is a SHA-256 as the API writes it: 64 lowercase hex digits.
    public static func isDatasetHash(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The file of the dataset with this hash (it may not exist).
    public func datasetFile(sha256: String) -> URL {
        precondition(Self.isDatasetHash(sha256), "dataset hashes are checked before use")
        return datasetDirectory.appendingPathComponent("\(sha256).csv")
    }

    /// The size of the dataset with this hash, or nil when it is not held.
    public func datasetSize(sha256: String) -> Int64? {
        guard Self.isDatasetHash(sha256) else { return nil }
        return ((try? FileManager.default.attributesOfItem(atPath: datasetFile(sha256: sha256).path))?[.size] as? NSNumber)?.int64Value
    }

    /// A fresh partial file in the dataset directory, to stream an upload into.
    public func datasetPartFile() throws -> URL {
        try FileManager.default.createDirectory(at: datasetDirectory, withIntermediateDirectories: true)
        return datasetDirectory.appendingPathComponent(".upload-\(UUID().uuidString).part")
    }

    /// Removes partial uploads left by a coordinator that stopped mid-upload (at start-up, when
    /// no upload can be running); returns how many.
    @discardableResult
    public func removeStaleDatasetParts() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: datasetDirectory.path)) ?? []
        return names.filter { $0.hasPrefix(".upload-") && $0.hasSuffix(".part") }.filter {
            (try? FileManager.default.removeItem(at: datasetDirectory.appendingPathComponent($0))) != nil
        }.count
    }

    /// Keeps the file at `part` as the dataset `sha256` when its bytes hash to it (renamed into
    /// place, atomically); removes it either way. Returns false on a mismatch.
    public func adoptDataset(_ part: URL, sha256: String) throws -> Bool {
        defer { _ = try? FileManager.default.removeItem(at: part) }
        guard try sha256Hex(fileAt: part) == sha256 else { return false }
        guard rename(part.path, datasetFile(sha256: sha256).path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: datasetFile(sha256: sha256).path])
        }
        return true
    }

    /// Keeps a checked copy at `part` (in the dataset directory) under its hash, on disk before
    /// the sweep that names it is committed; a copy of a dataset already stored is dropped.
    /// Returns its hash.
    public func adoptDataset(copy part: URL) throws -> String {
        let sha = try sha256Hex(fileAt: part)
        if datasetSize(sha256: sha) == nil { try keepSynchronized(part, sha256: sha) }
        return sha
    }

    /// Flushes `part` to disk, so it is there before the sweep that names it is committed, and
    /// keeps it as the dataset `sha256`.
    private func keepSynchronized(_ part: URL, sha256: String) throws {
        let handle = try FileHandle(forUpdating: part)
        try handle.synchronize()
        try handle.close()
        _ = try adoptDataset(part, sha256: sha256)
    }

    /// Copies a dataset the coordinator reads from its own disk into the store; returns its hash.
    public func importDataset(from url: URL) throws -> String {
        let sha = try sha256Hex(fileAt: url)
        if datasetSize(sha256: sha) == nil {
            let part = try datasetPartFile()
            try FileManager.default.copyItem(at: url, to: part)
            try keepSynchronized(part, sha256: sha)
        }
        return sha
    }
}
