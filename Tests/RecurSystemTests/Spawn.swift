import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Child processes started with posix_spawn and reaped with waitpid by the test itself. Once
/// slurmctld, slurmd and munged run as children of the test process, a Foundation `Process`
/// started after them was never reaped (a zombie `sinfo`, a zombie `recur sweep create`, and
/// `waitUntilExit` waiting forever), so this suite starts every process itself.
///
/// Children start with no signal blocked and every disposition at its default, as from a login
/// shell or slurmd. (A child inherits the spawning thread's mask, and the test runner's threads
/// block nearly every signal: a `/bin/sh` started from them never saw SIGCHLD, and a `recur`
/// started from them had SIGTERM blocked, which hid a worker that missed it when unblocked.)
enum Spawn {
    /// Starts `path` with stdin from /dev/null and stdout and stderr to `output`.
    static func start(_ path: String, _ arguments: [String], environment: [String: String], output: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw ClusterError("cannot start \(path): error \(spawned)") }
        return pid
    }

    /// Waits for `pid` (on a thread of its own) and returns its exit status.
    static func wait(_ pid: pid_t) async -> Int32 {
        (try? await offThePool { waitBlocking(pid) }) ?? 128
    }

    /// Waits for `pid` and returns its exit status (128 + signal when killed).
    static func waitBlocking(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        // WIFEXITED and WEXITSTATUS, spelled out (they are C macros).
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Runs `path` to its end; its output goes through a file in `scratch`.
    static func run(
        _ path: String,
        _ arguments: [String],
        environment: [String: String],
        scratch: URL
    ) async throws -> (status: Int32, output: String) {
        let output = scratch.appendingPathComponent("cmd-\(UUID().uuidString).out")
        defer { try? FileManager.default.removeItem(at: output) }
        let status = await wait(try start(path, arguments, environment: environment, output: output.path))
        return (status, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// SIGTERM, up to ten seconds to exit, then SIGKILL; reaped either way.
    /// Synchronous, for `defer` blocks.
    static func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<100 {
            if waitpid(pid, &status, WNOHANG) != 0 { return }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        _ = waitBlocking(pid)
    }
}
