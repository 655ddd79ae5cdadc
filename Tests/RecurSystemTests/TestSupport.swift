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
    static func run(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil, launcher: [String] = []) throws -> Result {
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

/// A fresh temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("recur-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
