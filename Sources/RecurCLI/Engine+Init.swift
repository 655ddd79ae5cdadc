import ArgumentParser
import Foundation
import RecurEngine

extension Engine {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a freshly initialized model (Keras default initializers) as a checkpoint.",
            discussion: """
                The spec is the model JSON, e.g.
                  {"input_features": 13, "layers": [{"type": "gru", "units": 32}, {"type": "dense", "units": 1}]}

                Example:
                  recur engine init --spec gru.json --seed 1 --output gru.safetensors
                """
        )

        @Option(help: "Model spec JSON file.") var spec: String
        @Option(help: "Seed for the initial weights.") var seed: UInt64 = 0
        @Option(help: "Checkpoint to write (.safetensors).") var output: String
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try OutputPath.check(output, option: "--output", example: "model.safetensors", inputs: [spec])
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: spec)) } catch {
                throw CLIError("cannot read spec file \(spec): \(error.localizedDescription)")
            }
            let modelSpec = try ModelSpec.parse(json: data)
            let model = try SequentialModel(spec: modelSpec, seed: seed)
            do {
                try Checkpoint.save(model, to: URL(fileURLWithPath: output), metadata: ["seed": String(seed)])
            } catch {
                throw CLIError("cannot write \(output): \(error.localizedDescription)")
            }
            print("wrote \(output): \(model.parameters.count) parameters in \(model.parameters.slots.count) tensors")
        }
    }
}
