import ArgumentParser
import Foundation
import RecurSweep
import Yams

extension Sweep {
    /// `recur sweep enqueue NAME --params …` or `--file F`.
    struct Enqueue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue configurations you already believe in; they are leased before sampled ones.",
            discussion: """
                Each configuration is checked against the sweep's space (every problem is named);
                one the sweep already has is skipped. They count toward max_trials. Per-layer values
                are a list, or one value for every layer. --file takes a YAML list of mappings.

                Examples:
                  recur sweep enqueue lecture --params cell=gru,depth=2,units=[64,32],dropout=0.1,recurrent_dropout=0,bidirectional=false,learning_rate=0.002,batch_size=256
                  recur sweep enqueue lecture --file picks.yaml
                """
        )

        @Argument(help: "Sweep name.") var name: String
        @Option(help: "One configuration: NAME=VALUE pairs separated by commas (repeatable).") var params: [String] = []
        @Option(help: "A YAML file holding a list of configurations.") var file: String?
        @OptionGroup var connection: ConnectionOptions

        func validate() throws {
            if params.isEmpty && file == nil { throw ValidationError("give --params NAME=VALUE,… or --file FILE") }
        }

        func run() async throws {
            var configs: [TrialConfig] = []
            do {
                for p in params { configs.append(TrialConfig(try TrialConfig.parse(params: p))) }
            } catch let error as SweepSpecError { throw CLIError(error.description) }
            if let file { configs += try Self.read(file) }
            let answer = try await connection.with { try await $0.enqueue(sweep: name, configs: configs) }
            print(
                "queued \(answer.queued) configuration(s) for sweep \(name)"
                    + (answer.duplicates == 0 ? "" : "; \(answer.duplicates) skipped (the sweep already has them)")
            )
        }

        /// A YAML list of mappings, each a configuration.
        static func read(_ path: String) throws -> [TrialConfig] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw CLIError("--file \(path): cannot read it") }
            let node: Node?
            do { node = try Yams.compose(yaml: text) } catch { throw CLIError("--file \(path): not YAML (\(error))") }
            guard case .sequence(let items)? = node else {
                throw CLIError("--file \(path): expected a list of configurations, e.g. - {cell: gru, units: 64}")
            }
            return try items.enumerated().map { i, item in
                guard case .mapping(let m) = item else { throw CLIError("--file \(path): item \(i) is not a mapping of parameter: value") }
                var values: [String: ParameterValue] = [:]
                for (k, v) in m {
                    guard let key = k.string else { throw CLIError("--file \(path): item \(i) has a key that is not text") }
                    values[key] = try value(v, path: "\(path): item \(i).\(key)")
                }
                return TrialConfig(values)
            }
        }

        static func value(_ node: Node, path: String) throws -> ParameterValue {
            switch node {
            case .scalar(let s): return TrialConfig.parseValue(s.string)
            case .sequence(let items): return .list(try items.map { try value($0, path: path) })
            default: throw CLIError("\(path): expected a value or a list")
            }
        }
    }
}
