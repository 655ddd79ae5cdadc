import Foundation

extension SweepSpec {
    /// `notify: {webhook: URL, on: [done, failed, new_best]}`: a JSON POST to `webhook` for each
    /// event listed (default: done and failed).
    public struct Notify: Sendable, Equatable {
        public enum Event: String, Sendable, CaseIterable, Codable {
            /// The sweep ended: its trials ran out, or a budget or stop rule ended it.
            case done
            /// A trial failed for good (its retries used up, or a non-retryable error).
            case failed
            /// A completed trial became the sweep's best.
            case newBest = "new_best"
        }
        public var webhook: String
        public var on: Set<Event>

        /// The port `webhook` names, when it is outside 1–65535: the HTTP client traps on one
        /// (it once stopped the coordinator), so the parser refuses it and delivery skips it.
        public static func badPort(_ webhook: String) -> Int? {
            URL(string: webhook)?.port.flatMap { (1...65535).contains($0) ? nil : $0 }
        }

        public init(webhook: String, on: Set<Event> = [.done, .failed]) {
            self.webhook = webhook
            self.on = on
        }
    }
}
