import Foundation
import Metrics
import Prometheus

/// The host's metrics, recorded through swift-metrics into a Prometheus registry of its
/// own (no process-wide bootstrap, so several runtimes in one process keep theirs apart)
/// and served as text at `GET /metrics`.
public final class KoppelMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [.milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(30), .seconds(120), .seconds(600)]
        self.factory = factory
    }

    /// What happened to one record of a flow.
    public enum RecordOutcome: String, Sendable {
        case read, written, failed, skipped
    }

    /// Counts records of a flow by outcome: `koppel_records_{read,written,failed,skipped}_total{flow}`.
    public func count(_ outcome: RecordOutcome, flow: String, by amount: Int = 1) {
        guard amount > 0 else { return }
        Counter(label: "koppel_records_\(outcome.rawValue)_total", dimensions: [("flow", flow)], factory: factory).increment(by: amount)
    }

    /// Records how long a flow run took, and how it ended: `koppel_flow_run_duration_seconds{flow}`
    /// and `koppel_flow_runs_total{flow,status}`.
    public func run(flow: String, duration: TimeInterval, status: String) {
        Metrics.Timer(label: "koppel_flow_run_duration_seconds", dimensions: [("flow", flow)], preferredDisplayUnit: .seconds, factory: factory)
            .recordNanoseconds(Int64(duration * 1e9))
        Counter(label: "koppel_flow_runs_total", dimensions: [("flow", flow), ("status", status)], factory: factory).increment()
    }

    /// Counts one HTTP call of a connection by its answer (`2xx`, `429`, `5xx`, `none`):
    /// `koppel_http_requests_total{connection,status}`, and 429s apart in
    /// `koppel_http_rate_limited_total{connection}`.
    public func httpCall(connection: String, status: Int?) {
        let label = status.map { $0 == 429 ? "429" : "\($0 / 100)xx" } ?? "none"
        Counter(label: "koppel_http_requests_total", dimensions: [("connection", connection), ("status", label)], factory: factory).increment()
        if status == 429 {
            Counter(label: "koppel_http_rate_limited_total", dimensions: [("connection", connection)], factory: factory).increment()
        }
    }

    /// The requests a connection may still make in the remote API's current window:
    /// `koppel_rate_limit_remaining{connection}`.
    public func rateLimitRemaining(connection: String, _ remaining: Int) {
        Gauge(label: "koppel_rate_limit_remaining", dimensions: [("connection", connection)], factory: factory).record(remaining)
    }

    /// Counts one webhook delivery by what became of it (`accepted`, `refused`,
    /// `duplicate`, `ping`): `koppel_webhook_deliveries_total{connection,outcome}`.
    public func webhookDelivery(connection: String, outcome: String) {
        Counter(label: "koppel_webhook_deliveries_total", dimensions: [("connection", connection), ("outcome", outcome)], factory: factory).increment()
    }

    /// Everything recorded so far, in Prometheus' text exposition format.
    public func exposition() -> String {
        registry.emitToString()
    }
}
