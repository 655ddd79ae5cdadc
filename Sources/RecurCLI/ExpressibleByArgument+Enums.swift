import ArgumentParser
import Logging
import RecurEngine
import RecurForecast
import RecurStore

// Options whose values are the library's own enums: the parser lists the accepted values in
// `--help` and refuses others with one line naming the option.

extension CellKind: ExpressibleByArgument {}
extension OptimizerConfig.Kind: ExpressibleByArgument {}
extension EarlyStopping.Monitor: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
extension TokenRole: ExpressibleByArgument {}

extension Loss: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { ["mse", "mae", "huber"] }
    public var defaultValueDescription: String { name }
}
