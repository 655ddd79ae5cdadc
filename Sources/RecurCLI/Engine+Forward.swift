import ArgumentParser
import Foundation
import RecurEngine

extension Engine {
    struct Forward: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run inference (dropout off) on a NumPy array.",
            discussion: """
                Reads X.npy [B, T, F] (float32 or float64, C order) and writes float32 Y.npy [B, out],
                or [B, T, out] when the model's last recurrent layer returns sequences (a Dense after it
                applies at every step, as in Keras).

                Example:
                  recur engine forward --checkpoint model.safetensors --input x.npy --output y.npy
                """
        )

        @Option(help: "Checkpoint (.safetensors) written by Recur.") var checkpoint: String
        @Option(help: "Input array [B, T, F] (.npy).") var input: String
        @Option(help: "Where to write the output array (.npy).") var output: String
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try OutputPath.check(output, option: "--output", example: "out.npy", inputs: [checkpoint, input])
            TrainingThread.prepare()
            let (model, _) = try Checkpoint.load(from: URL(fileURLWithPath: checkpoint))
            let bytes: Data
            do { bytes = try Data(contentsOf: URL(fileURLWithPath: input)) } catch {
                throw CLIError("cannot read input \(input): \(error.localizedDescription)")
            }
            let x = try NumPyArray.decode(bytes)
            let f = model.spec.inputFeatures
            guard x.shape.count == 3 else {
                throw CLIError("input \(input) has shape \(x.shape); expected [batch, timesteps, \(f)]")
            }
            guard x.shape[2] == f else {
                throw CLIError("input \(input) has \(x.shape[2]) features per step; the model expects \(f)")
            }
            guard x.shape[1] > 0 else { throw CLIError("input \(input) has no timesteps") }
            let (b, t) = (x.shape[0], x.shape[1])
            let y = try model.predict(x.values, count: b, steps: t)
            let out = model.spec.output
            let shape = out.isSequence ? [b, t, out.channels] : [b, out.channels]
            do {
                try NumPyArray(shape: shape, values: y).encoded().write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw CLIError("cannot write \(output): \(error.localizedDescription)")
            }
        }
    }
}
