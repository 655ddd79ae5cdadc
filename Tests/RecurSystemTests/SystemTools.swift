import Foundation

/// The outside tools system tests need. Elsewhere a test without its tool is skipped with a
/// message; in CI (`CI=true`, where `.ci/run` installs every tool) it runs and fails instead, so
/// a missing install step can never pass as a skip.
enum SystemTools {
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// Whether a test needing a tool should run: when the tool is there, and always in CI.
    static func shouldRun(_ available: Bool) -> Bool { available || inCI }

    /// The first executable among `candidates` (absolute paths, or names looked up on PATH).
    static func find(_ candidates: [String]) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for candidate in candidates where !candidate.isEmpty {
            if candidate.hasPrefix("/") {
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            } else if let dir = path.first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(candidate)") }) {
                return "\(dir)/\(candidate)"
            }
        }
        return nil
    }
}
