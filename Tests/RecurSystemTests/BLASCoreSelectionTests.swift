import Foundation
import Testing

@testable import RecurCLI

@Suite(.systemTestSlot) struct BLASCoreSelectionTests {
    @Test func genericKernelOnAVX512ForcesSkylakeX() async {
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: [:]) == "SkylakeX")
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Haswell", hasAVX512: true, hasAVX2: true, environment: [:]) == "SkylakeX")
    }

    @Test func genericKernelOnAVX2ForcesHaswell() async {
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: false, hasAVX2: true, environment: [:]) == "Haswell")
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Sandybridge", hasAVX512: false, hasAVX2: true, environment: [:]) == "Haswell")
    }

    @Test func matchingKernelsAreKept() async {
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "SkylakeX", hasAVX512: true, hasAVX2: true, environment: [:]) == nil)
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Haswell", hasAVX512: false, hasAVX2: true, environment: [:]) == nil)
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Zen", hasAVX512: false, hasAVX2: true, environment: [:]) == nil)
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: false, hasAVX2: false, environment: [:]) == nil)
    }

    @Test func userChoiceAndRestartMarkerWin() async {
        #expect(
            BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: ["OPENBLAS_CORETYPE": "Haswell"])
                == nil
        )
        #expect(
            BLASCoreSelection.environmentForRestart(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: ["RECUR_BLAS_REEXEC": "1"])
                .isEmpty
        )
    }

    @Test func restartPinsOneBLASThreadUnlessChosen() async {
        #expect(
            BLASCoreSelection.environmentForRestart(coreName: "SkylakeX", hasAVX512: true, hasAVX2: true, environment: [:]) == [
                "OPENBLAS_NUM_THREADS": "1"
            ]
        )
        #expect(
            BLASCoreSelection.environmentForRestart(coreName: "SkylakeX", hasAVX512: true, hasAVX2: true, environment: ["OPENBLAS_NUM_THREADS": "2"])
                .isEmpty
        )
        #expect(
            BLASCoreSelection.environmentForRestart(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: [:])
                == ["OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": "SkylakeX"]
        )
    }

    /// The built binary really runs on the chosen kernel (on machines where the decision applies).
    /// `bench engine --json` prints one object per case with the pinned keys (and the BLAS kernel
    /// it ran on), for all five lecture models.
    @Test func benchJSONHasThePinnedKeysAndTheKernel() async throws {
        let result = try await RecurBinary.run([
            "bench", "engine", "--features", "1,2", "--batch", "4", "--seq-len", "3", "--steps", "1", "--warmup", "0", "--json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let objects = try result.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(objects.count == 10)
        for o in objects {
            for key in ["model", "features", "batch", "seq_len", "threads", "samples_per_sec", "blas_kernel"] {
                #expect(o[key] != nil, "missing \(key) in \(o)")
            }
            #expect(o["threads"] as? Int == 1 && o["batch"] as? Int == 4 && o["seq_len"] as? Int == 3 && (o["samples_per_sec"] as? Double ?? 0) > 0)
        }
        #expect(Set(objects.compactMap { $0["model"] as? String }) == ["simple_rnn", "lstm", "gru", "stacked_gru", "bilstm"])
        #expect(Set(objects.compactMap { $0["features"] as? Int }) == [1, 2])
    }
}
