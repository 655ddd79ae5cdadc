import Foundation
import RecurStore
import Testing

/// `recur run`: embedded coordinator, worker processes, progress, leaderboard, resume.
@Suite struct RunCommandTests {
    @Test func runsASweepToItsLeaderboardAndResumes() throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try Data(cluster.sweepYAML(name: "local", trials: 4, parallel: 2, epochs: 2).utf8).write(to: cluster.dir.appendingPathComponent("local.yaml"))
        let first = try RecurBinary.run(["run", "local.yaml", "--workers", "2", "--db", "runs/r.db"], directory: cluster.dir)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("sweep local: random search, up to 4 trials"))
        #expect(first.stdout.contains("4/4 trials: 4 done"))
        #expect(first.stdout.contains("rank  trial  cell"))
        #expect(first.stdout.contains("baselines (load): persistence val"))
        let store = try SweepStore(path: cluster.dir.appendingPathComponent("runs/r.db").path)
        try checkCompletedExactlyOnce(store, sweep: "local", trials: 4)
        let again = try RecurBinary.run(["run", "local.yaml", "--workers", "1", "--db", "runs/r.db"], directory: cluster.dir)
        #expect(again.status == 0 && again.stdout.contains("resuming sweep local"))
    }

    @Test func aDifferentDefinitionUnderTheSameNameIsRefused() throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try Data(cluster.sweepYAML(name: "local", trials: 1, parallel: 1, epochs: 1).utf8).write(to: cluster.dir.appendingPathComponent("a.yaml"))
        try Data(cluster.sweepYAML(name: "local", trials: 2, parallel: 1, epochs: 1).utf8).write(to: cluster.dir.appendingPathComponent("b.yaml"))
        #expect(try RecurBinary.run(["run", "a.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir).status == 0)
        let clash = try RecurBinary.run(["run", "b.yaml", "--workers", "1", "--db", "r.db"], directory: cluster.dir)
        #expect(clash.status == 1 && clash.stderr.contains("already has a sweep named 'local' with another definition"))
    }
}
