import Foundation
import RecurEngine

/// A seeded generator of a Jena-like multivariate weather series: 14 features every 10 minutes,
/// with yearly and daily cycles, slowly varying weather anomalies (AR(1)) and measurement noise,
/// and physically linked columns (dew point, humidity, vapour pressures, air density).
/// For scale tests; it is not real weather.
public enum SyntheticWeather {
    public static let columns = [
        "p_mbar", "T_degC", "Tpot_K", "Tdew_degC", "rh_pct", "VPmax_mbar", "VPact_mbar", "VPdef_mbar",
        "sh_g_kg", "H2OC_mmol_mol", "rho_g_m3", "wv_m_s", "max_wv_m_s", "wd_deg",
    ]
    /// The Jena climate record's length (2009–2016 at 10 minutes).
    public static let maximumRows = 420_551
    /// 2009-01-01T00:10 UTC.
    public static let start: Int64 = 1_230_768_600
    public static let step: Int64 = 600

    /// Writes `rows` rows as CSV (header `timestamp,p_mbar,…`) to `handle`.
    public static func write(rows: Int, seed: UInt64, to handle: FileHandle) throws {
        var rng = SeededGenerator(seed: seed)
        var pressureAnomaly = 0.0
        var tempAnomaly = 0.0
        var dryness = 4.0
        var wind = 2.0
        var direction = 200.0
        var buffer = "timestamp," + columns.joined(separator: ",") + "\n"
        func noise(_ s: Double) -> Double { rng.nextNormal() * s }
        for i in 0..<rows {
            let t = start + Int64(i) * step
            let day = Double(t - start) / 86400
            let hour = Double((t % 86400)) / 3600
            let season = sin(2 * .pi * (day - 110) / 365.25)
            pressureAnomaly = 0.9995 * pressureAnomaly + noise(0.12)
            tempAnomaly = 0.999 * tempAnomaly + noise(0.09)
            dryness = max(0.2, 0.998 * dryness + 0.002 * (4 + 2 * season) + noise(0.05))
            wind = max(0, 0.995 * wind + 0.005 * 2.2 + noise(0.12))
            direction = (direction + noise(3) + 360).truncatingRemainder(dividingBy: 360)
            let dailyAmplitude = 4 + 2.5 * season
            let temperature = 9.5 + 9 * season + dailyAmplitude * sin(2 * .pi * (hour - 9) / 24) + tempAnomaly + noise(0.05)
            let pressure = 989 + pressureAnomaly - 0.05 * temperature + noise(0.05)
            let dew = temperature - dryness * (1 + 0.4 * sin(2 * .pi * (hour - 9) / 24))
            func saturation(_ c: Double) -> Double { 6.1078 * exp(17.27 * c / (c + 237.3)) }
            let vpMax = saturation(temperature)
            let vpAct = min(vpMax, saturation(dew))
            let humidity = 100 * vpAct / vpMax
            let kelvin = temperature + 273.15
            let values = [
                pressure, temperature, kelvin * pow(1000 / pressure, 0.286), dew, humidity, vpMax, vpAct, vpMax - vpAct,
                622 * vpAct / (pressure - 0.378 * vpAct), 1000 * vpAct / pressure, pressure * 100 / (287.05 * kelvin) * 1000,
                wind, wind * 1.6 + abs(noise(0.4)), direction,
            ]
            buffer += Timestamp.format(t)
            for v in values { buffer += "," + String(format: "%.2f", v) }
            buffer += "\n"
            if buffer.utf8.count > 1 << 20 {
                try handle.write(contentsOf: Data(buffer.utf8))
                buffer = ""
            }
        }
        try handle.write(contentsOf: Data(buffer.utf8))
    }
}
