import Testing

@testable import RecurCLI

@Suite struct BLASCoreSelectionTests {
    @Test func genericKernelOnAVX512ForcesSkylakeX() {
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: [:]) == "SkylakeX")
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Haswell", hasAVX512: true, hasAVX2: true, environment: [:]) == "SkylakeX")
    }

    @Test func genericKernelOnAVX2ForcesHaswell() {
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: false, hasAVX2: true, environment: [:]) == "Haswell")
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Sandybridge", hasAVX512: false, hasAVX2: true, environment: [:]) == "Haswell")
    }

    @Test func matchingKernelsAreKept() {
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "SkylakeX", hasAVX512: true, hasAVX2: true, environment: [:]) == nil)
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Haswell", hasAVX512: false, hasAVX2: true, environment: [:]) == nil)
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Zen", hasAVX512: false, hasAVX2: true, environment: [:]) == nil)
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: false, hasAVX2: false, environment: [:]) == nil)
    }

    @Test func userChoiceAndRestartMarkerWin() {
        #expect(BLASCoreSelection.coreTypeToForce(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: ["OPENBLAS_CORETYPE": "Haswell"]) == nil)
        #expect(BLASCoreSelection.environmentForRestart(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: ["RECUR_BLAS_REEXEC": "1"]).isEmpty)
    }

    @Test func restartPinsOneBLASThreadUnlessChosen() {
        #expect(BLASCoreSelection.environmentForRestart(coreName: "SkylakeX", hasAVX512: true, hasAVX2: true, environment: [:]) == ["OPENBLAS_NUM_THREADS": "1"])
        #expect(BLASCoreSelection.environmentForRestart(coreName: "SkylakeX", hasAVX512: true, hasAVX2: true, environment: ["OPENBLAS_NUM_THREADS": "2"]).isEmpty)
        #expect(BLASCoreSelection.environmentForRestart(coreName: "Prescott", hasAVX512: true, hasAVX2: true, environment: [:])
            == ["OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": "SkylakeX"])
    }

    /// The built binary really runs on the chosen kernel (on machines where the decision applies).
    @Test func binaryReportsTheKernelItRunsOn() throws {
        let result = try RecurBinary.run(["bench", "engine", "--models", "simple_rnn", "--features", "1", "--batch", "8", "--seq-len", "4", "--steps", "1", "--warmup", "0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"blas_kernel\""))
        #expect(result.stdout.contains("\"samples_per_sec\""))
    }
}
