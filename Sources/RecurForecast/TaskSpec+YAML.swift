import Foundation
import Yams

extension TaskSpec {
    /// Reads a task from a YAML or JSON file.
    public static func load(path: String) throws -> TaskSpec {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ForecastError("task file \(path): cannot read it (\(error.localizedDescription))")
        }
        return try decode(yaml: text, source: path)
    }

    /// Parses YAML (JSON is YAML too); errors name the file and the field.
    public static func decode(yaml text: String, source: String) throws -> TaskSpec {
        do {
            return try YAMLDecoder().decode(TaskSpec.self, from: text)
        } catch let error as ForecastError {
            throw ForecastError("\(source): \(error.description)")
        } catch let DecodingError.dataCorrupted(context) {
            if let inner = context.underlyingError as? ForecastError { throw ForecastError("\(source): \(inner.description)") }
            if let yaml = context.underlyingError as? YamlError {
                throw ForecastError("\(source): not valid YAML: \(String(describing: yaml).split(separator: "\n").joined(separator: " "))")
            }
            throw ForecastError("\(source): \(context.debugDescription)")
        } catch let error as YamlError {
            throw ForecastError("\(source): not valid YAML: \(String(describing: error).split(separator: "\n").joined(separator: " "))")
        } catch {
            throw ForecastError("\(source): \(error)")
        }
    }
}
