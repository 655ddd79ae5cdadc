import ArgumentParser
import Foundation
import RecurSweep

extension Sweep {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check sweep files and print every problem with its YAML path.",
            discussion: """
                Exits with status 1 when any file has a problem, e.g.
                  sweeps/x.yaml: space.dropout.float[1]: 1.5 must be < 1

                Example:
                  recur sweep validate sweeps/*.yaml
                """)

        @Argument(help: "Sweep files (YAML).") var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one sweep file") }
        }

        func run() throws {
            var failed = 0
            for file in files {
                do {
                    let (spec, _) = try SweepSpec.load(path: file)
                    let grid = spec.search.method == .grid ? ", \(GridSampler.size(of: spec)) grid points" : ""
                    print("\(file): ok — \(spec.name): \(spec.space.count) parameters, \(spec.search.method.rawValue) search, up to \(spec.search.maxTrials) trials\(grid)")
                } catch let error as SweepSpecError {
                    failed += 1
                    FileHandle.standardError.write(Data((error.description + "\n").utf8))
                }
            }
            if failed > 0 {
                FileHandle.standardError.write(Data("\(failed) of \(files.count) file(s) have problems\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
