import Foundation
import Testing

/// At most as many system tests at once as the machine has cores (two at least). Each one starts
/// a coordinator, workers, Chromium or Slurm; sixty of them at once on a 2-core CI machine left
/// coordinators unable to listen within 30 s. Tests wait for a slot without holding a thread.
struct SystemTestSlot: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    /// Only each test case takes a slot, not the suite around it.
    func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil || test.isSuite ? nil : self
    }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        await SystemTestSlots.shared.acquire()
        do {
            try await function()
        } catch {
            await SystemTestSlots.shared.release()
            throw error
        }
        await SystemTestSlots.shared.release()
    }
}

extension Trait where Self == SystemTestSlot {
    /// Runs the suite's tests as at most `cores` system tests at once (see ``SystemTestSlot``).
    static var systemTestSlot: Self { Self() }
}

/// A counting semaphore for ``SystemTestSlot``, first come first served.
actor SystemTestSlots {
    static let shared = SystemTestSlots(width: max(2, ProcessInfo.processInfo.activeProcessorCount))

    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(width: Int) { free = width }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}
