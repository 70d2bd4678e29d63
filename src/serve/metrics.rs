//! `/metrics`: the gateway's counters in the Prometheus text format (through `prometheus-client`,
//! the Prometheus project's own Rust client: it gets the exposition format, label escaping and
//! histogram buckets right).

use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Method, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::Body;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabels {
    cause: String,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    denials: Family<CauseLabels, Counter>,
    items: Counter,
    request_units: Counter<f64, AtomicU64>,
    in_flight: Gauge,
    audit_failures: Counter,
    /// Audit records the OTLP export gave up on (the sink has them).
    pub otlp_dropped: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cosmoscope");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by method, route and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 1 ms … ~33 s
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "request_duration_seconds",
            "Time to answer (a query: to its last line)",
            latency.clone(),
        );
        let denials = Family::<CauseLabels, Counter>::default();
        registry.register(
            "denials",
            "Requests refused, by cause (invalid_token, policy, rate_limited, concurrency, too_large)",
            denials.clone(),
        );
        let items = Counter::default();
        registry.register("items", "Documents returned", items.clone());
        let request_units = Counter::<f64, AtomicU64>::default();
        registry.register(
            "request_units",
            "Cosmos DB request units spent",
            request_units.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "streams_in_flight",
            "Query streams running now",
            in_flight.clone(),
        );
        let audit_failures = Counter::default();
        registry.register(
            "audit_failures",
            "Audit records that could not be written (each failed its request)",
            audit_failures.clone(),
        );
        let otlp_dropped = Counter::default();
        registry.register(
            "otlp_dropped",
            "Audit records not exported over OTLP (queue full or collector down; the audit sink has them)",
            otlp_dropped.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            denials,
            items,
            request_units,
            in_flight,
            audit_failures,
            otlp_dropped,
        }
    }

    /// One request answered (a stream: its headers sent; its duration is recorded at its end).
    pub fn request(&self, method: &Method, path: &str, status: u16, took: std::time::Duration) {
        let route = route_of(path);
        self.requests
            .get_or_create(&RequestLabels {
                method: method_of(method).to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        if route != "/v1/query" || status != 200 {
            self.observe(route, took);
        }
    }

    pub fn observe(&self, route: &str, took: std::time::Duration) {
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn refused(&self, cause: &str) {
        self.denials
            .get_or_create(&CauseLabels {
                cause: cause.to_string(),
            })
            .inc();
    }

    pub fn spent(&self, items: u64, request_charge: f64) {
        self.items.inc_by(items);
        self.request_units.inc_by(request_charge);
    }

    pub fn stream_started(&self) {
        self.in_flight.inc();
    }

    pub fn stream_ended(&self) {
        self.in_flight.dec();
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    pub fn audit_failed(&self) {
        self.audit_failures.inc();
    }

    pub fn render(&self) -> Response<Body> {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        let mut r = Response::new(Full::new(Bytes::from(text)).boxed());
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        r
    }
}

/// The route template of a path (ids and names left out: labels stay few). Only exact paths
/// count as a route; anything else is `other`.
fn route_of(path: &str) -> &'static str {
    match path {
        "/v1/whoami" => "/v1/whoami",
        "/v1/query" => "/v1/query",
        "/v1/explain" => "/v1/explain",
        "/v1/databases" => "/v1/databases",
        "/v1/openapi.json" => "/v1/openapi.json",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/metrics" => "/metrics",
        _ => match path.split('/').collect::<Vec<_>>().as_slice() {
            ["", "v1", "databases", db, "containers"] if !db.is_empty() => {
                "/v1/databases/{db}/containers"
            }
            ["", "v1", "databases", db, "containers", c, "items", id]
                if !db.is_empty() && !c.is_empty() && !id.is_empty() =>
            {
                "/v1/databases/{db}/containers/{c}/items/{id}"
            }
            _ => "other",
        },
    }
}

/// The method as a label: the ones the API knows, or `other`.
fn method_of(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}
