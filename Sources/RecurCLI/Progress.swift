import Foundation
import RecurForecast

/// Training progress: a live bar per epoch on a terminal, plain lines otherwise.
final class Progress {
    private let handle: FileHandle
    private let live: Bool
    private var lastDraw = ContinuousClock.now
    private var epochNumber = 1

    init(toStandardError: Bool) {
        handle = toStandardError ? .standardError : .standardOutput
        live = isatty(toStandardError ? 2 : 1) != 0
    }

    func note(_ line: String) { write(line + "\n") }

    func batch(done: Int, total: Int, seconds: Double, loss: Double, epochs: Int) {
        guard live else { return }
        let now = ContinuousClock.now
        guard done == total || now - lastDraw > .milliseconds(100) else { return }
        lastDraw = now
        let width = 30
        let filled = total > 0 ? width * done / total : width
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        write(
            "\r\u{1B}[2Kepoch \(epochNumber)/\(epochs) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total) windows  \(Int(rate)) samples/s  ETA \(Int(eta.rounded())) s  loss \(String(format: "%.4f", loss))"
        )
    }

    func epoch(_ report: EpochReport, of epochs: Int) {
        let line = String(
            format: "epoch %d/%d  train loss %.4f  val loss %.4f  val MAE %.3f  %.1f s  %.0f samples/s",
            report.epoch,
            epochs,
            report.trainLoss,
            report.valLoss,
            report.valMAE,
            report.seconds,
            report.samplesPerSecond
        )
        write((live ? "\r\u{1B}[2K" : "") + line + "\n")
        epochNumber = report.epoch + 1
    }

    private func write(_ text: String) { handle.write(Data(text.utf8)) }
}
