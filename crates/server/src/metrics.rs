//! What the server tells monitoring: `/metrics` in the Prometheus text format (OpenMetrics
//! 1.0, through `prometheus-client`), `/healthz` (the process answers) and `/readyz` (the
//! store's database answers a query).
//!
//! Two kinds of numbers:
//!
//! * counted in this process, as requests pass through [`crate::access_log`]: requests by
//!   listener and status, depot requests and bytes per source, API latency per dialect,
//!   failed logins (counted where the audit log records them). They start at zero when the
//!   process starts, as Prometheus counters do.
//! * read from the store at each scrape ([`StoreCollector`]): sync runs by source and
//!   outcome with their durations (every run recorded in the store's database, whoever ran
//!   it: this server's scheduler, the API, or `esxlcm mirror sync --due` from a timer),
//!   quarantined payloads, stored payload bytes, sources, and the API's tasks by state.
//!
//! Who may read `/metrics`: only clients on the loopback interface (docs/SECURITY.md).
//! `/healthz` and `/readyz` answer anyone: they say "ok" or why not, nothing else.

use std::net::SocketAddr;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use esxlcm_store::Store;
use esxlcm_store::meta::RUN_DURATION_BOUNDS;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// The text format's content type (what Prometheus asks for and parses).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label of requests whose source is not known (a 4xx/5xx answer, or not a depot
/// path): clients cannot grow the number of series by asking for made-up names.
pub const UNKNOWN_SOURCE: &str = "-";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    /// Which listener: `api` (the service's HTTPS one), `hosts` (its plain-HTTP one for
    /// hosts), `store` (`serve --store`), `dir` (`serve --dir`).
    listener: String,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceCodeLabels {
    source: String,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DialectLabels {
    /// `rest` or `jsonrpc`.
    dialect: String,
}

/// The numbers this process counts. One set per process ([`global`]), shared by every
/// listener it runs, like the process's own resources.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    depot_requests: Family<SourceCodeLabels, Counter>,
    depot_bytes: Family<SourceLabels, Counter>,
    api_latency: Family<DialectLabels, Histogram>,
    login_failures: Counter,
}

/// API latency buckets (seconds): 1 ms to 30 s.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("esxlcm");
        let requests = Family::<RequestLabels, Counter>::default();
        let depot_requests = Family::<SourceCodeLabels, Counter>::default();
        let depot_bytes = Family::<SourceLabels, Counter>::default();
        let api_latency = Family::<DialectLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(LATENCY_BUCKETS)) as fn() -> Histogram,
        );
        let login_failures = Counter::default();
        registry.register("http_requests", "HTTP requests answered, by listener and status code", requests.clone());
        registry.register(
            "depot_requests",
            "Requests for depot files, by depot source (\"-\" when not found) and status code",
            depot_requests.clone(),
        );
        registry.register(
            "depot_sent_bytes",
            "Bytes of depot files sent to clients, by depot source",
            depot_bytes.clone(),
        );
        registry.register(
            "api_request_duration_seconds",
            "Time from an API request to its response headers, by dialect (rest, jsonrpc)",
            api_latency.clone(),
        );
        registry.register("login_failures", "Failed API logins (wrong user or password)", login_failures.clone());
        Self { registry, requests, depot_requests, depot_bytes, api_latency, login_failures }
    }

    /// One answered request (called by the access log when its body is done).
    pub fn request(&self, listener: &str, code: u16) {
        self.requests.get_or_create(&RequestLabels { listener: listener.to_owned(), code }).inc();
    }

    /// One depot file request and the bytes sent.
    pub fn depot_request(&self, source: &str, code: u16, bytes: u64) {
        self.depot_requests.get_or_create(&SourceCodeLabels { source: source.to_owned(), code }).inc();
        self.depot_bytes.get_or_create(&SourceLabels { source: source.to_owned() }).inc_by(bytes);
    }

    /// An API call's time to its response headers.
    pub fn api_latency(&self, dialect: &str, took: Duration) {
        self.api_latency.get_or_create(&DialectLabels { dialect: dialect.to_owned() }).observe(took.as_secs_f64());
    }

    /// A login that failed.
    pub fn login_failed(&self) {
        self.login_failures.inc();
    }
}

/// This process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The store's numbers, read at each scrape (off the async threads). The payload bytes
/// take one `stat` per stored blob: tens of milliseconds for 20,000 VIBs.
#[derive(Debug)]
pub struct StoreCollector {
    store: Arc<Store>,
}

/// What one scrape read from the store.
#[derive(Debug, Default)]
struct StoreSample {
    sources: u64,
    runs: Vec<esxlcm_store::meta::RunStats>,
    quarantined: Vec<(String, u64)>,
    blobs: u64,
    blob_bytes: u64,
    tasks: Vec<(String, u64)>,
}

impl StoreCollector {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    fn sample(&self) -> Result<StoreSample, esxlcm_store::StoreError> {
        let mut quarantined: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for q in self.store.quarantined()? {
            *quarantined.entry(q.source).or_default() += 1;
        }
        let usage = self.store.blob_usage()?;
        // The API's tasks are documents of kind "task" whose "status" is the state.
        let mut tasks: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for (_, body) in self.store.documents_of("task")? {
            let status = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "UNKNOWN".to_owned());
            *tasks.entry(status).or_default() += 1;
        }
        Ok(StoreSample {
            sources: self.store.sources()?.len() as u64,
            runs: self.store.run_stats()?,
            quarantined: quarantined.into_iter().collect(),
            blobs: usage.0,
            blob_bytes: usage.1,
            tasks: tasks.into_iter().collect(),
        })
    }
}

/// A histogram given as its sum, count and per-bucket counts.
struct RunDurations<'a>(&'a esxlcm_store::meta::RunStats);

impl TypedMetric for RunDurations<'_> {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for RunDurations<'_> {
    fn encode(&self, mut encoder: prometheus_client::encoding::MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let r = self.0;
        // Per-bucket (not cumulative) counts, the last one up to +Inf.
        let mut buckets = Vec::with_capacity(RUN_DURATION_BOUNDS.len() + 1);
        let mut below = 0;
        for (bound, &at_most) in RUN_DURATION_BOUNDS.iter().zip(&r.at_most) {
            buckets.push((*bound as f64, at_most.saturating_sub(below)));
            below = at_most;
        }
        buckets.push((f64::MAX, r.count.saturating_sub(below)));
        encoder.encode_histogram::<prometheus_client::encoding::NoLabelSet>(r.seconds as f64, r.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RunLabels {
    source: String,
    outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

impl prometheus_client::collector::Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let sample = match self.sample() {
            Ok(s) => s,
            Err(e) => {
                // The scrape still answers; `esxlcm_store_up 0` says why the rest is missing.
                tracing::warn!("reading the store for /metrics: {e}");
                let up = ConstGauge::new(0i64);
                up.encode(encoder.encode_descriptor(
                    "store_up",
                    "1 when the store could be read",
                    None,
                    up.metric_type(),
                )?)?;
                return Ok(());
            }
        };
        let up = ConstGauge::new(1i64);
        up.encode(encoder.encode_descriptor("store_up", "1 when the store could be read", None, up.metric_type())?)?;
        let g = ConstGauge::new(i64::try_from(sample.sources).unwrap_or(i64::MAX));
        g.encode(encoder.encode_descriptor("sources", "Sources (depots) in the store", None, g.metric_type())?)?;
        let g = ConstGauge::new(i64::try_from(sample.blobs).unwrap_or(i64::MAX));
        g.encode(encoder.encode_descriptor("store_payloads", "Payloads (blobs) stored", None, g.metric_type())?)?;
        let g = ConstGauge::new(i64::try_from(sample.blob_bytes).unwrap_or(i64::MAX));
        g.encode(encoder.encode_descriptor(
            "store_payload_bytes",
            "Bytes of the payloads stored (each once, however many sources carry it)",
            None,
            g.metric_type(),
        )?)?;

        let mut family = encoder.encode_descriptor(
            "quarantined_payloads",
            "Payloads in quarantine (failed verification, kept 30 days), by source",
            None,
            MetricType::Gauge,
        )?;
        for (source, n) in &sample.quarantined {
            let g = ConstGauge::new(i64::try_from(*n).unwrap_or(i64::MAX));
            g.encode(family.encode_family(&SourceLabels { source: source.clone() })?)?;
        }

        let mut family = encoder.encode_descriptor(
            "sync_runs",
            "Sync runs recorded in the store (any process), by source and outcome",
            None,
            MetricType::Counter,
        )?;
        for r in &sample.runs {
            let c = ConstCounter::new(r.count);
            c.encode(family.encode_family(&RunLabels { source: r.source.clone(), outcome: r.outcome.clone() })?)?;
        }
        let mut family = encoder.encode_descriptor(
            "sync_duration_seconds",
            "Durations of the sync runs recorded in the store, by source and outcome",
            None,
            MetricType::Histogram,
        )?;
        for r in &sample.runs {
            RunDurations(r)
                .encode(family.encode_family(&RunLabels { source: r.source.clone(), outcome: r.outcome.clone() })?)?;
        }

        let mut family = encoder.encode_descriptor(
            "api_tasks",
            "The API's tasks kept in the store, by state",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in &sample.tasks {
            let g = ConstGauge::new(i64::try_from(*n).unwrap_or(i64::MAX));
            g.encode(family.encode_family(&StateLabels { state: state.clone() })?)?;
        }
        Ok(())
    }
}

/// What `/metrics`, `/healthz` and `/readyz` need.
#[derive(Clone)]
struct Probe {
    store: Option<Arc<Store>>,
    collector: Option<Arc<StoreCollector>>,
}

/// `{prefix}/metrics`, `{prefix}/healthz` and `{prefix}/readyz` (prefix `""` for the
/// service, `/-` beside a store's or directory's files). With a store, `/readyz` asks its
/// database and `/metrics` includes its numbers.
pub fn routes(prefix: &str, store: Option<Arc<Store>>) -> Router {
    let collector = store.as_ref().map(|s| Arc::new(StoreCollector::new(Arc::clone(s))));
    let probe = Probe { store, collector };
    Router::new()
        .route(&format!("{prefix}/metrics"), get(metrics))
        .route(&format!("{prefix}/healthz"), get(|| async { "ok\n" }))
        .route(&format!("{prefix}/readyz"), get(readyz))
        .with_state(probe)
}

async fn readyz(State(probe): State<Probe>) -> Response {
    let Some(store) = probe.store else { return (StatusCode::OK, "ok\n").into_response() };
    match tokio::task::spawn_blocking(move || store.sources().map(|_| ())).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!("readiness: the store's database does not answer: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "the store's database does not answer\n").into_response()
        }
        Err(e) => {
            tracing::warn!("readiness: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
        }
    }
}

/// Only loopback clients (see the module docs); the store is read off the async threads.
async fn metrics(State(probe): State<Probe>, request: axum::extract::Request) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    if !peer.is_some_and(|addr| is_loopback(addr.ip())) {
        return (StatusCode::FORBIDDEN, "/metrics answers clients on this machine (loopback) only\n").into_response();
    }
    let rendered = tokio::task::spawn_blocking(move || render(probe.collector.as_ref())).await;
    match rendered {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Ok(Err(e)) => {
            tracing::error!("rendering /metrics: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(e) => {
            tracing::error!("rendering /metrics: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// 127.0.0.0/8 and ::1, also as an IPv4-mapped address (a dual-stack listener's view).
fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// The process's counters, then the store's numbers, then `# EOF`.
pub fn render(store: Option<&Arc<StoreCollector>>) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode_registry(&mut text, &global().registry)?;
    if let Some(collector) = store {
        let mut registry = Registry::with_prefix("esxlcm");
        registry.register_collector(Box::new(Arc::clone(collector)));
        prometheus_client::encoding::text::encode_registry(&mut text, &registry)?;
    }
    prometheus_client::encoding::text::encode_eof(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_v4_v6_and_v4_mapped() {
        for ip in ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "0.0.0.0"] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_scrape_of_an_empty_store_is_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        global().request("test", 200);
        let text = render(Some(&Arc::new(StoreCollector::new(store)))).unwrap();
        assert!(text.contains("esxlcm_http_requests_total{listener=\"test\",code=\"200\"}"), "{text}");
        assert!(text.contains("esxlcm_store_up 1\n") && text.contains("esxlcm_sources 0\n"), "{text}");
        assert!(text.ends_with("# EOF\n") && text.matches("# EOF").count() == 1, "{text}");
    }
}
