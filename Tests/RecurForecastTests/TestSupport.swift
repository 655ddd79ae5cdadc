import Foundation

@testable import RecurForecast

/// An hourly series with the target `y` and a daily-cycle feature `c = cos(2πt/24)`.
func hourlySeries(rows: Int, y: (Int) -> Double) -> TimeSeries {
    TimeSeries(
        columns: ["y", "c"],
        timestamps: (0..<rows).map { Int64($0) * 3600 },
        values: (0..<rows).flatMap { [y($0), cos(Double($0) * 2 * .pi / 24)] },
        step: 3600,
        interpolatedRows: 0
    )
}
