import ArgumentParser
import Foundation
import RecurEngine
import RecurSweep

extension Bench {
    struct SamplerBench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sampler",
            abstract: "Suggestion latency of the samplers with 1k, 10k and 100k trials of history.",
            discussion: """
                Feeds each sampler a history of trials over the lecture space (synthetic objective), then
                times suggestions. Target: TPE p99 < 5 ms at 10k trials.

                Example:
                  .build/release/recur bench sampler --json
                """
        )

        @Option(help: "History sizes (comma-separated).") var history = "1000,10000,100000"
        @Option(help: "Methods (comma-separated): tpe, random.") var methods = "tpe,random"
        @Option(help: "Timed suggestions per size.") var suggestions = 200
        @Flag(help: "One JSON object per line.") var json = false

        func validate() throws {
            guard (1...1_000_000).contains(suggestions) else { throw ValidationError("--suggestions: \(suggestions) must be from 1 to 1000000") }
            let sizes = history.split(separator: ",").map { Int($0) }
            guard !sizes.isEmpty, sizes.allSatisfy({ (0...10_000_000).contains($0 ?? -1) }) else {
                throw ValidationError("--history: expected sizes from 0 to 10000000 like 1000,10000, got '\(history)'")
            }
        }

        func run() throws {
            let sizes = history.split(separator: ",").compactMap { Int($0) }
            let yaml = """
                name: bench
                task: {dataset: d.csv, target: y}
                search: {method: tpe, seed: 1}
                space:
                  cell: {choice: [simple_rnn, lstm, gru]}
                  depth: {int: [1, 3]}
                  units: {per_layer: {choice: [16, 32, 64]}}
                  dropout: {float: [0.0, 0.5]}
                  recurrent_dropout: {float: [0.0, 0.5]}
                  bidirectional: {choice: [false, true]}
                  learning_rate: {float: [1.0e-4, 1.0e-2], log: true}
                  batch_size: {choice: [128, 256]}
                """
            if !json { print("method  history   p50 ms   p99 ms   max ms") }
            for method in methods.split(separator: ",").map(String.init) {
                guard let m = SweepSpec.Method(rawValue: method), m != .grid else { throw CLIError("--methods: '\(method)' must be tpe or random") }
                for n in sizes {
                    var spec = try SweepSpec.parse(yaml: yaml)
                    spec.search.method = m
                    let sampler = spec.makeSampler()
                    let feeder = RandomSampler(spec: spec)
                    var rng = SeededGenerator(seed: 9)
                    for i in 0..<n {
                        let c = feeder.suggest(number: i, isTaken: { _ in false })!
                        let lr = log10(c["learning_rate"]!.doubleValue!)
                        sampler.observe(Observation(config: c, value: (lr + 2.5) * (lr + 2.5) + rng.nextUnitDouble(), pruned: i % 3 == 0))
                    }
                    let clock = ContinuousClock()
                    var times: [Double] = []
                    for k in 0..<suggestions {
                        let d = clock.measure { _ = sampler.suggest(number: n + k, isTaken: { _ in false }) }
                        times.append(Double(d.components.attoseconds) * 1e-15 + Double(d.components.seconds) * 1e3)
                    }
                    times.sort()
                    let p50 = times[times.count / 2]
                    let p99 = times[min(times.count - 1, Int(Double(times.count) * 0.99))]
                    let mx = times.last!
                    if json {
                        print(#"{"method":"\#(method)","history":\#(n),"p50_ms":\#(round3(p50)),"p99_ms":\#(round3(p99)),"max_ms":\#(round3(mx))}"#)
                    } else {
                        print(method.padding(toLength: 7, withPad: " ", startingAt: 0) + String(format: "%8d %8.3f %8.3f %8.3f", n, p50, p99, mx))
                    }
                }
            }
        }

        private func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
    }
}
