import Foundation
import RecurEngine
import Testing

/// The default build runs on any x86-64-v3 CPU and refuses an older one with one line, before
/// `main`: checked on CPUs emulated by qemu-user, which executes only the instructions the named
/// CPU has (an AVX-512 instruction under `-cpu Haswell` would be SIGILL). `.ci/run` installs it.
@Suite(.systemTestSlot) struct PortableBinaryTests {
    static let qemu = SystemTools.find(["/usr/bin/qemu-x86_64", "qemu-x86_64"])

    static func emulated(_ cpu: String, _ arguments: [String], directory: URL? = nil) async throws -> RecurBinary.Result {
        // The CPU OpenBLAS would pick on a Haswell, so the binary never re-executes itself outside the emulator.
        var r = try await RecurBinary.run(
            arguments,
            environment: ["OPENBLAS_CORETYPE": "Haswell"],
            directory: directory,
            launcher: [qemu!, "-cpu", cpu]
        )
        // qemu's own notes about CPUID bits it cannot emulate are not the binary's.
        r.stderr = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("qemu-x86_64:") }.joined(separator: "\n")
        return r
    }

    /// A CPU without AVX (Westmere) gets one line naming what it lacks and exit 1, not SIGILL.
    @Test(.enabled(if: SystemTools.shouldRun(qemu != nil), "needs qemu-user (.ci/run installs it)"))
    func aCPUBelowTheBaselineGetsOneLine() async throws {
        try #require(Self.qemu != nil, "needs qemu-user; .ci/run installs it")
        try #require(BuildInfo.cpuTarget != "other", "this build names no CPU target")
        let r = try await Self.emulated("Westmere", ["--version"])
        #expect(r.status == 1, "\(r.stdout) \(r.stderr)")
        #expect(
            r.stderr.split(separator: "\n").count == 1 && r.stderr.contains("this CPU lacks avx") && r.stderr.contains("RECUR_TARGET_CPU=native"),
            "\(r.stderr)"
        )
        #expect(r.stdout.isEmpty)
    }

    /// The default build (haswell, the x86-64-v3 level) trains and predicts on a Haswell: the
    /// engine's kernels use AVX2 and FMA, never AVX-512. The answer matches this machine's.
    @Test(.enabled(if: SystemTools.shouldRun(qemu != nil), "needs qemu-user (.ci/run installs it)"))
    func theDefaultBuildRunsOnAnX86_64_v3CPU() async throws {
        try #require(Self.qemu != nil, "needs qemu-user; .ci/run installs it")
        guard BuildInfo.cpuTarget.hasPrefix("haswell") else {
            // A native or AVX-512 build is meant for its own machine; refusing a Haswell is right.
            let r = try await Self.emulated("Haswell", ["--version"])
            #expect(r.status == 1 && r.stderr.contains("lacks"), "\(r.stderr)")
            return
        }
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = #"{"input_features": 3, "layers": [{"type": "lstm", "units": 16}, {"type": "dense", "units": 2}]}"#
        try Data(spec.utf8).write(to: dir.appendingPathComponent("spec.json"))
        let created = try await Self.emulated(
            "Haswell",
            ["engine", "init", "--spec", "spec.json", "--seed", "5", "--output", "m.safetensors"],
            directory: dir
        )
        #expect(created.status == 0, "\(created.stderr)")
        var rng = SeededGenerator(seed: 2)
        let x = NumPyArray(shape: [4, 6, 3], values: (0..<72).map { _ in Float(rng.nextNormal()) })
        try x.encoded().write(to: dir.appendingPathComponent("x.npy"))
        let forward = try await Self.emulated(
            "Haswell",
            ["engine", "forward", "--checkpoint", "m.safetensors", "--input", "x.npy", "--output", "y.npy"],
            directory: dir
        )
        #expect(forward.status == 0, "\(forward.stderr)")
        let y = try NumPyArray.decode(Data(contentsOf: dir.appendingPathComponent("y.npy")))
        let (model, _) = try Checkpoint.load(from: dir.appendingPathComponent("m.safetensors"))
        let expected = try model.predict(x.values, count: 4, steps: 6)
        #expect(y.shape == [4, 2] && zip(expected, y.values).allSatisfy { abs($0 - $1) <= 1e-5 })
        let version = try await Self.emulated("Haswell", ["--version"])
        #expect(version.status == 0 && version.stdout.contains("haswell (x86-64-v3)"), "\(version.stdout) \(version.stderr)")
    }
}
