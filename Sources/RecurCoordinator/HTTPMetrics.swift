import Foundation
import Hummingbird
import RecurStore

/// Request counts and latencies per route and status, exposed at `/metrics` in Prometheus text format.
public actor HTTPMetrics {
    struct Series {
        var count = 0
        var sum = 0.0
        var buckets = [Int](repeating: 0, count: HTTPMetrics.bounds.count)
    }
    static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30]
    private var series: [String: Series] = [:]
    private var statuses: [String: Int] = [:]

    public init() {}

    func record(route: String, status: Int, seconds: Double) {
        var s = series[route] ?? Series()
        s.count += 1
        s.sum += seconds
        for (i, b) in HTTPMetrics.bounds.enumerated() where seconds <= b { s.buckets[i] += 1 }
        series[route] = s
        statuses["\(route)|\(status)", default: 0] += 1
    }

    func prometheusText(counters: Coordinator.Counters, store: SweepStore) -> String {
        var out = ""
        func counter(_ name: String, _ help: String, _ value: Int) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        counter("recur_leases_total", "Trials leased to workers.", counters.leases)
        counter("recur_reports_total", "Epoch reports accepted.", counters.reports)
        counter("recur_duplicate_reports_total", "Epoch reports already recorded (idempotent replays).", counters.duplicateReports)
        counter("recur_completions_total", "Trials completed.", counters.completions)
        counter("recur_prunes_total", "Trials pruned.", counters.prunes)
        counter("recur_failures_total", "Attempts reported failed.", counters.failures)
        counter("recur_releases_total", "Leases released by workers.", counters.releases)
        counter("recur_lease_expirations_total", "Leases that expired.", counters.expirations)
        counter("recur_stale_calls_total", "Calls refused with 409 for a stale lease.", counters.staleCalls)
        counter("recur_group_commits_total", "SQLite transactions that committed worker calls (group commit).", counters.groupCommits)
        counter("recur_grouped_calls_total", "Worker calls committed by those transactions.", counters.groupedCalls)
        counter(
            "recur_dataset_downloads_total",
            "Dataset downloads served (GET /v1/datasets/{sha256}, ranged ones included).",
            counters.datasetDownloads
        )
        let running = (try? store.runningAttempts().count) ?? 0
        out += "# HELP recur_running_leases Leases currently held.\n# TYPE recur_running_leases gauge\nrecur_running_leases \(running)\n"
        out += "# HELP recur_http_requests_total HTTP requests by route and status.\n# TYPE recur_http_requests_total counter\n"
        for (key, n) in statuses.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "|")
            out += "recur_http_requests_total{route=\"\(parts[0])\",status=\"\(parts[1])\"} \(n)\n"
        }
        out += "# HELP recur_http_request_seconds Request latency by route.\n# TYPE recur_http_request_seconds histogram\n"
        for (route, s) in series.sorted(by: { $0.key < $1.key }) {
            for (i, b) in HTTPMetrics.bounds.enumerated() {
                out += "recur_http_request_seconds_bucket{route=\"\(route)\",le=\"\(b)\"} \(s.buckets[i])\n"
            }
            out += "recur_http_request_seconds_bucket{route=\"\(route)\",le=\"+Inf\"} \(s.count)\n"
            out += "recur_http_request_seconds_sum{route=\"\(route)\"} \(s.sum)\nrecur_http_request_seconds_count{route=\"\(route)\"} \(s.count)\n"
        }
        return out
    }
}

struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        func record(_ status: HTTPResponse.Status) async {
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            // The route's template (`/v1/leases/{token}/epochs`), so tokens and names add no series.
            await metrics.record(route: context.endpointPath ?? "unmatched", status: status.code, seconds: seconds)
        }
        do {
            let response = try await next(request, context)
            await record(response.status)
            return response
        } catch let error as any HTTPResponseError {
            await record(error.status)
            throw error
        }
    }
}
