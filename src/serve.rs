//! `cosmoscope serve`: the policy enforced where the user cannot reach it.
//!
//! A stateless HTTP server that holds the Cosmos DB credential, verifies every caller's bearer
//! token itself (signature through the provider's JWKS, issuer, the gateway's audience, expiry,
//! the algorithm allow-list — [`crate::identity::verify`]) and decides with the same policy engine
//! as the CLI, on the claims of that verified token only. Nothing the client says about itself is
//! trusted. One audit record per request.
//!
//! API (`/v1/`, JSON; `/v1/openapi.json` describes it):
//! - `GET /v1/whoami` — subject and roles from the verified token;
//! - `POST /v1/query` `{"container", "query", "database"?, "parameters"?, "partition_key"?,
//!   "max_items"?}` — streamed NDJSON, one envelope per line: `{"item": …}` per document, then
//!   `{"end": {"items", "request_charge", "truncated"}}`, or `{"error": {…}}` if the query fails
//!   mid-stream (a stream without an `end` line is incomplete);
//! - `GET /healthz` (alive), `GET /readyz` (JWKS loaded, Cosmos reachable), `GET /metrics`
//!   (Prometheus text format).
//!
//! Failures of the token are 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750)
//! and a JSON body naming the cause; denials are 403 with the policy's reasons.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::audit::Record;
use crate::cosmos::{Cosmos, CosmosAuth, ExecOptions, QueryPlan, QueryStats};
use crate::identity::verify::Verifier;
use crate::identity::{Claims, Issuer, Provider};
use crate::policy::{Action, Policy, QueryRequest, Request};
use crate::settings::{CosmosSettings, CredentialKind};

/// The variable holding the gateway's account key unless the config names another.
pub const DEFAULT_KEY_ENV: &str = "COSMOSCOPE_GATEWAY_ACCOUNT_KEY";
/// How much of a query's output may wait for a slow client before the query is stopped.
const MAX_BUFFERED_BYTES: usize = 8 << 20;

/// The server's configuration file (`cosmoscope serve --config FILE`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// `host:port`. Plain HTTP is served only on a loopback address; elsewhere `tls_cert` and
    /// `tls_key` are required.
    pub listen: String,
    /// PEM certificate chain and private key (relative paths: to this file).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// The OpenID provider whose tokens are accepted.
    pub issuer: String,
    /// The gateway's own API audience: a token must name it in `aud`.
    pub audience: String,
    /// Where the roles are in the token (a claim name or a JSON pointer), for audit and whoami.
    #[serde(default)]
    pub roles_claim: Option<String>,
    /// The policy file (relative paths are relative to this file).
    pub policy: PathBuf,
    /// `stdout` (default) or a file the audit records are appended to.
    #[serde(default)]
    pub audit: Option<String>,
    pub cosmos: ServeCosmos,
    #[serde(default)]
    pub limits: Limits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeCosmos {
    pub endpoint: String,
    /// The database a request that names none addresses.
    pub database: String,
    /// The variable that holds the account key (never argv, never this file).
    #[serde(default)]
    pub account_key_env: Option<String>,
    #[serde(default = "yes")]
    pub http2: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// The longest query text accepted (characters).
    pub max_query_chars: usize,
    /// Queries one subject may run at once (429 beyond).
    pub max_concurrent_per_subject: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_query_chars: 32 * 1024,
            max_concurrent_per_subject: 8,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Cosmos(#[from] crate::cosmos::CosmosError),
}

impl ServeConfig {
    pub fn load(path: &Path) -> Result<(Self, Policy), ServeError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ServeError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut config: ServeConfig = toml::from_str(&text).map_err(|e| ServeError::Config {
            path: shown.clone(),
            message: e.message().to_string(),
        })?;
        if config.policy.is_relative() {
            config.policy = path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(&config.policy);
        }
        let policy_text =
            std::fs::read_to_string(&config.policy).map_err(|source| ServeError::Read {
                path: config.policy.display().to_string(),
                source,
            })?;
        let policy =
            Policy::from_toml(&policy_text, &config.policy).map_err(|e| ServeError::Config {
                path: config.policy.display().to_string(),
                message: e.to_string(),
            })?;
        let addr: SocketAddr = config.listen.parse().map_err(|_| ServeError::Config {
            path: shown.clone(),
            message: format!("listen = {:?} is not host:port", config.listen),
        })?;
        let base = path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        for p in [&mut config.tls_cert, &mut config.tls_key]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if config.tls_cert.is_some() != config.tls_key.is_some() {
            return Err(ServeError::Config {
                path: shown,
                message: "tls_cert and tls_key go together".into(),
            });
        }
        if config.tls_cert.is_none() && !addr.ip().is_loopback() {
            return Err(ServeError::Config {
                path: shown,
                message: format!(
                    "listen = {:?}: plain HTTP is served on a loopback address only; set tls_cert \
                     and tls_key, or put a TLS proxy in front and listen on 127.0.0.1",
                    config.listen
                ),
            });
        }
        Ok((config, policy))
    }
}

/// Everything a request needs, shared by all of them.
struct State {
    config: ServeConfig,
    /// Replaced on SIGHUP by a policy that parsed and validated; a bad file keeps the old one.
    policy: std::sync::RwLock<Arc<Policy>>,
    verifier: Mutex<Verifier>,
    cosmos: Cosmos,
    audit: Mutex<Option<std::fs::File>>,
    metrics: Metrics,
    running: Mutex<HashMap<String, usize>>,
}

#[derive(Default)]
struct Metrics {
    requests: AtomicU64,
    unauthorized: AtomicU64,
    denied: AtomicU64,
    errors: AtomicU64,
    items: AtomicU64,
    /// Request units × 1000.
    milli_ru: AtomicU64,
    in_flight: AtomicUsize,
}

type Body = BoxBody<Bytes, Infallible>;

/// Runs the server until SIGTERM or Ctrl-C. `ready` is called with the bound address and whether
/// it speaks TLS.
pub async fn run(
    config: ServeConfig,
    policy: Policy,
    ready: impl FnOnce(SocketAddr, bool),
) -> Result<(), ServeError> {
    let issuer = Issuer {
        url: config.issuer.clone(),
        tenants: Vec::new(),
    };
    let provider = Provider::discover(&issuer, "").await?;
    let verifier = Verifier::new(&provider.http, &issuer, &provider.metadata.jwks_uri, None);
    let key_env = config
        .cosmos
        .account_key_env
        .clone()
        .unwrap_or_else(|| DEFAULT_KEY_ENV.to_string());
    let key = crate::env::Env::named_secret(&key_env).ok_or_else(|| ServeError::Config {
        path: "the environment".into(),
        message: format!("{key_env} holds no account key"),
    })?;
    let mut settings = CosmosSettings::new(config.cosmos.endpoint.clone(), CredentialKind::Key);
    settings.http2 = config.cosmos.http2;
    let cosmos = crate::cosmos::client::build(&settings, CosmosAuth::Key(key)).await?;
    let audit = match config.audit.as_deref() {
        None | Some("stdout") => None,
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| ServeError::Read {
                    path: path.to_string(),
                    source,
                })?,
        ),
    };
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls_acceptor(cert, key)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    let state = Arc::new(State {
        config,
        policy: std::sync::RwLock::new(Arc::new(policy)),
        verifier: Mutex::new(verifier),
        cosmos,
        audit: Mutex::new(audit),
        metrics: Metrics::default(),
        running: Mutex::new(HashMap::new()),
    });
    ready(addr, tls.is_some());
    let signal = |kind| {
        tokio::signal::unix::signal(kind).map_err(|source| ServeError::Listen {
            addr: addr.to_string(),
            source,
        })
    };
    let mut term = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut hup = signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
            _ = hup.recv() => {
                reload(&state);
                continue;
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let state = state.clone();
        let tls = tls.clone();
        tokio::task::spawn_local(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req, peer).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = http
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                }
                Some(acceptor) => {
                    // A client that never finishes its handshake holds nothing for long.
                    let handshake =
                        tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        let _ = http
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
    }
    // Graceful: no new connections; streams in flight get DRAIN to finish (their audit records
    // are written as they end).
    drop(listener);
    let deadline = Instant::now() + DRAIN;
    while state.metrics.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let left = state.metrics.in_flight.load(Ordering::Relaxed);
    log(&json!({"stopped": true, "streams_cut": left}));
    Ok(())
}

/// One structured log line on stderr; a closed stderr must not stop the server.
pub fn log(line: &Value) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// How long a TLS handshake may take.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// The TLS side: the certificate chain and key from PEM files, TLS 1.2+ (rustls' safe defaults)
/// with AWS-LC, HTTP/1.1 by ALPN.
fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, ServeError> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let bad = |path: &Path, message: String| ServeError::Config {
        path: path.display().to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .map_err(|e| bad(cert, format!("not a PEM certificate chain: {e}")))?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            bad(
                cert,
                format!("the certificate and key do not go together: {e}"),
            )
        })?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// How long a stopping server lets in-flight streams finish.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(20);

/// SIGHUP: read the policy file again; replace the policy only if the new one is valid.
fn reload(state: &State) {
    let path = &state.config.policy;
    let loaded = std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|text| Policy::from_toml(&text, path).map_err(|e| e.to_string()));
    match loaded {
        Ok(policy) => {
            if let Ok(mut slot) = state.policy.write() {
                *slot = Arc::new(policy);
            }
            log(&json!({"policy_reloaded": path.display().to_string()}));
        }
        Err(e) => log(
            &json!({"policy_reload_failed": path.display().to_string(), "cause": e, "kept": "the previous policy"}),
        ),
    }
}

fn full(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn unauthorized(cause: &str) -> Response<Body> {
    let mut r = full(
        StatusCode::UNAUTHORIZED,
        &json!({"error": "invalid_token", "cause": cause}),
    );
    let challenge = format!(
        "Bearer realm=\"cosmoscope\", error=\"invalid_token\", error_description=\"{}\"",
        cause.replace(['"', '\\'], "'")
    );
    if let Ok(v) = hyper::header::HeaderValue::from_str(&crate::text::terminal_text(&challenge)) {
        r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
    }
    r
}

async fn handle(
    state: &Arc<State>,
    req: HttpRequest<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => full(StatusCode::OK, &json!({"status": "alive"})),
        (&Method::GET, "/readyz") => readyz(state).await,
        (&Method::GET, "/metrics") => metrics(state),
        (&Method::GET, "/v1/openapi.json") => full(StatusCode::OK, &openapi()),
        (&Method::GET, "/v1/whoami") => {
            let started = Instant::now();
            match authenticate(state, &req).await {
                Ok(claims) => {
                    let (subject, roles) = who(state, &claims);
                    audit(
                        state,
                        Record::new("gateway", "whoami", "ok").who(subject.as_deref(), &roles),
                        peer,
                        started,
                    )
                    .await;
                    full(StatusCode::OK, &json!({"subject": subject, "roles": roles}))
                }
                Err(r) => r,
            }
        }
        (&Method::POST, "/v1/query") => query(state, req, peer).await,
        (&Method::GET, "/v1/databases" | "/v1/containers") => listing(state, &req, peer).await,
        (&Method::POST, "/v1/items/get") => item_get(state, req, peer).await,
        _ => full(
            StatusCode::NOT_FOUND,
            &json!({"error": "not_found", "cause": format!("no endpoint {} {path}", req.method())}),
        ),
    }
}

/// `GET /v1/databases`, `GET /v1/containers?database=D`: what the account holds that the caller's
/// grants name (the policy engine's `visible`), like `cosmoscope ls`.
async fn listing<B>(state: &State, req: &HttpRequest<B>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let claims = match authenticate(state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (subject, roles) = who(state, &claims);
    let visible = current_policy(state).visible(&Value::Object(claims));
    let mut record = Record::new("gateway", "ls", "ok").who(subject.as_deref(), &roles);
    let answer = if req.uri().path() == "/v1/databases" {
        crate::cosmos::items::list_databases(&state.cosmos)
            .await
            .map(|ids| {
                ids.into_iter()
                    .filter(|id| visible.database(id))
                    .map(|id| json!({"id": id}))
                    .collect::<Vec<_>>()
            })
    } else {
        let database = req
            .uri()
            .query()
            .and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "database")
                    .map(|(_, v)| v.into_owned())
            })
            .unwrap_or_else(|| state.config.cosmos.database.clone());
        if let Some(problem) = crate::policy::resource_name_problem(&database) {
            return full(
                StatusCode::BAD_REQUEST,
                &json!({"error": "bad_request", "cause": format!("database {problem}")}),
            );
        }
        record.database = Some(database.clone());
        crate::cosmos::items::list_containers(&state.cosmos, &database)
            .await
            .map(|rows| {
                rows.into_iter()
                    .filter(|(id, _)| visible.container(&database, id))
                    .map(|(id, paths)| json!({"id": id, "database": database, "partition_key_paths": paths}))
                    .collect::<Vec<_>>()
            })
    };
    let response = match answer {
        Ok(rows) => {
            record.items = Some(rows.len() as u64);
            full(StatusCode::OK, &Value::Array(rows))
        }
        Err(e) => {
            state.metrics.errors.fetch_add(1, Ordering::Relaxed);
            record.decision = "error".into();
            record.cause = Some(e.to_string());
            full(
                StatusCode::BAD_GATEWAY,
                &json!({"error": "cosmos", "cause": e.to_string()}),
            )
        }
    };
    audit(state, record, peer, started).await;
    response
}

/// The policy in force now (SIGHUP may replace it; a request keeps the one it started with).
fn current_policy(state: &State) -> Arc<Policy> {
    state
        .policy
        .read()
        .map_or_else(|p| p.into_inner().clone(), |p| p.clone())
}

/// The request's JSON body as `T`, within the body-size limit; otherwise the 413 or 400 to answer.
async fn read_json<T: serde::de::DeserializeOwned>(
    state: &State,
    req: HttpRequest<Incoming>,
    what: &str,
) -> Result<T, Response<Body>> {
    let bad = |status: StatusCode, cause: String| {
        full(status, &json!({"error": "bad_request", "cause": cause}))
    };
    let limit = state.config.limits.max_body_bytes;
    let bytes = Limited::new(req.into_body(), limit)
        .collect()
        .await
        .map_err(|_| {
            bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {limit} bytes"),
            )
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        bad(
            StatusCode::BAD_REQUEST,
            format!("the body is not {what}: {e}"),
        )
    })
}

fn who(state: &State, claims: &Claims) -> (Option<String>, Vec<String>) {
    (
        claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string),
        crate::identity::roles_from_claims(claims, state.config.roles_claim.as_deref()),
    )
}

/// The verified claims of the request's bearer token, or the 401 to answer.
async fn authenticate<B>(state: &State, req: &HttpRequest<B>) -> Result<Claims, Response<Body>> {
    let Some(header) = req.headers().get(hyper::header::AUTHORIZATION) else {
        state.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
        return Err(unauthorized("no Authorization: Bearer token"));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        state.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
        return Err(unauthorized(
            "the Authorization header is not a Bearer token",
        ));
    };
    let verified = state
        .verifier
        .lock()
        .await
        .verify(token, &state.config.audience, None)
        .await;
    verified.map_err(|e| {
        state.metrics.unauthorized.fetch_add(1, Ordering::Relaxed);
        unauthorized(&e.to_string())
    })
}

async fn readyz(state: &State) -> Response<Body> {
    let cosmos = crate::cosmos::items::list_databases(&state.cosmos)
        .await
        .is_ok();
    let status = if cosmos {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    full(status, &json!({"cosmos": cosmos}))
}

#[allow(clippy::cast_precision_loss)]
fn metrics(state: &State) -> Response<Body> {
    let m = &state.metrics;
    let text = format!(
        "# TYPE cosmoscope_requests_total counter\ncosmoscope_requests_total {}\n\
         # TYPE cosmoscope_unauthorized_total counter\ncosmoscope_unauthorized_total {}\n\
         # TYPE cosmoscope_denied_total counter\ncosmoscope_denied_total {}\n\
         # TYPE cosmoscope_errors_total counter\ncosmoscope_errors_total {}\n\
         # TYPE cosmoscope_items_total counter\ncosmoscope_items_total {}\n\
         # TYPE cosmoscope_request_units_total counter\ncosmoscope_request_units_total {}\n\
         # TYPE cosmoscope_streams_in_flight gauge\ncosmoscope_streams_in_flight {}\n",
        m.requests.load(Ordering::Relaxed),
        m.unauthorized.load(Ordering::Relaxed),
        m.denied.load(Ordering::Relaxed),
        m.errors.load(Ordering::Relaxed),
        m.items.load(Ordering::Relaxed),
        m.milli_ru.load(Ordering::Relaxed) as f64 / 1000.0,
        m.in_flight.load(Ordering::Relaxed),
    );
    let mut r = Response::new(Full::new(Bytes::from(text)).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn audit(state: &State, mut record: Record, peer: SocketAddr, started: Instant) {
    record.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    record.detail = Some(match record.detail.take() {
        Some(d) => format!("client={peer} {d}"),
        None => format!("client={peer}"),
    });
    let Ok(mut line) = serde_json::to_string(&record) else {
        return;
    };
    line.push('\n');
    let mut sink = state.audit.lock().await;
    let written = if let Some(file) = sink.as_mut() {
        std::io::Write::write_all(file, line.as_bytes())
    } else {
        std::io::Write::write_all(&mut std::io::stdout(), line.as_bytes())
    };
    if let Err(e) = written {
        log(&json!({"audit_unwritable": e.to_string()}));
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    container: String,
    query: String,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    #[serde(default)]
    partition_key: Option<Value>,
    #[serde(default)]
    max_items: Option<u64>,
}

async fn query(state: &Arc<State>, req: HttpRequest<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let claims = match authenticate(state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (subject, roles) = who(state, &claims);
    let mut record = Record::new("gateway", "query", "error").who(subject.as_deref(), &roles);
    let bad = |status: StatusCode, cause: String| {
        full(status, &json!({"error": "bad_request", "cause": cause}))
    };
    let body: QueryBody = match read_json(state, req, "a query request").await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body.query.chars().count() > state.config.limits.max_query_chars {
        return bad(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the query is longer than {} characters",
                state.config.limits.max_query_chars
            ),
        );
    }
    let database = body
        .database
        .clone()
        .unwrap_or_else(|| state.config.cosmos.database.clone());
    record.database = Some(database.clone());
    record.container = Some(body.container.clone());
    record.query_sha256 = Some(crate::fsutil::hex(&<sha2::Sha256 as sha2::Digest>::digest(
        body.query.as_bytes(),
    )));
    let paths = match crate::cosmos::items::container_partition_key_paths(
        &state.cosmos,
        &database,
        &body.container,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => {
            state.metrics.errors.fetch_add(1, Ordering::Relaxed);
            record.cause = Some(e.to_string());
            audit(state, record, peer, started).await;
            return full(
                StatusCode::BAD_GATEWAY,
                &json!({"error": "cosmos", "cause": e.to_string()}),
            );
        }
    };
    let depth = paths.len();
    let query = match QueryRequest::parse(&body.query, body.parameters.clone(), paths) {
        Ok(q) => q,
        Err(e) => return bad(StatusCode::BAD_REQUEST, format!("query syntax: {e}")),
    };
    let partition_key = body.partition_key.clone().map(|v| match v {
        Value::Array(parts) => parts,
        one => vec![one],
    });
    let request = Request {
        database,
        container: body.container.clone(),
        action: Action::Query,
        query: Some(query),
        partition_key,
        max_items: body.max_items,
        fido2_fresh: false,
        item_id: None,
        document: None,
    };
    let policy = current_policy(state);
    let decision = crate::policy::decide(&policy, &Value::Object(claims), &request);
    let reasons: Vec<String> = decision
        .reasons()
        .iter()
        .map(|r| r.message.clone())
        .collect();
    record.reasons.clone_from(&reasons);
    let Some(plan) = (if decision.allowed() {
        decision.into_scoped()
    } else {
        None
    })
    .as_ref()
    .and_then(QueryPlan::from_scoped) else {
        state.metrics.denied.fetch_add(1, Ordering::Relaxed);
        record.decision = "denied".into();
        record.cause = reasons.first().cloned();
        audit(state, record, peer, started).await;
        return full(
            StatusCode::FORBIDDEN,
            &json!({"error": "denied", "reasons": reasons}),
        );
    };
    let plan = plan.with_key_depth(depth);
    let key = subject.clone().unwrap_or_default();
    {
        let mut running = state.running.lock().await;
        let n = running.entry(key.clone()).or_insert(0);
        if *n >= state.config.limits.max_concurrent_per_subject {
            let mut r = full(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"error": "too_many_requests", "cause": "too many queries of this subject at once"}),
            );
            r.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                hyper::header::HeaderValue::from_static("1"),
            );
            return r;
        }
        *n += 1;
    }
    record.decision = "allowed".into();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let buffered = Arc::new(AtomicUsize::new(0));
    let state2 = state.clone();
    let buffered2 = buffered.clone();
    state.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
    tokio::task::spawn_local(async move {
        let mut spent = QueryStats::default();
        let send = |line: Value| -> bool {
            let mut text = line.to_string();
            text.push('\n');
            buffered2.fetch_add(text.len(), Ordering::Relaxed);
            tx.send(Bytes::from(text)).is_ok()
        };
        let result = crate::cosmos::query::execute(
            &state2.cosmos,
            &plan,
            ExecOptions::default(),
            &mut spent,
            |docs: Vec<Value>| -> Result<(), StreamStop> {
                for doc in docs {
                    if buffered2.load(Ordering::Relaxed) > MAX_BUFFERED_BYTES {
                        return Err(StreamStop::SlowClient);
                    }
                    if !send(json!({"item": doc})) {
                        return Err(StreamStop::Gone);
                    }
                }
                Ok(())
            },
        )
        .await;
        let m = &state2.metrics;
        m.items.fetch_add(spent.items, Ordering::Relaxed);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        m.milli_ru
            .fetch_add((spent.request_charge * 1000.0) as u64, Ordering::Relaxed);
        record.items = Some(spent.items);
        record.request_charge = Some(spent.request_charge);
        match result {
            Ok(()) => {
                record.decision = "allowed".into();
                send(
                    json!({"end": {"items": spent.items, "request_charge": spent.request_charge, "truncated": spent.truncated}}),
                );
            }
            Err(stop) => {
                m.errors.fetch_add(1, Ordering::Relaxed);
                record.decision = "error".into();
                let cause = stop.to_string();
                record.cause = Some(cause.clone());
                send(json!({"error": {"cause": cause}}));
            }
        }
        drop(tx);
        m.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(n) = state2.running.lock().await.get_mut(&key) {
            *n = n.saturating_sub(1);
        }
        audit(&state2, record, peer, started).await;
    });
    let stream = futures::stream::unfold((rx, buffered), |(mut rx, buffered)| async move {
        let chunk = rx.recv().await?;
        buffered.fetch_sub(chunk.len(), Ordering::Relaxed);
        Some((Ok::<_, Infallible>(Frame::data(chunk)), (rx, buffered)))
    });
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemBody {
    container: String,
    id: String,
    partition_key: Value,
    #[serde(default)]
    database: Option<String>,
}

/// `POST /v1/items/get` `{"container","id","partition_key","database"?}`: one item, when the
/// caller's grants allow reading it (denied fields included in the decision, as `item get`).
async fn item_get(
    state: &Arc<State>,
    req: HttpRequest<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = Instant::now();
    let claims = match authenticate(state, &req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (subject, roles) = who(state, &claims);
    let mut record = Record::new("gateway", "read", "error").who(subject.as_deref(), &roles);
    let body: ItemBody = match read_json(state, req, "an item request").await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let database = body
        .database
        .unwrap_or_else(|| state.config.cosmos.database.clone());
    let partition_key = match body.partition_key {
        Value::Array(parts) => parts,
        one => vec![one],
    };
    record.database = Some(database.clone());
    record.container = Some(body.container.clone());
    record.detail = Some(format!("id {:?}", body.id));
    let request = Request {
        database: database.clone(),
        container: body.container.clone(),
        action: Action::Read,
        query: None,
        partition_key: Some(partition_key.clone()),
        max_items: None,
        fido2_fresh: false,
        item_id: Some(body.id.clone()),
        document: None,
    };
    let policy = current_policy(state);
    let decision = crate::policy::decide(&policy, &Value::Object(claims), &request);
    record.reasons = decision
        .reasons()
        .iter()
        .map(|r| r.message.clone())
        .collect();
    if !decision.allowed() {
        state.metrics.denied.fetch_add(1, Ordering::Relaxed);
        record.decision = "denied".into();
        record.cause = record.reasons.first().cloned();
        let reasons = record.reasons.clone();
        audit(state, record, peer, started).await;
        return full(
            StatusCode::FORBIDDEN,
            &json!({"error": "denied", "reasons": reasons}),
        );
    }
    let item = crate::cosmos::items::ItemRef {
        database,
        container: body.container,
        partition_key,
        id: body.id,
    };
    let (status, answer) = match crate::cosmos::items::get(&state.cosmos, &item).await {
        Ok(Some((doc, _, rc))) => {
            record.decision = "allowed".into();
            record.items = Some(1);
            record.request_charge = Some(rc);
            (StatusCode::OK, json!({"item": doc, "request_charge": rc}))
        }
        Ok(None) => {
            record.decision = "allowed".into();
            record.items = Some(0);
            (
                StatusCode::NOT_FOUND,
                json!({"error": "not_found", "cause": "the item does not exist"}),
            )
        }
        Err(e) => {
            state.metrics.errors.fetch_add(1, Ordering::Relaxed);
            record.cause = Some(e.to_string());
            (
                StatusCode::BAD_GATEWAY,
                json!({"error": "cosmos", "cause": e.to_string()}),
            )
        }
    };
    audit(state, record, peer, started).await;
    full(status, &answer)
}

/// Why a stream stopped before the query ended.
#[derive(Debug, thiserror::Error)]
enum StreamStop {
    #[error("{0}")]
    Cosmos(#[from] crate::cosmos::CosmosError),
    #[error("the client reads too slowly: more than 8 MiB of results waited for it")]
    SlowClient,
    #[error("the client went away")]
    Gone,
}

fn openapi() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {"title": "cosmoscope gateway", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/databases": {"get": {"summary": "Databases the caller's grants name", "responses": {"200": {"description": "[{id}]"}, "401": {"description": "invalid token"}}}},
            "/v1/containers": {"get": {"summary": "Containers of a database the caller's grants name", "parameters": [{"name": "database", "in": "query", "schema": {"type": "string"}}], "responses": {"200": {"description": "[{id, database, partition_key_paths}]"}, "401": {"description": "invalid token"}}}},
            "/v1/items/get": {"post": {"summary": "Read one item the caller's grants allow", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["container", "id", "partition_key"], "additionalProperties": false, "properties": {"container": {"type": "string"}, "id": {"type": "string"}, "partition_key": {}, "database": {"type": "string"}}}}}}, "responses": {"200": {"description": "{item, request_charge}"}, "403": {"description": "denied, with reasons"}, "404": {"description": "no such item"}}}},
            "/v1/whoami": {"get": {"summary": "The verified subject and roles", "responses": {"200": {"description": "subject and roles"}, "401": {"description": "invalid token"}}}},
            "/v1/query": {"post": {
                "summary": "Run a policy-checked query; NDJSON lines {\"item\"}…, then {\"end\"} or {\"error\"}",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["container", "query"], "additionalProperties": false,
                    "properties": {
                        "container": {"type": "string"}, "query": {"type": "string"}, "database": {"type": "string"},
                        "parameters": {"type": "object"}, "partition_key": {}, "max_items": {"type": "integer", "minimum": 0}
                    }}}}},
                "responses": {"200": {"description": "application/x-ndjson stream"}, "400": {"description": "bad request"},
                              "401": {"description": "invalid token"}, "403": {"description": "denied, with reasons"},
                              "413": {"description": "body or query too large"}, "429": {"description": "too many queries at once"}}
            }},
            "/healthz": {"get": {"security": [], "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"security": [], "responses": {"200": {"description": "ready"}, "503": {"description": "Cosmos DB unreachable"}}}},
            "/metrics": {"get": {"security": [], "responses": {"200": {"description": "Prometheus text format"}}}}
        }
    })
}
