//! `cosmoscope serve`: the policy enforced where the user cannot reach it.
//!
//! A stateless HTTP server that holds the Cosmos DB credential, verifies every caller's bearer
//! token itself (signature through the provider's JWKS, issuer, the gateway's audience, expiry,
//! the algorithm allow-list — [`crate::identity::verify`]) and decides with the same policy engine
//! as the CLI, on the claims of that verified token only. Nothing the client says about itself is
//! trusted. One audit record per request; a request whose record cannot be written fails.
//!
//! The API is in [`api`] (and described by `GET /v1/openapi.json`); this module is the server
//! around it: configuration, TLS, trusted proxies, authentication, limits, audit, metrics,
//! reload and shutdown.

mod api;
pub mod config;
mod metrics;
mod otlp;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::Mutex;

pub use config::{ServeConfig, ServeError};

use crate::audit::Record;
use crate::cosmos::{Cosmos, CosmosAuth};
use crate::identity::Claims;
use crate::identity::verify::Verifier;
use crate::policy::Policy;
use crate::settings::{CosmosSettings, CredentialKind};

/// How long a TLS handshake, or a request's headers, may take.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long a stopping server lets in-flight streams finish.
const DRAIN: Duration = Duration::from_secs(20);

/// Everything a request needs, shared by all of them.
struct State {
    config: ServeConfig,
    /// Replaced on SIGHUP by a policy that parsed and validated; a bad file keeps the old one.
    policy: std::sync::RwLock<Arc<Policy>>,
    /// One per accepted issuer, in the order of the configuration.
    verifiers: Vec<Arc<Keys>>,
    cosmos: Cosmos,
    audit: AuditSink,
    /// `[server.otlp]`: the records exported as OpenTelemetry logs too.
    otlp: Option<otlp::Exporter>,
    /// The key of `query_hmac`, when configured.
    hash_key: Option<secrecy::SecretString>,
    metrics: metrics::Metrics,
    /// Queries running per identity (until their answer is read or dropped).
    running: std::sync::Mutex<HashMap<String, usize>>,
    /// Requests per subject in the current minute: (minute started, count).
    rates: Mutex<HashMap<String, (Instant, u32)>>,
    /// Requests being answered (a stream counts until its last line): a stopping server waits
    /// for them.
    active: std::sync::atomic::AtomicUsize,
    /// Partition-key paths of the containers queried lately (a container's partition key cannot
    /// change; a minute bounds how long a deleted and re-created one is seen with the old one).
    key_paths: Mutex<HashMap<(String, String), KeyPaths>>,
    /// The last Cosmos DB reachability check of `/readyz`.
    ready_cache: Mutex<Option<(Instant, bool)>>,
}

type Body = BoxBody<Bytes, Infallible>;

/// A container's partition-key paths and when they were read.
type KeyPaths = (Instant, Vec<String>);

/// Runs the server until SIGTERM or Ctrl-C. `ready` is called with the bound address and whether
/// it speaks TLS.
pub async fn run(
    config: ServeConfig,
    policy: Policy,
    ready: impl FnOnce(SocketAddr, bool),
) -> Result<(), ServeError> {
    let mut verifiers = Vec::new();
    for issuer in &config.accepted {
        let provider = crate::identity::Provider::discover(issuer, "").await?;
        let mut verifier = Verifier::new(&provider.http, issuer, &provider.metadata.jwks_uri, None);
        // Not ready (`/readyz`) until the keys are here; a later request fetches them again.
        if let Err(e) = verifier.prefetch().await {
            log(
                Level::Warn,
                &json!({"jwks_unavailable": issuer.url, "cause": e.to_string()}),
            );
        }
        verifiers.push(Arc::new(Keys::new(verifier)));
    }
    for keys in &verifiers {
        let keys = keys.clone();
        let issuer = keys.issuer.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(KEYS_REFRESH).await;
                if let Err(e) = keys.fetch(None).await {
                    log(
                        Level::Warn,
                        &json!({"jwks_unavailable": issuer, "cause": e, "kept": "the keys in memory"}),
                    );
                }
            }
        });
    }
    let cosmos = connect(&config).await?;
    let hash_key = match &config.audit_hash_key_env {
        Some(var) => {
            Some(
                crate::env::Env::named_secret(var).ok_or_else(|| ServeError::Config {
                    path: "the environment".into(),
                    message: format!("audit_hash_key_env: {var} holds no key"),
                })?,
            )
        }
        None => None,
    };
    let audit = match config.audit.as_deref() {
        None | Some("stdout") => None,
        Some(path) => Some(
            std::os::unix::fs::OpenOptionsExt::mode(
                std::fs::OpenOptions::new().create(true).append(true),
                0o600,
            )
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
    // Plain HTTP off loopback is for the declared proxies only.
    let proxies_only = tls.is_none() && !addr.ip().is_loopback();
    let metrics = metrics::Metrics::new();
    let otlp = config.otlp.as_ref().map(|o| {
        let dropped = metrics.otlp_dropped.clone();
        otlp::Exporter::start(o.endpoint.clone(), move |n| {
            dropped.inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        })
    });
    let state = Arc::new(State {
        config,
        policy: std::sync::RwLock::new(Arc::new(policy)),
        verifiers,
        cosmos,
        audit: AuditSink::start(audit),
        otlp,
        hash_key,
        metrics,
        running: std::sync::Mutex::new(HashMap::new()),
        rates: Mutex::new(HashMap::new()),
        active: std::sync::atomic::AtomicUsize::new(0),
        ready_cache: Mutex::new(None),
        key_paths: Mutex::new(HashMap::new()),
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
    // Every connection is watched: on SIGTERM each finishes the request it is answering (a
    // stream: to its last line) and closes, instead of taking new ones.
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => if let Ok(a) = accepted { a } else {
                // Out of descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            },
            _ = hup.recv() => {
                reload(&state);
                continue;
            }
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        // Answers go out as they are written (a stream's lines, a small JSON body): without
        // this, Nagle's algorithm and the client's delayed ACK add ~40 ms to a short answer.
        let _ = stream.set_nodelay(true);
        if proxies_only && !state.config.proxies.iter().any(|p| p.contains(peer.ip())) {
            log(
                Level::Warn,
                &json!({"refused_connection": peer.to_string(), "cause": "not a trusted proxy"}),
            );
            continue;
        }
        let state = state.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::task::spawn_local(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req, peer).await) }
            });
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE);
            match tls {
                None => {
                    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    // A client that never finishes its handshake holds nothing for long.
                    let handshake = tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        let conn =
                            http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                        let _ = watcher.watch(conn).await;
                    }
                }
            }
        });
    }
    // Graceful: no new connections; streams in flight get DRAIN to finish (their audit records
    // are written as they end).
    drop(listener);
    let deadline = tokio::time::Instant::now() + DRAIN;
    let _ = tokio::time::timeout_at(deadline, graceful.shutdown()).await;
    // Streams whose client is gone still write their outcome record.
    while state.metrics.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    log(
        Level::Info,
        &json!({
            "stopped": true,
            "streams_cut": state.metrics.in_flight(),
            "requests_cut": state.active.load(std::sync::atomic::Ordering::Relaxed),
        }),
    );
    Ok(())
}

/// The gateway's own Cosmos DB client: an account key from the environment or a file, or an
/// Entra identity of the gateway (managed identity, workload identity, client secret).
async fn connect(config: &ServeConfig) -> Result<Cosmos, ServeError> {
    let c = &config.cosmos;
    let mut settings = CosmosSettings::new(c.endpoint.clone(), c.credential);
    settings.http2 = c.http2;
    settings.tenant_id.clone_from(&c.tenant_id);
    settings.client_id.clone_from(&c.client_id);
    settings.authority_host.clone_from(&c.authority_host);
    crate::settings::check_url(&c.endpoint, "[server.cosmos] endpoint").map_err(|message| {
        ServeError::Config {
            path: "[server.cosmos]".into(),
            message,
        }
    })?;
    let auth = if c.credential == CredentialKind::Key {
        CosmosAuth::Key(account_key(config)?)
    } else {
        CosmosAuth::Token(crate::cosmos::credential::broker(
            &settings,
            &crate::env::Env::from_process(),
        )?)
    };
    Ok(crate::cosmos::client::build(&settings, auth).await?)
}

/// `credential = "key"`: the key from `key_file` (readable by this user only) or the variable.
fn account_key(config: &ServeConfig) -> Result<secrecy::SecretString, ServeError> {
    let bad = |path: String, message: String| ServeError::Config { path, message };
    let raw = if let Some(file) = &config.cosmos.key_file {
        let shown = file.display().to_string();
        key_file_is_private(file).map_err(|message| bad(shown.clone(), message))?;
        secrecy::SecretString::from(std::fs::read_to_string(file).map_err(|source| {
            ServeError::Read {
                path: shown.clone(),
                source,
            }
        })?)
    } else {
        let var = config.key_env();
        crate::env::Env::named_secret(&var).ok_or_else(|| {
            bad(
                "the environment".into(),
                format!("{var} holds no account key"),
            )
        })?
    };
    crate::cosmos::credential::parse_account_key(secrecy::ExposeSecret::expose_secret(&raw))
        .map_err(|e| bad("[server.cosmos]".into(), format!("the account key: {e}")))
}

/// A key file others may read is refused (a mounted secret: `defaultMode: 0400`).
fn key_file_is_private(file: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(file).map_err(|e| e.to_string())?;
    if meta.mode() & 0o007 != 0 {
        return Err(format!(
            "the key file may be read by anyone (mode {:o}); make it 0600 or 0400",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// How much a log line matters (its `level`).
#[derive(Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Log lines waiting for the stdout writer at most: the rest of its queue is the audit records',
/// so a flood of log lines (refused connections, say) never makes an audit write fail.
const LOG_LINES_QUEUED: usize = 256;

/// Log lines queued and not yet written.
static LOG_QUEUED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One structured log line on stdout: `{"time","level",…fields}`. Audit records that share stdout
/// never carry `level`, which is how a collector tells the two apart. The line is queued for the
/// stdout writer and never waits for it: a stalled reader costs log lines (beyond
/// [`LOG_LINES_QUEUED`] waiting), never requests.
pub fn log(level: Level, fields: &Value) {
    let mut line = serde_json::Map::new();
    line.insert("time".into(), crate::clock::now_rfc3339_millis().into());
    let level = match level {
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    };
    line.insert("level".into(), level.into());
    if let Value::Object(fields) = fields {
        line.extend(fields.clone());
    }
    if LOG_QUEUED.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= LOG_LINES_QUEUED
        || stdout_writer()
            .try_send(Written::Log(format!("{}\n", Value::Object(line))))
            .is_err()
    {
        LOG_QUEUED.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits (at most [`AUDIT_DEADLINE`]) until every line queued for stdout is written: the last
/// log lines of a server that stops must not be lost (unless stdout has stalled).
pub fn flush_stdout() {
    let deadline = Instant::now() + AUDIT_DEADLINE;
    let (done, written) = std::sync::mpsc::sync_channel(1);
    let mut flush = Written::Flush(done);
    // A full queue is still moving: wait for room, up to the deadline.
    loop {
        match stdout_writer().try_send(flush) {
            Ok(()) => break,
            Err(std::sync::mpsc::TrySendError::Full(back)) if Instant::now() < deadline => {
                flush = back;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return,
        }
    }
    let _ = written.recv_timeout(deadline.saturating_duration_since(Instant::now()));
}

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

/// SIGHUP: read the policy file again; replace the policy only if the new one is valid.
fn reload(state: &State) {
    let path = &state.config.policy;
    match config::load_policy(path) {
        Ok(policy) => {
            if let Ok(mut slot) = state.policy.write() {
                *slot = Arc::new(policy);
            }
            log(
                Level::Info,
                &json!({"policy_reloaded": path.display().to_string()}),
            );
        }
        Err(e) => log(
            Level::Error,
            &json!({"policy_reload_failed": path.display().to_string(), "cause": e.to_string(), "kept": "the previous policy"}),
        ),
    }
}

/// The policy in force now (SIGHUP may replace it; a request keeps the one it started with).
fn current_policy(state: &State) -> Arc<Policy> {
    state
        .policy
        .read()
        .map_or_else(|p| p.into_inner().clone(), |p| p.clone())
}

/// A JSON answer.
fn full(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A JSON error answer: `{"error": kind, "cause": …}`.
fn error(status: StatusCode, kind: &str, cause: impl Into<String>) -> Response<Body> {
    full(status, &json!({"error": kind, "cause": cause.into()}))
}

/// 429 with `Retry-After` (seconds).
fn too_many(cause: &str, retry_after: u64) -> Response<Body> {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", cause);
    r.headers_mut()
        .insert(hyper::header::RETRY_AFTER, HeaderValue::from(retry_after));
    r
}

fn unauthorized(cause: &str) -> Response<Body> {
    let mut r = error(StatusCode::UNAUTHORIZED, "invalid_token", cause);
    let challenge = format!(
        "Bearer realm=\"cosmoscope\", error=\"invalid_token\", error_description=\"{}\"",
        cause.replace(['"', '\\'], "'")
    );
    if let Ok(v) = HeaderValue::from_str(&crate::text::terminal_text(&challenge)) {
        r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, v);
    }
    r
}

/// What a request handler knows about the caller once the token is verified.
struct Caller {
    claims: Claims,
    subject: Option<String>,
    roles: Vec<String>,
    /// The request's audit record, already naming who, from where, and the request id.
    record: Record,
    started: Instant,
    /// The decision is already on record (a write, a query): what follows is its outcome.
    decided_on_record: bool,
}

impl Caller {
    fn claims_value(&self) -> Value {
        Value::Object(self.claims.clone())
    }
}

async fn handle(
    state: &Arc<State>,
    req: HttpRequest<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = Instant::now();
    let request_id = {
        let mut id = [0u8; 12];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
        crate::fsutil::hex(&id)
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let origin = req.headers().get(hyper::header::ORIGIN).cloned();
    state
        .active
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut response = if method == Method::OPTIONS {
        preflight(state, origin.as_ref())
    } else {
        Box::pin(route(state, req, peer, &request_id, started)).await
    };
    state
        .active
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    cors(state, origin.as_ref(), &mut response);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-request-id"), v);
    }
    state.metrics.request(
        &method,
        &path,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn route(
    state: &Arc<State>,
    req: HttpRequest<Incoming>,
    peer: SocketAddr,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    let path = req.uri().path().to_string();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => return full(StatusCode::OK, &json!({"status": "alive"})),
        (&Method::GET, "/readyz") => return readyz(state).await,
        (&Method::GET, "/metrics") => return state.metrics.render(),
        (&Method::GET, "/v1/openapi.json") => return full(StatusCode::OK, &api::openapi()),
        _ => {}
    }
    let Some(endpoint) = api::Endpoint::of(req.method(), &path) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint {} {path} (see /v1/openapi.json)", req.method()),
        );
    };
    let client = client_address(state, &req, peer);
    let caller = match authenticate(state, &req).await {
        Ok(claims) => claims,
        Err(cause) => {
            // What the token said is the caller's text: escaped and capped before it is
            // recorded or answered. Failures are limited per client address, before anyone is
            // known.
            let cause = capped(&cause);
            state.metrics.refused("invalid_token");
            let mut record = Record::new("gateway", endpoint.action(), "denied").cause(&cause);
            record.request_id = Some(request_id.to_string());
            record.client = Some(client.clone());
            if let Err(retry_after) = rate(state, &format!("client {client}")).await {
                state.metrics.refused("rate_limited");
                record.cause = Some("rate limited (failed authentication)".into());
                if !write_audit(state, record, started).await {
                    return audit_failed();
                }
                return too_many(
                    "too many failed authentications from this address",
                    retry_after,
                );
            }
            if !write_audit(state, record, started).await {
                return audit_failed();
            }
            return unauthorized(&cause);
        }
    };
    let (subject, roles) = who(state, &caller);
    let mut record =
        Record::new("gateway", endpoint.action(), "error").who(subject.as_deref(), &roles);
    record.request_id = Some(request_id.to_string());
    record.client = Some(client);
    if let Err(retry_after) = rate(state, &limit_key(&caller)).await {
        state.metrics.refused("rate_limited");
        record.decision = "denied".into();
        record.cause = Some("rate limited".into());
        if !write_audit(state, record, started).await {
            return audit_failed();
        }
        return too_many("too many requests of this subject this minute", retry_after);
    }
    let caller = Caller {
        claims: caller,
        subject,
        roles,
        record,
        started,
        decided_on_record: false,
    };
    let timeout = Duration::from_secs(state.config.limits.request_timeout_secs.max(1));
    api::serve(state, endpoint, req, caller, timeout).await
}

/// A cause that came from the caller (a token's header or claims): control characters escaped,
/// at most 200 characters.
fn capped(cause: &str) -> String {
    let text = crate::text::terminal_text(cause);
    if text.chars().count() <= 200 {
        return text;
    }
    let mut cut: String = text.chars().take(200).collect();
    cut.push('…');
    cut
}

/// Whose limits a request counts against: the subject of its issuer (and tenant), so that the
/// same `sub` at two providers is two identities.
fn limit_key(claims: &Claims) -> String {
    let part = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default();
    format!("{} {} {}", part("iss"), part("tid"), part("sub"))
}

/// 500: the request's audit record could not be written, so the request did not happen.
fn audit_failed() -> Response<Body> {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "audit_unwritable",
        "the gateway cannot write its audit record; nothing was done",
    )
}

/// `OPTIONS`: a CORS preflight, answered only for a configured origin.
fn preflight(state: &State, origin: Option<&HeaderValue>) -> Response<Body> {
    let allowed = origin
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| state.config.cors_origins.iter().any(|c| c == o));
    if !allowed {
        return error(
            StatusCode::FORBIDDEN,
            "cors",
            "this origin is not in the gateway's cors_origins",
        );
    }
    let mut r = Response::new(Full::new(Bytes::new()).boxed());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE"),
    );
    h.insert(
        hyper::header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, if-none-match"),
    );
    h.insert(
        hyper::header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

/// CORS answer headers, for a configured origin only (none by default).
fn cors(state: &State, origin: Option<&HeaderValue>, response: &mut Response<Body>) {
    if let Some(origin) = origin
        && origin
            .to_str()
            .is_ok_and(|o| state.config.cors_origins.iter().any(|c| c == o))
    {
        let h = response.headers_mut();
        h.insert(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(hyper::header::VARY, HeaderValue::from_static("origin"));
    }
}

/// The client's address: the connection's, or — from a trusted proxy — the last address in
/// `X-Forwarded-For` that is not a trusted proxy itself.
fn client_address<B>(state: &State, req: &HttpRequest<B>, peer: SocketAddr) -> String {
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    client_of(peer, &entries, |ip| {
        state.config.proxies.iter().any(|p| p.contains(ip))
    })
}

/// From the right: each trusted proxy names the one before it; the first address that is not a
/// trusted proxy is the client. An entry that is not an address ends the walk (what is left of
/// it was written by someone we do not trust).
fn client_of(peer: SocketAddr, forwarded: &[&str], trusted: impl Fn(IpAddr) -> bool) -> String {
    if !trusted(peer.ip()) {
        return peer.to_string();
    }
    let mut last = peer.ip();
    for entry in forwarded.iter().rev() {
        let Some(ip) = forwarded_ip(entry.trim()) else {
            break;
        };
        last = ip;
        if !trusted(ip) {
            break;
        }
    }
    if last == peer.ip() {
        peer.to_string()
    } else {
        last.to_string()
    }
}

/// An `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5000`, `::1` or `[::1]:5000`.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip);
    }
    entry.parse::<SocketAddr>().ok().map(|a| a.ip())
}

/// A fixed one-minute window per subject; `Err(seconds)` to wait when it is used up.
async fn rate(state: &State, subject: &str) -> Result<(), u64> {
    let limit = state.config.limits.requests_per_minute;
    if limit == 0 {
        return Ok(());
    }
    let now = Instant::now();
    let mut rates = state.rates.lock().await;
    if rates.len() > 100_000 {
        rates.retain(|_, (start, _)| now.duration_since(*start) < Duration::from_mins(1));
    }
    let entry = rates.entry(subject.to_string()).or_insert((now, 0));
    if now.duration_since(entry.0) >= Duration::from_mins(1) {
        *entry = (now, 0);
    }
    if entry.1 >= limit {
        let left = Duration::from_mins(1).saturating_sub(now.duration_since(entry.0));
        return Err(left.as_secs().max(1));
    }
    entry.1 += 1;
    Ok(())
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

/// The verified claims of the request's bearer token, or why there are none.
async fn authenticate<B>(state: &State, req: &HttpRequest<B>) -> Result<Claims, String> {
    let claims = verify_bearer(state, req).await?;
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err("the token names no subject (sub)".into());
    }
    Ok(claims)
}

async fn verify_bearer<B>(state: &State, req: &HttpRequest<B>) -> Result<Claims, String> {
    let Some(header) = req.headers().get(hyper::header::AUTHORIZATION) else {
        return Err("no Authorization: Bearer token".into());
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("the Authorization header is not a Bearer token")?;
    // Several issuers: the one the token names is the one that verifies it (and a token naming
    // none of them is checked against the first, which refuses it by its issuer).
    let named = unverified_issuer(token);
    let index = state
        .config
        .accepted
        .iter()
        .position(|i| named.as_deref().is_some_and(|n| issuer_matches(i, n)))
        .unwrap_or(0);
    state.verifiers[index]
        .verify(token, &state.config.audience)
        .await
}

/// How often the gateway fetches each provider's keys again in the background (a rotation is
/// also picked up at once: a token signed with a key we lack makes one request fetch, at most
/// once a minute).
const KEYS_REFRESH: Duration = Duration::from_hours(1);

/// One provider's keys, shared by every request. A request verifies with the keys in memory
/// under a lock that is never held across an await, so nothing waits on the network but a
/// request that needs keys we lack — and of those, one fetches while the others wait for it
/// (single flight), whatever the provider's speed.
struct Keys {
    issuer: String,
    verifier: std::sync::Mutex<Verifier>,
    /// Held by the one request (or the refresher) fetching the keys.
    fetching: Mutex<()>,
    /// How many fetches have started, and the number of the last one that brought keys: a
    /// request that waited for a fetch begun after it looked, and that succeeded, does not fetch
    /// again (a failed one, or one begun before, does not count).
    started: std::sync::atomic::AtomicU64,
    succeeded: std::sync::atomic::AtomicU64,
}

impl Keys {
    fn new(verifier: Verifier) -> Keys {
        Keys {
            issuer: verifier.issuer_url().to_string(),
            verifier: std::sync::Mutex::new(verifier),
            fetching: Mutex::new(()),
            started: std::sync::atomic::AtomicU64::new(0),
            succeeded: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn verifier(&self) -> std::sync::MutexGuard<'_, Verifier> {
        self.verifier
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn has_keys(&self) -> bool {
        self.verifier().has_keys()
    }

    async fn verify(&self, token: &str, audience: &str) -> Result<Claims, String> {
        use crate::identity::verify::InMemory;
        let looked = self.started.load(std::sync::atomic::Ordering::SeqCst);
        if let InMemory::Done(verdict) = self.verifier().verify_in_memory(token, audience) {
            return verdict.map_err(|e| e.to_string());
        }
        self.fetch(Some(looked)).await?;
        match self.verifier().verify_after_fetch(token, audience) {
            InMemory::Done(verdict) => verdict.map_err(|e| e.to_string()),
            InMemory::Fetch => Err(format!(
                "the keys of {} could not be fetched; try again shortly",
                self.issuer
            )),
        }
    }

    /// Fetches the keys, one fetch at a time, and installs them (a failure keeps the keys in
    /// memory). With `after` (how many fetches had started when the caller looked), nothing is
    /// fetched when one that started since then has brought keys.
    async fn fetch(&self, after: Option<u64>) -> Result<(), String> {
        use std::sync::atomic::Ordering::SeqCst;
        let _one = self.fetching.lock().await;
        if after.is_some_and(|looked| self.succeeded.load(SeqCst) > looked) {
            return Ok(());
        }
        let this = self.started.fetch_add(1, SeqCst) + 1;
        let fetch = self.verifier().jwks_fetch();
        let fetched = fetch.await.map_err(|e| e.to_string())?;
        self.verifier().install(fetched);
        self.succeeded.store(this, SeqCst);
        Ok(())
    }
}

/// The `iss` a token claims, read without verifying anything (only to pick the verifier).
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

/// Whether `iss` is what `issuer` issues: its URL, or its `{tenantid}` template with one of
/// its tenants.
fn issuer_matches(issuer: &crate::identity::Issuer, iss: &str) -> bool {
    let expected = issuer.expected();
    if expected.trim_end_matches('/') == iss.trim_end_matches('/') {
        return true;
    }
    issuer.tenants.iter().any(|t| {
        expected
            .replace(crate::identity::TENANT_PLACEHOLDER, t)
            .trim_end_matches('/')
            == iss.trim_end_matches('/')
    })
}

async fn readyz(state: &State) -> Response<Body> {
    let mut keys = true;
    for v in &state.verifiers {
        keys &= v.has_keys();
    }
    // Asked of Cosmos DB at most every 5 s, however often the probes come.
    let cached = {
        let last = state.ready_cache.lock().await;
        last.filter(|(at, _)| at.elapsed() < Duration::from_secs(5))
            .map(|(_, ok)| ok)
    };
    let cosmos = if let Some(ok) = cached {
        ok
    } else {
        let ok = crate::cosmos::items::list_databases(&state.cosmos)
            .await
            .is_ok();
        *state.ready_cache.lock().await = Some((Instant::now(), ok));
        ok
    };
    let status = if cosmos && keys {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    full(status, &json!({"cosmos": cosmos, "jwks": keys}))
}

/// Appends the record (with the duration so far) to the audit sink; `false` when it could not be
/// written — the caller then fails the request.
async fn write_audit(state: &State, record: Record, started: Instant) -> bool {
    write_record(state, record, started, false).await
}

/// The record of what is about to happen (a write, a query's first document): on disk (synced)
/// before it happens, or `false` and it does not happen.
async fn audit_before(state: &State, record: Record, started: Instant) -> bool {
    write_record(state, record, started, true).await
}

async fn write_record(state: &State, mut record: Record, started: Instant, durable: bool) -> bool {
    record.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    record.time = crate::clock::now_rfc3339_millis();
    let Ok(mut line) = serde_json::to_string(&record) else {
        return false;
    };
    line.push('\n');
    match state.audit.write(line, durable).await {
        Ok(()) => {
            if let Some(otlp) = &state.otlp
                && let Ok(v) = serde_json::to_value(&record)
                && !otlp.send(v)
            {
                state.metrics.otlp_dropped.inc();
            }
            true
        }
        Err(e) => {
            state.metrics.audit_failed();
            log(Level::Error, &json!({"audit_unwritable": e}));
            false
        }
    }
}

/// How long a request waits for its audit record to be written before it fails.
const AUDIT_DEADLINE: Duration = Duration::from_secs(5);

/// What a writer thread is given: a line (and whether to sync a file after it) with the channel
/// that hears how writing it went, or a request to say when everything before it is written.
enum Written {
    Line(
        String,
        bool,
        tokio::sync::oneshot::Sender<std::io::Result<()>>,
    ),
    /// A log line (for stdout only; counted in [`LOG_QUEUED`]).
    Log(String),
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// A thread that writes lines to a file, or to stdout, in the order they were queued.
fn writer(file: Option<std::fs::File>) -> std::sync::mpsc::SyncSender<Written> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Written>(1024);
    std::thread::spawn(move || {
        use std::io::Write as _;
        let mut file = file;
        for written in rx {
            match written {
                Written::Line(line, durable, done) => {
                    let result = if let Some(f) = file.as_mut() {
                        f.write_all(line.as_bytes())
                            .and_then(|()| if durable { f.sync_data() } else { Ok(()) })
                    } else {
                        let mut out = std::io::stdout().lock();
                        out.write_all(line.as_bytes()).and_then(|()| out.flush())
                    };
                    let _ = done.send(result);
                }
                Written::Log(line) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
                    LOG_QUEUED.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
                Written::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    });
    tx
}

/// The one writer of stdout: log lines, and audit records when `audit = "stdout"`, so lines
/// never interleave.
fn stdout_writer() -> &'static std::sync::mpsc::SyncSender<Written> {
    static STDOUT: std::sync::OnceLock<std::sync::mpsc::SyncSender<Written>> =
        std::sync::OnceLock::new();
    STDOUT.get_or_init(|| writer(None))
}

/// The audit sink on a thread of its own: a sink that stalls (a full pipe on stdout, a slow
/// disk) fails the requests waiting on it after [`AUDIT_DEADLINE`], never the server — health
/// checks and metrics keep answering.
struct AuditSink {
    tx: std::sync::mpsc::SyncSender<Written>,
}

impl AuditSink {
    fn start(file: Option<std::fs::File>) -> AuditSink {
        let tx = match file {
            Some(file) => writer(Some(file)),
            None => stdout_writer().clone(),
        };
        AuditSink { tx }
    }

    async fn write(&self, line: String, durable: bool) -> Result<(), String> {
        let (done, result) = tokio::sync::oneshot::channel();
        self.tx
            .try_send(Written::Line(line, durable, done))
            .map_err(|_| "the audit sink is not keeping up".to_string())?;
        match tokio::time::timeout(AUDIT_DEADLINE, result).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_string()),
            Ok(Err(_)) => Err("the audit writer stopped".into()),
            Err(_) => Err(format!(
                "the audit sink did not take the record within {} s",
                AUDIT_DEADLINE.as_secs()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(ip: IpAddr) -> bool {
        ip.to_string().starts_with("10.")
    }

    #[test]
    fn the_client_is_the_first_untrusted_address_from_the_right() {
        let peer: SocketAddr = "10.0.0.5:4000".parse().expect("addr");
        // The client wrote a fake entry; the proxy appended the real one (with a port).
        assert_eq!(
            client_of(peer, &["6.6.6.6", "203.0.113.9:51000"], proxy),
            "203.0.113.9"
        );
        assert_eq!(
            client_of(peer, &["6.6.6.6", "[2001:db8::1]:443"], proxy),
            "2001:db8::1"
        );
        // Through two trusted proxies.
        assert_eq!(
            client_of(peer, &["198.51.100.2", "10.0.0.9"], proxy),
            "198.51.100.2"
        );
        // Garbage ends the walk at the last trusted hop.
        assert_eq!(
            client_of(peer, &["198.51.100.2", "unknown", "10.0.0.9"], proxy),
            "10.0.0.9"
        );
        // An untrusted peer's own header is ignored.
        let direct: SocketAddr = "192.0.2.1:1234".parse().expect("addr");
        assert_eq!(client_of(direct, &["10.0.0.1"], proxy), "192.0.2.1:1234");
        assert_eq!(client_of(peer, &[], proxy), "10.0.0.5:4000");
    }

    #[test]
    fn causes_from_callers_are_escaped_and_capped() {
        let long = format!("algorithm \"{}\" is not allowed", "X".repeat(10_000));
        assert!(capped(&long).chars().count() <= 201);
        assert!(!capped("a\u{1b}[2Jb").contains('\u{1b}'));
    }
}
