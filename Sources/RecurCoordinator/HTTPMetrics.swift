import Foundation
import Hummingbird
import Prometheus
import RecurStore
import Synchronization

/// `/metrics` in Prometheus text format, kept in a swift-prometheus registry: request counts by
/// route and status, latency histograms by route, the coordinator's own tallies and the leases
/// held now.
public final class HTTPMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// The coordinator's tallies as last published, so each scrape adds only what is new: its
    /// counts live in the coordinator actor, and a registry counter can only go up.
    private let published = Mutex<[String: Int]>([:])

    static let bounds: [Duration] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30].map {
        .microseconds(Int64(($0 * 1e6).rounded()))
    }

    // Computed: swift-prometheus's descriptor is not `Sendable`.
    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "recur", metricName: "http_requests", unitName: "total", helpText: "HTTP requests by route and status.")
    }
    static var latency: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "recur", metricName: "http_request", unitName: "seconds", helpText: "Request latency by route.")
    }
    static var running: MetricNameDescriptor {
        MetricNameDescriptor(namespace: "recur", metricName: "running_leases", unitName: "", helpText: "Leases currently held.")
    }

    public init() {}

    func record(route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.latency, labels: [("route", route)], buckets: Self.bounds).record(duration)
    }

    func prometheusText(counters: Coordinator.Counters, store: SweepStore) -> String {
        // Each is published as `recur_<name>_total`.
        let tallies: [(name: String, help: String, value: Int)] = [
            ("leases", "Trials leased to workers.", counters.leases),
            ("reports", "Epoch reports accepted.", counters.reports),
            ("duplicate_reports", "Epoch reports already recorded (idempotent replays).", counters.duplicateReports),
            ("completions", "Trials completed.", counters.completions),
            ("prunes", "Trials pruned.", counters.prunes),
            ("failures", "Attempts reported failed.", counters.failures),
            ("releases", "Leases released by workers.", counters.releases),
            ("lease_expirations", "Leases that expired.", counters.expirations),
            ("stale_calls", "Calls refused with 409 for a stale lease.", counters.staleCalls),
            ("group_commits", "SQLite transactions that committed worker calls (group commit).", counters.groupCommits),
            ("grouped_calls", "Worker calls committed by those transactions.", counters.groupedCalls),
            ("dataset_downloads", "Dataset downloads served (GET /v1/datasets/{sha256}, ranged ones included).", counters.datasetDownloads),
        ]
        published.withLock { published in
            for tally in tallies {
                let new = tally.value - published[tally.name, default: 0]
                let counter = registry.makeCounter(
                    descriptor: MetricNameDescriptor(namespace: "recur", metricName: tally.name, unitName: "total", helpText: tally.help)
                )
                if new > 0 { counter.increment(by: Int64(new)) }
                published[tally.name] = tally.value
            }
        }
        registry.makeGauge(descriptor: Self.running).set(Double((try? store.runningAttempts().count) ?? 0))
        return registry.emitToString()
    }
}

struct MetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        // The route's template (`/v1/leases/{token}/epochs`), so tokens and names add no series.
        func record(_ status: HTTPResponse.Status) {
            metrics.record(route: context.endpointPath ?? "unmatched", status: status.code, duration: ContinuousClock.now - start)
        }
        do {
            let response = try await next(request, context)
            record(response.status)
            return response
        } catch let error as any HTTPResponseError {
            record(error.status)
            throw error
        }
    }
}
