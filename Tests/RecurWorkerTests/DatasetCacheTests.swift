import Foundation
import Logging
import RecurForecast
import Testing

@testable import RecurWorker

/// The worker's dataset cache: one download per machine, resumed when cut, fetched again when
/// the cached bytes are corrupted, and never kept when they do not hash to their name.
@Suite struct DatasetCacheTests {
    static func setUp() throws -> (FakeCoordinator, URL, String, Data) {
        let data = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 >> 3) })
        let sha = sha256Hex(data)
        let fake = FakeCoordinator()
        fake.datasets.withLock { $0[sha] = data }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("recur-cache-\(UUID().uuidString)")
        return (fake, dir, sha, data)
    }

    static var logger: Logger {
        var l = Logger(label: "test")
        l.logLevel = .critical
        return l
    }

    /// Separate caches over one directory stand for separate worker processes on one machine:
    /// started at once, they download once (the file lock), and all get the file.
    @Test func workersOnOneMachineDownloadOnce() async throws {
        let (fake, dir, sha, data) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try await withThrowingTaskGroup(of: URL.self) { group in
            for _ in 0..<4 { group.addTask { try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake) } }
            return try await group.reduce(into: [URL]()) { $0.append($1) }
        }
        let first = try Data(contentsOf: files[0])
        #expect(Set(files.map(\.path)).count == 1 && first == data)
        #expect(fake.log.filter { $0.hasPrefix("download") }.count == 1, "\(fake.log)")
        // A restarted worker reuses the entry.
        _ = try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake)
        #expect(fake.log.filter { $0.hasPrefix("download") }.count == 1)
    }

    @Test func aCutDownloadResumesWhereItStopped() async throws {
        let (fake, dir, sha, data) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        fake.cutAfter.withLock { $0 = 100_000 }
        let file = try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake)
        #expect(try Data(contentsOf: file) == data)
        #expect(fake.log == ["download from 0", "download from 100000"])
    }

    @Test func aCorruptedEntryIsFetchedAgain() async throws {
        let (fake, dir, sha, data) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake)
        try Data("garbage".utf8).write(to: file)
        let again = try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake)
        #expect(try Data(contentsOf: again) == data)
        #expect(fake.log.filter { $0.hasPrefix("download") }.count == 2)
    }

    /// Bytes that do not hash to their name are dropped and fetched once more; twice wrong is an error.
    @Test func wrongBytesAreNeverKept() async throws {
        let (fake, dir, sha, data) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        fake.corruptServes.withLock { $0 = 1 }
        let file = try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake)
        #expect(try Data(contentsOf: file) == data)
        fake.corruptServes.withLock { $0 = 2 }
        try FileManager.default.removeItem(at: file)
        await #expect(throws: DatasetCacheError.self) { try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake) }
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }

    /// A part left whole by a worker killed before the rename is kept; one longer than the file
    /// (416) is dropped and the file fetched from its first byte.
    @Test func leftoverPartsAreAdoptedOrRestarted() async throws {
        let (fake, dir, sha, data) = try Self.setUp()
        defer { try? FileManager.default.removeItem(at: dir) }
        let datasets = dir.appendingPathComponent("datasets")
        try FileManager.default.createDirectory(at: datasets, withIntermediateDirectories: true)
        try data.write(to: datasets.appendingPathComponent("\(sha).csv.part"))
        let file = try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake)
        #expect(try Data(contentsOf: file) == data && fake.log.isEmpty, "\(fake.log)")
        try FileManager.default.removeItem(at: file)
        try (data + Data("tail".utf8)).write(to: datasets.appendingPathComponent("\(sha).csv.part"))
        let again = try await DatasetCache(directory: dir, logger: Self.logger).file(sha256: sha, from: fake)
        #expect(try Data(contentsOf: again) == data)
        #expect(fake.log == ["download from \(data.count + 4)", "download from 0"])
    }
}
