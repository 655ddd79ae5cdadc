import Foundation
import Testing

/// Runs the built `recur` binary (next to the test bundle) and captures its output.
enum RecurBinary {
    static var url: URL {
        let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidate = buildDirectory.appendingPathComponent("recur")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        // `swift test` may run the bundle from inside `.build/<triple>/debug/X.xctest`.
        return buildDirectory.deletingLastPathComponent().appendingPathComponent("recur")
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// `launcher`: a program that runs the binary (an emulator: `qemu-x86_64 -cpu Haswell`).
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil, launcher: [String] = []) async throws -> Result
    {
        try await offThePool { try runBlocking(arguments, environment: environment, directory: directory, launcher: launcher) }
    }

    private static func runBlocking(_ arguments: [String], environment: [String: String], directory: URL?, launcher: [String]) throws -> Result {
        let process = Process()
        process.executableURL = launcher.first.map { URL(fileURLWithPath: $0) } ?? url
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [url.path] + arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self)
        )
    }
}

/// Runs blocking work (waiting for a child, reading its pipes) on a thread of its own. The test
/// process has as many cooperative threads as the machine has cores (two in CI); a system test
/// that blocked one for minutes starved the async tests beside it, whose HTTP calls then missed
/// their deadlines.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

/// Polls `condition` every 0.1 s on a thread of its own and, the moment it holds, runs `action` on
/// that same thread. A test that must act while something is under way (kill a worker mid-trial)
/// acts here: on a busy 2-core machine, the hop back to the cooperative pool after a poll has come
/// only after the whole sweep had finished.
@discardableResult
func poll<T: Sendable>(
    _ what: String,
    timeout: Double,
    until condition: @escaping @Sendable () throws -> Bool,
    then action: @escaping @Sendable () throws -> T
) async throws -> T {
    try await offThePool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? condition()) == true { return try action() }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw ClusterError("timed out after \(timeout) s waiting for \(what)")
    }
}

/// Polls an async `condition` every 0.2 s until it holds (for conditions that ask a peer over
/// the network, which `poll` cannot: it runs off the pool); on timeout the error names `what`
/// and quotes `context()`, the ends of the logs that say why.
func pollAsync(_ what: String, timeout: Double, context: () -> String, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw ClusterError("timed out after \(timeout) s waiting for \(what)\n\(context())")
}

extension Process {
    /// Waits for the process to end without holding one of the test process's few threads.
    func ended() async {
        let process = UncheckedBox(self)
        _ = try? await offThePool { process.value.waitUntilExit() }
    }
}

extension Pipe {
    /// Everything written to the pipe until its writers close it, read on a thread of its own.
    func text() async -> String {
        let pipe = UncheckedBox(self)
        return (try? await offThePool { String(decoding: pipe.value.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }) ?? ""
    }
}

/// Hands a Foundation object that is not `Sendable` to the one thread that uses it next.
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
