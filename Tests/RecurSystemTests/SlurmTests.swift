import Foundation
import GRDB
import RecurStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A one-node Slurm cluster in a temporary directory — its own munged, slurmctld and slurmd, on
/// free ports, all in the foreground so the test owns and stops them.
final class SlurmCluster {
    static let tools = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol"].map {
        SystemTools.find([$0, "/usr/sbin/\($0)", "/usr/bin/\($0)"])
    }
    /// Slurm's daemons run as root here (SlurmUser=root).
    static var available: Bool { tools.allSatisfy { $0 != nil } && getuid() == 0 }
    static func tool(_ name: String) -> String { SystemTools.find([name, "/usr/sbin/\(name)", "/usr/bin/\(name)"]) ?? name }

    let dir: URL
    var conf: String { dir.appendingPathComponent("slurm.conf").path }
    private var daemons: [pid_t] = []

    init(dir: URL, cpus: Int) async throws {
        self.dir = dir
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("state"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("spool"), withIntermediateDirectories: true)
        var key = [UInt8](repeating: 0, count: 1024)
        for i in key.indices { key[i] = UInt8.random(in: 0...255) }
        let keyFile = dir.appendingPathComponent("munge.key")
        try Data(key).write(to: keyFile)
        chmod(keyFile.path, 0o600)
        // slurmd finds its node by the short host name; everything talks over loopback.
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        let bytes = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let host = String(decoding: bytes, as: UTF8.self).split(separator: ".").first.map(String.init) ?? "localhost"
        let d = dir.path
        let text = """
            ClusterName=recur
            SlurmctldHost=\(host)(127.0.0.1)
            SlurmUser=root
            SlurmdUser=root
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket=\(d)/munge.sock
            StateSaveLocation=\(d)/state
            SlurmdSpoolDir=\(d)/spool
            SlurmctldPidFile=\(d)/slurmctld.pid
            SlurmdPidFile=\(d)/slurmd.pid
            SlurmctldPort=\(Cluster.freePort())
            SlurmdPort=\(Cluster.freePort())
            SlurmctldLogFile=\(d)/slurmctld.log
            SlurmdLogFile=\(d)/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            SchedulerType=sched/backfill
            ReturnToService=2
            MpiDefault=none
            JobCompType=jobcomp/none
            AccountingStorageType=accounting_storage/none
            KillWait=60
            SlurmdParameters=config_overrides
            NodeName=\(host) NodeAddr=127.0.0.1 CPUs=\(cpus) RealMemory=1000 State=UNKNOWN
            PartitionName=debug Nodes=\(host) Default=YES MaxTime=INFINITE State=UP

            """
        try Data(text.utf8).write(to: URL(fileURLWithPath: conf))
        try start(
            "munged",
            [
                "--foreground", "--force", "--socket=\(d)/munge.sock", "--key-file=\(d)/munge.key", "--pid-file=\(d)/munged.pid",
                "--log-file=\(d)/munged.log", "--seed-file=\(d)/munged.seed",
            ]
        )
        try await wait("munged's socket") { FileManager.default.fileExists(atPath: "\(d)/munge.sock") }
        try start("slurmctld", ["-D", "-f", conf])
        try start("slurmd", ["-D", "-f", conf])
        try await wait("the node to be idle") { try await self.run("sinfo", ["-h", "-o", "%T"]).output.contains("idle") }
    }

    private func start(_ name: String, _ arguments: [String]) throws {
        daemons.append(
            try Spawn.start(Self.tool(name), arguments, environment: environment(), output: dir.appendingPathComponent("\(name).out").path)
        )
    }

    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SLURM_CONF"] = conf
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Runs a Slurm client command against this cluster.
    @discardableResult
    func run(_ name: String, _ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        try await Spawn.run(Self.tool(name), arguments, environment: environment(extra), scratch: dir)
    }

    func wait(_ what: String, timeout: Double = 60, _ condition: () async throws -> Bool) async throws {
        try await pollAsync(
            what,
            timeout: timeout,
            context: {
                ["slurmctld.log", "slurmd.log", "munged.log"].map { name in
                    "\(name): " + ((try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? "").suffix(1500)
                }.joined(separator: "\n")
            },
            condition
        )
    }

    /// `scontrol show job` fields of array task `task` of job `job`.
    func jobFields(_ job: String, task: Int) async throws -> [String: String] {
        let text = try await run("scontrol", ["show", "job", "-o", "\(job)_\(task)"]).output
        var fields: [String: String] = [:]
        for part in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        return fields
    }

    /// Stops every daemon this cluster started (slurmd first), and reaps them.
    func stop() {
        for pid in daemons.reversed() { Spawn.stop(pid) }
    }
}

/// `deploy/slurm/recur-workers.sbatch` on a real (one-node) Slurm cluster: a job array of four
/// workers trains a sweep; `scancel` of one task mid-trial hands its trial back, which finishes
/// elsewhere; the other tasks exit 0 when the sweep is done.
@Suite(.serialized, .systemTestSlot) struct SlurmTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(.enabled(if: SystemTools.shouldRun(SlurmCluster.available), "needs slurm-wlm and munge, as root (.ci/run installs them)"))
    func aJobArrayTrainsTheSweepAndScancelReleasesATrial() async throws {
        try #require(SlurmCluster.available, "needs slurm-wlm and munge, run as root; .ci/run installs them")
        let cluster = try Cluster(rows: 4000)
        defer { cluster.stopAll() }
        let slurm = try await SlurmCluster(dir: cluster.dir.appendingPathComponent("slurm"), cpus: 4)
        defer { slurm.stop() }
        let env = ProcessInfo.processInfo.environment
        let serve = try Spawn.start(
            RecurBinary.url.path,
            ["serve", "--db", cluster.database, "--listen", cluster.tcp, "--listen", cluster.unix],
            environment: env,
            output: cluster.dir.appendingPathComponent("serve.log").path
        )
        defer { Spawn.stop(serve) }
        try await slurm.wait("the coordinator to listen") { cluster.log("serve.log").components(separatedBy: "listening on").count > 2 }
        // `recur sweep create` runs in the test's directory: the dataset is named by its full path.
        // 40 epochs: with 12 the sweep once ended (4.5 s) before the test, sharing two cores with
        // other suites, got to its scancel.
        let yaml = cluster.sweepYAML(name: "it", trials: 8, parallel: 4, epochs: 40, units: 16, length: 48)
            .replacingOccurrences(of: "dataset: series.csv", with: "dataset: \(cluster.dir.path)/series.csv")
        try Data(yaml.utf8).write(
            to: cluster.dir.appendingPathComponent("sweep.yaml")
        )
        let created = try await Spawn.run(
            RecurBinary.url.path,
            [
                "sweep", "create", cluster.dir.appendingPathComponent("sweep.yaml").path, "--coordinator", cluster.tcp, "--token-file",
                cluster.tokenFile,
            ],
            environment: env,
            scratch: cluster.dir
        )
        try #require(created.status == 0, "\(created.output)")
        let submitted = try await slurm.run(
            "sbatch",
            [
                "--parsable", "--array=0-3", "--cpus-per-task=1", "--chdir=\(cluster.dir.path)", "--output=\(cluster.dir.path)/w-%a.log",
                Self.root.appendingPathComponent("deploy/slurm/recur-workers.sbatch").path,
            ],
            environment: [
                "RECUR_COORDINATOR": cluster.tcp, "RECUR_TOKEN_FILE": cluster.tokenFile, "RECUR_BIN": RecurBinary.url.path,
                "RECUR_CACHE_DIR": cluster.dir.appendingPathComponent("cache").path,
            ]
        )
        #expect(submitted.status == 0, "\(submitted.output)")
        let job = submitted.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        // Four workers train at once; then one is cancelled mid-trial.
        try await slurm.wait("four running attempts") { try cluster.count("SELECT COUNT(*) FROM attempts WHERE state = 'running'") == 4 }
        try await cluster.waitForReports(4)
        let victim = try await #require(try slurm.jobFields(job, task: 2)["JobState"] == "RUNNING" ? 2 : nil)
        let before = Set(try cluster.store().runningAttempts().map { $0.id! })
        try await slurm.run("scancel", ["\(job)_\(victim)"])
        try await slurm.wait("the cancelled task's trial to be released", timeout: 90) {
            try cluster.count("SELECT COUNT(*) FROM attempts WHERE state = 'released'") == 1
        }
        try await cluster.waitFor("the sweep to finish", timeout: 240) { try cluster.sweepState() == .done }
        try await slurm.wait("every array task to end", timeout: 60) {
            try await slurm.run("squeue", ["-h", "-j", job]).output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        }
        // The released attempt was one of those running; its trial finished on another worker.
        let released = try cluster.store().writer.read { db in
            try Row.fetchOne(db, sql: "SELECT id, trial_id, worker_id FROM attempts WHERE state = 'released'")
        }
        let releasedTrial: Int64 = try #require(released?["trial_id"])
        let releasedWorker: String = try #require(released?["worker_id"])
        #expect(before.contains(try #require(released?["id"] as Int64?)))
        #expect(
            try cluster.count(
                "SELECT COUNT(*) FROM attempts WHERE trial_id = \(releasedTrial) AND state = 'succeeded' AND worker_id != '\(releasedWorker)'"
            ) == 1
        )
        #expect(try cluster.count("SELECT COUNT(*) FROM trials WHERE state = 'completed'") == 8)
        #expect(try cluster.count("SELECT COUNT(*) FROM attempts WHERE state IN ('failed', 'lost')") == 0, "a release uses no retry")
        #expect(try cluster.count("SELECT COUNT(DISTINCT worker_id) FROM attempts") == 4, "four array tasks, four workers")
        // Every other task exited 0 once no work was left.
        for task in [0, 1, 2, 3] where task != victim {
            let fields = try await slurm.jobFields(job, task: task)
            #expect(fields["JobState"] == "COMPLETED" && fields["ExitCode"] == "0:0", "task \(task): \(fields)")
        }
        let cancelled = try await slurm.jobFields(job, task: victim)
        #expect(cancelled["JobState"] == "CANCELLED", "\(cancelled)")
    }
}
