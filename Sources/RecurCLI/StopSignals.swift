import CRecurSupport
import Foundation

/// SIGINT/SIGTERM for long-running commands, delivered on a thread of their own.
///
/// Not a `DispatchSource`: on Linux it reads a signalfd, which sees a signal only while every
/// thread blocks it, and OpenBLAS starts threads before `main`. Measured: a backgrounded
/// `recur worker` that used one ignored SIGTERM and trained its trial to the end. A plain
/// handler writes to a pipe instead, and this thread reads it.
enum StopSignals {
    /// Calls `handler` with each signal's number, in order, from a dedicated thread.
    static func watch(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) throws {
        let fd = signals.withUnsafeBufferPointer { recur_signal_pipe($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw CLIError("cannot install the signal handlers (\(String(cString: strerror(errno))))") }
        let thread = Thread {
            var byte: UInt8 = 0
            while true {
                let n = read(fd, &byte, 1)
                if n == 1 {
                    handler(Int32(byte))
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    return
                }
            }
        }
        thread.name = "recur-signals"
        thread.start()
    }

    /// "SIGTERM", "SIGINT"… for log lines.
    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }
}
