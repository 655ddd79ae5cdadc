import ArgumentParser
import Foundation
import RecurForecast
import RecurSweep

extension Sweep {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check sweep files and print every problem with its YAML path; the task is also checked against its dataset when that file is here.",
            discussion: """
                Exits with status 1 when any file has a problem, e.g.
                  sweeps/x.yaml: space.dropout.float[1]: 1.5 must be < 1

                Example:
                  recur sweep validate sweeps/*.yaml
                """
        )

        @Argument(help: "Sweep files (YAML).") var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("give at least one sweep file") }
        }

        func run() throws {
            var failed = 0
            for file in files {
                do {
                    let (spec, _) = try SweepSpec.load(path: file)
                    let grid = spec.search.method == .grid ? ", \(GridSampler.distinctSize(of: spec)) grid points" : ""
                    // The task against its data, when the data is here (the coordinator reads it from its own directory).
                    var data = "; \(spec.task.dataset) not found here, so the task was not checked against it"
                    if FileManager.default.fileExists(atPath: spec.task.dataset) {
                        do {
                            let task = try PreparedTask.load(spec.task)
                            data = "; task checked on \(spec.task.dataset): \(task.featureCount) features"
                        } catch let error as ForecastError {
                            failed += 1
                            FileHandle.standardError.write(Data("\(file): \(error.description)\n".utf8))
                            continue
                        }
                    }
                    print(
                        "\(file): ok — \(spec.name): \(spec.space.count) parameters, \(spec.search.method.rawValue) search, up to \(spec.search.maxTrials) trials\(grid)\(data)"
                    )
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
