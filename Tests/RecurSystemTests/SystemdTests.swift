import Foundation
import RecurStore
import Testing

/// The systemd recipes in deploy/systemd: the units pass `systemd-analyze verify`, and their
/// readiness is real — `recur serve` says READY=1 only once it listens, `recur worker` only once it
/// is registered (`Type=notify`, checked on a notify socket of the test's own).
@Suite(.serialized, .systemTestSlot) struct SystemdTests {
    static let analyze = SystemTools.find(["/usr/bin/systemd-analyze", "systemd-analyze"])
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(.enabled(if: SystemTools.shouldRun(analyze != nil), "needs systemd-analyze (.ci/run installs systemd)"))
    func theUnitsVerify() async throws {
        let analyze = try #require(Self.analyze, "needs systemd-analyze; .ci/run installs systemd")
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // The units name /usr/local/bin/recur; verify checks that the command exists, so they point
        // at the binary under test here.
        for (source, name) in [("recur-serve.service", "recur-serve.service"), ("recur-worker@.service", "recur-worker@2.service")] {
            let text = try String(contentsOf: Self.root.appendingPathComponent("deploy/systemd/\(source)"), encoding: .utf8)
            try Data(text.replacingOccurrences(of: "/usr/local/bin/recur", with: RecurBinary.url.path).utf8).write(
                to: dir.appendingPathComponent(name)
            )
        }
        let result = try await DeployRecipeTests.run(analyze, ["verify", "./recur-serve.service", "./recur-worker@2.service"], directory: dir)
        #expect(result.status == 0 && result.output.isEmpty, "\(result.output)")
    }

    /// A datagram socket standing in for systemd's; `next` waits for one message.
    final class NotifySocket {
        let path: String
        let fd: Int32

        init(in dir: URL, name: String) throws {
            path = dir.appendingPathComponent(name).path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard fd >= 0, bound == 0 else { throw ClusterError("cannot bind a notify socket at \(path)") }
            var timeout = timeval(tv_sec: 60, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        func next() -> String? {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : nil
        }

        deinit { close(fd) }
    }

    @Test func readinessMeansListeningAndRegistered() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let serveSocket = try NotifySocket(in: cluster.dir, name: "serve.notify")
        let log = cluster.dir.appendingPathComponent("serve.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let serve = Process()
        serve.executableURL = RecurBinary.url
        serve.arguments = ["serve", "--db", cluster.database, "--listen", cluster.tcp, "--listen", cluster.unix]
        serve.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": serveSocket.path]) { $1 }
        serve.standardOutput = try FileHandle(forWritingTo: log)
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer { serve.terminate() }
        #expect(serveSocket.next() == "READY=1")
        // By then both listeners had said so.
        let printed = try String(contentsOf: log, encoding: .utf8)
        #expect(printed.components(separatedBy: "listening on").count == 3, "\(printed)")

        try await cluster.createSweep(cluster.sweepYAML(trials: 1, parallel: 1, epochs: 1))
        let workerSocket = try NotifySocket(in: cluster.dir, name: "worker.notify")
        let worker = Process()
        worker.executableURL = RecurBinary.url
        worker.arguments = [
            "worker", "--coordinator", cluster.unix, "--exit-when-done", "--cache-dir", cluster.dir.appendingPathComponent("cache").path,
        ]
        worker.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": workerSocket.path]) { $1 }
        worker.standardOutput = FileHandle.nullDevice
        worker.standardError = FileHandle.nullDevice
        try worker.run()
        defer { if worker.isRunning { worker.terminate() } }
        #expect(workerSocket.next() == "READY=1")
        #expect(try SweepStore(path: cluster.database).workers().count == 1, "READY before the coordinator knew the worker")
        await worker.ended()
        #expect(worker.terminationStatus == 0)
    }
}
