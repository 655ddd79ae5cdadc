import Foundation
import Logging
import RecurAPI
import RecurEngine
import RecurWorker
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Checkpoints travel as streams: a 200 MB checkpoint goes up to a real `recur serve` and comes
/// back down while the coordinator's resident memory stays within 50 MB of where it started.
@Suite(.serialized, .systemTestSlot) struct CheckpointStreamTests {
    /// `VmRSS` or `VmHWM` (peak) of a process, in bytes.
    static func memory(_ pid: Int32, _ field: String) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix(field + ":") })
        let kilobytes = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kilobytes * 1024
    }

    /// Resets the peak (`VmHWM`) to the current resident size (Linux: `clear_refs` 5).
    static func resetPeak(_ pid: Int32) { try? Data("5".utf8).write(to: URL(fileURLWithPath: "/proc/\(pid)/clear_refs")) }

    static func sha256(_ path: String) async throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = await out.text()
        await p.ended()
        return String(text.prefix(64))
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/status"), "needs Linux /proc to read resident memory"))
    func aTwoHundredMegabyteCheckpointStreamsBothWays() async throws {
        let cluster = try Cluster(rows: 1200)
        defer { cluster.stopAll() }
        // Under a loaded CI machine the 200 MB may take longer than the default 30 s lease, and
        // this client sends no heartbeats meanwhile (the worker does).
        try await cluster.startCoordinator(leaseSeconds: 600)
        try await cluster.createSweep(cluster.sweepYAML(trials: 1, parallel: 1, epochs: 1))
        let pid = cluster.coordinator!.processIdentifier
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let token = try String(contentsOfFile: cluster.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let client = try CoordinatorClient(address: CoordinatorAddress(cluster.tcp)!, token: token, logger: logger)
        defer { Task { await client.shutdown() } }
        let worker = try await client.register(API.RegisterRequest(host: "h", slots: 1, version: "t", engineVersion: BuildInfo.engineVersion))
        let lease = try #require(try await client.lease(API.LeaseRequest(workerId: worker.workerId, waitSeconds: 5)).lease)

        // 200 MB of pseudo-random bytes, written in 1 MiB pieces: one random piece, its first
        // word the piece's number, so no two pieces are alike. Cheap to make, since a byte loop
        // in a debug build would hold one of a 2-core machine's two test threads for a minute.
        var state: UInt64 = 88_172_645_463_325_252
        var piece = [UInt64](repeating: 0, count: (1 << 20) / 8)
        for i in piece.indices {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            piece[i] = state
        }
        let upload = cluster.dir.appendingPathComponent("big.safetensors")
        _ = FileManager.default.createFile(atPath: upload.path, contents: nil)
        let handle = try FileHandle(forWritingTo: upload)
        for number in 0..<200 {
            piece[0] = UInt64(number)
            try handle.write(contentsOf: piece.withUnsafeBytes { Data($0) })
        }
        try handle.close()

        let before = try Self.memory(pid, "VmRSS")
        Self.resetPeak(pid)
        try await client.uploadCheckpoint(token: lease.token, file: upload)
        _ = try await client.complete(token: lease.token, API.CompleteRequest(valMae: 1, valLoss: 1, testMae: 1, bestEpoch: 1, epochsRun: 1))
        let peakUp = try Self.memory(pid, "VmHWM")

        Self.resetPeak(pid)
        let download = cluster.dir.appendingPathComponent("back.safetensors")
        let bytes = try await client.downloadCheckpoint(trial: lease.trialId, to: download)
        let peakDown = try Self.memory(pid, "VmHWM")

        #expect(bytes == 200 << 20)
        await #expect(try Self.sha256(download.path) == Self.sha256(upload.path))
        let mb = { (n: Int) in String(format: "%.1f MB", Double(n) / 1e6) }
        print("coordinator RSS before \(mb(before)); peak while uploading \(mb(peakUp)), while downloading \(mb(peakDown))")
        #expect(peakUp - before < 50_000_000, "the upload grew the coordinator by \(mb(peakUp - before))")
        #expect(peakDown - before < 50_000_000, "the download grew the coordinator by \(mb(peakDown - before))")
    }
}
