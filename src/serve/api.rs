//! The gateway's `/v1/` API. Every handler gets a [`Caller`] whose claims were verified, decides
//! with the policy in force on those claims alone, acts through the same Cosmos DB code as the
//! CLI, and writes one audit record (a write: before it happens, so a write that cannot be
//! audited does not happen).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Body, Caller, State, audit_before, audit_failed, current_policy, error, full, write_audit,
};
use crate::cosmos::items::{self, ItemRef, UpsertTarget};
use crate::cosmos::{CosmosError, ExecOptions, QueryPlan, QueryStats};
use crate::policy::{Action, Decision, QueryRequest, Request};

/// How long a request body may take to arrive.
const BODY_DEADLINE: Duration = Duration::from_secs(30);
/// How much of a query's output may wait for a slow client before the query is stopped.
const MAX_BUFFERED_BYTES: usize = 8 << 20;

/// An API endpoint, with the names its path carries (decoded).
pub enum Endpoint {
    WhoAmI,
    Query,
    Explain,
    Databases,
    Containers { database: String },
    Item { method: Method, item: PathItem },
}

pub struct PathItem {
    database: String,
    container: String,
    id: String,
}

impl Endpoint {
    pub fn of(method: &Method, path: &str) -> Option<Endpoint> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        Some(match (method, parts.as_slice()) {
            (&Method::GET, ["v1", "whoami"]) => Endpoint::WhoAmI,
            (&Method::POST, ["v1", "query"]) => Endpoint::Query,
            (&Method::POST, ["v1", "explain"]) => Endpoint::Explain,
            (&Method::GET, ["v1", "databases"]) => Endpoint::Databases,
            (&Method::GET, ["v1", "databases", db, "containers"]) => Endpoint::Containers {
                database: decode(db)?,
            },
            (
                &Method::GET | &Method::PUT | &Method::DELETE,
                ["v1", "databases", db, "containers", c, "items", id],
            ) => Endpoint::Item {
                method: method.clone(),
                item: PathItem {
                    database: decode(db)?,
                    container: decode(c)?,
                    id: decode(id)?,
                },
            },
            _ => return None,
        })
    }

    /// The audit record's action.
    pub fn action(&self) -> &'static str {
        match self {
            Endpoint::WhoAmI => "whoami",
            Endpoint::Query => "query",
            Endpoint::Explain => "explain",
            Endpoint::Databases | Endpoint::Containers { .. } => "ls",
            Endpoint::Item { method, .. } => match *method {
                Method::PUT => "upsert",
                Method::DELETE => "delete",
                _ => "read",
            },
        }
    }
}

/// A path segment, percent-decoded; `None` for bad escapes or bytes that are not UTF-8.
fn decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok().filter(|s| !s.is_empty())
}

pub async fn serve(
    state: &Arc<State>,
    endpoint: Endpoint,
    req: HttpRequest<Incoming>,
    caller: Caller,
    timeout: Duration,
) -> Response<Body> {
    let (mut late, started) = (caller.record.clone(), caller.started);
    let work = async {
        match endpoint {
            Endpoint::WhoAmI => whoami(state, caller).await,
            Endpoint::Query => query(state, req, caller, timeout).await,
            Endpoint::Explain => explain(state, req, caller).await,
            Endpoint::Databases => databases(state, caller).await,
            Endpoint::Containers { database } => containers(state, caller, database).await,
            Endpoint::Item { method, item } => match method {
                Method::PUT => upsert(state, req, caller, item).await,
                Method::DELETE => delete(state, &req, caller, item).await,
                _ => get(state, &req, caller, item).await,
            },
        }
    };
    // A query's stream has its own deadline; everything else answers within this one.
    if let Ok(response) = tokio::time::timeout(timeout, work).await {
        return response;
    }
    let cause = "the request took longer than the gateway's request_timeout_secs";
    late.decision = "error".into();
    late.cause = Some(cause.into());
    if write_audit(state, late, started).await {
        error(StatusCode::GATEWAY_TIMEOUT, "timeout", cause)
    } else {
        audit_failed()
    }
}

/// Writes the caller's record and answers `response` — or 500 when the record cannot be written.
async fn finish(state: &State, caller: Caller, response: Response<Body>) -> Response<Body> {
    if write_audit(state, caller.record, caller.started).await {
        response
    } else {
        audit_failed()
    }
}

/// A refusal of the request itself (400/413): recorded, then answered.
async fn refuse(
    state: &State,
    mut caller: Caller,
    status: StatusCode,
    cause: String,
) -> Response<Body> {
    state
        .metrics
        .refused(if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        });
    caller.record.cause = Some(cause.clone());
    finish(state, caller, error(status, "bad_request", cause)).await
}

/// The policy's denial: 403 with the reasons, recorded.
async fn deny(state: &State, mut caller: Caller, reasons: Vec<String>) -> Response<Body> {
    state.metrics.refused("policy");
    caller.record.decision = "denied".into();
    caller.record.cause = reasons.first().cloned();
    caller.record.reasons.clone_from(&reasons);
    finish(
        state,
        caller,
        full(
            StatusCode::FORBIDDEN,
            &json!({"error": "denied", "reasons": reasons}),
        ),
    )
    .await
}

/// A Cosmos DB failure as the gateway's answer: the caller's mistakes keep their status (404,
/// 409, 412, 400, 429 with `Retry-After`); the gateway's own credential or reach is a 502/504.
async fn failed(state: &State, mut caller: Caller, e: &CosmosError) -> Response<Body> {
    if caller.decided_on_record {
        // A write whose decision is on record: this is its outcome.
        caller.record.detail = Some(format!(
            "{} outcome",
            caller.record.detail.take().unwrap_or_default()
        ));
    }
    caller.record.decision = "error".into();
    caller.record.cause = Some(e.to_string());
    let cause = crate::text::terminal_text(&e.to_string());
    let response = match e {
        CosmosError::NotFound { .. } => error(StatusCode::NOT_FOUND, "not_found", cause),
        CosmosError::Conflict { .. } => error(StatusCode::CONFLICT, "conflict", cause),
        CosmosError::PreconditionFailed { .. } => {
            error(StatusCode::PRECONDITION_FAILED, "changed", cause)
        }
        CosmosError::BadRequest { .. }
        | CosmosError::CrossPartitionUnsupported { .. }
        | CosmosError::QueryShape { .. }
        | CosmosError::PartitionKey(_) => error(StatusCode::BAD_REQUEST, "bad_request", cause),
        CosmosError::Throttled { retry_after, .. } => {
            super::too_many(&cause, retry_after.map_or(1, |d| d.as_secs().max(1)))
        }
        CosmosError::TimedOut { .. } => error(StatusCode::GATEWAY_TIMEOUT, "cosmos", cause),
        _ => error(StatusCode::BAD_GATEWAY, "cosmos", cause),
    };
    finish(state, caller, response).await
}

/// The reasons a caller is told: what applied to it. The roles it does not hold (their names
/// and `when` conditions are the policy's business, not the caller's) are one line.
fn reasons_of(decision: &Decision) -> Vec<String> {
    shown_reasons(decision)
        .into_iter()
        .map(|r| r.message.clone())
        .chain(
            (!decision.allowed() && shown_reasons(decision).is_empty())
                .then(|| NO_ROLE.to_string()),
        )
        .collect()
}

const NO_ROLE: &str = "no role of the gateway's policy applies to this identity";

fn shown_reasons(decision: &Decision) -> Vec<&crate::policy::Reason> {
    use crate::policy::ReasonKind;
    decision
        .reasons()
        .iter()
        .filter(|r| {
            !matches!(
                r.kind,
                ReasonKind::RoleNotMatched | ReasonKind::NoRoleMatched
            )
        })
        .collect()
}

/// The request's JSON body as `T`, within the body-size limit; otherwise (status, cause).
async fn read_json<T: serde::de::DeserializeOwned>(
    state: &State,
    req: HttpRequest<Incoming>,
    what: &str,
) -> Result<T, (StatusCode, String)> {
    let limit = state.config.limits.max_body_bytes;
    // A body is read within BODY_DEADLINE: a client that trickles it in holds nothing for long.
    let read = tokio::time::timeout(
        BODY_DEADLINE,
        Limited::new(req.into_body(), limit).collect(),
    )
    .await
    .map_err(|_| {
        (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ),
        )
    })?;
    let bytes = read
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {limit} bytes"),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read".to_string(),
                )
            }
        })?
        .to_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not {what}: {e}"),
        )
    })
}

/// `GET /v1/whoami`: the verified subject, roles, and what the grants allow.
async fn whoami(state: &State, mut caller: Caller) -> Response<Body> {
    caller.record.decision = "ok".into();
    let grants = current_policy(state).grants_for(&caller.claims_value());
    let body = json!({
        "subject": caller.subject,
        "roles": caller.roles,
        "grants": grants,
        "database": state.config.cosmos.database,
    });
    finish(state, caller, full(StatusCode::OK, &body)).await
}

/// `GET /v1/databases`: the account's databases that the caller's grants name.
async fn databases(state: &State, mut caller: Caller) -> Response<Body> {
    let visible = current_policy(state).visible(&caller.claims_value());
    match items::list_databases(&state.cosmos).await {
        Ok(ids) => {
            let rows: Vec<Value> = ids
                .into_iter()
                .filter(|id| visible.database(id))
                .map(|id| json!({"id": id}))
                .collect();
            caller.record.decision = "ok".into();
            caller.record.items = Some(rows.len() as u64);
            finish(state, caller, full(StatusCode::OK, &Value::Array(rows))).await
        }
        Err(e) => failed(state, caller, &e).await,
    }
}

/// `GET /v1/databases/{db}/containers`: its containers that the caller's grants name.
async fn containers(state: &State, mut caller: Caller, database: String) -> Response<Body> {
    if let Some(problem) = crate::policy::resource_name_problem(&database) {
        return refuse(
            state,
            caller,
            StatusCode::BAD_REQUEST,
            format!("database {problem}"),
        )
        .await;
    }
    caller.record.database = Some(database.clone());
    let visible = current_policy(state).visible(&caller.claims_value());
    if !visible.database(&database) {
        // Whether it exists is not for this caller to learn.
        caller.record.decision = "ok".into();
        caller.record.items = Some(0);
        return finish(state, caller, full(StatusCode::OK, &json!([]))).await;
    }
    match items::list_containers(&state.cosmos, &database).await {
        Ok(rows) => {
            let rows: Vec<Value> = rows
                .into_iter()
                .filter(|(id, _)| visible.container(&database, id))
                .map(|(id, paths)| json!({"id": id, "database": database, "partition_key_paths": paths}))
                .collect();
            caller.record.decision = "ok".into();
            caller.record.items = Some(rows.len() as u64);
            finish(state, caller, full(StatusCode::OK, &Value::Array(rows))).await
        }
        Err(e) => failed(state, caller, &e).await,
    }
}

/// The body of `POST /v1/query` and `POST /v1/explain`.
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

/// A query request read, checked against the limits, and decided: the decision with what it was
/// decided on, or the answer already given.
struct Decided {
    decision: Decision,
    text: String,
    params: Map<String, Value>,
    paths: Vec<String>,
    caller: Caller,
}

async fn decide_query(
    state: &State,
    req: HttpRequest<Incoming>,
    mut caller: Caller,
) -> Result<Decided, Response<Body>> {
    let body: QueryBody = match read_json(state, req, "a query request").await {
        Ok(b) => b,
        Err((status, cause)) => return Err(refuse(state, caller, status, cause).await),
    };
    let limit = state.config.limits.max_query_chars;
    if body.query.chars().count() > limit {
        return Err(refuse(
            state,
            caller,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the query is longer than {limit} characters"),
        )
        .await);
    }
    let database = body
        .database
        .unwrap_or_else(|| state.config.cosmos.database.clone());
    for (what, name) in [("database", &database), ("container", &body.container)] {
        if let Some(problem) = crate::policy::resource_name_problem(name) {
            return Err(refuse(
                state,
                caller,
                StatusCode::BAD_REQUEST,
                format!("{what} {problem}"),
            )
            .await);
        }
    }
    caller.record.database = Some(database.clone());
    caller.record.container = Some(body.container.clone());
    match &state.hash_key {
        Some(key) => {
            use hmac::Mac as _;
            if let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(
                secrecy::ExposeSecret::expose_secret(key).as_bytes(),
            ) {
                mac.update(body.query.as_bytes());
                caller.record.query_hmac = Some(crate::fsutil::hex(&mac.finalize().into_bytes()));
            }
        }
        None => caller.record.query = Some(body.query.clone()),
    }
    caller.record.parameters = body.parameters.keys().cloned().collect();
    // A container no grant names is denied without asking Cosmos DB anything: whether it exists
    // is not for this caller to learn (no 404 where others get 403).
    let policy = current_policy(state);
    let paths = if policy
        .visible(&caller.claims_value())
        .container(&database, &body.container)
    {
        match key_paths(state, &database, &body.container).await {
            Ok(p) => p,
            // Decided without paths; a query then meets the same 404 when it runs.
            Err(CosmosError::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(failed(state, caller, &e).await),
        }
    } else {
        Vec::new()
    };
    let query = match QueryRequest::parse(&body.query, body.parameters.clone(), paths.clone()) {
        Ok(q) => q,
        Err(e) => {
            return Err(refuse(
                state,
                caller,
                StatusCode::BAD_REQUEST,
                format!("query syntax: {e}"),
            )
            .await);
        }
    };
    let request = Request {
        database,
        container: body.container,
        action: Action::Query,
        query: Some(query),
        partition_key: body.partition_key.map(|v| match v {
            Value::Array(parts) => parts,
            one => vec![one],
        }),
        max_items: body.max_items,
        // A key touch happens at a person's terminal, never at the gateway.
        fido2_fresh: false,
        item_id: None,
        document: None,
    };
    let decision = crate::policy::decide(&policy, &caller.claims_value(), &request);
    caller.record.reasons = reasons_of(&decision);
    Ok(Decided {
        decision,
        text: body.query,
        params: body.parameters,
        paths,
        caller,
    })
}

/// A container's partition-key paths, from the cache when fresh (one read of the container's
/// properties per minute, not per query).
async fn key_paths(
    state: &State,
    database: &str,
    container: &str,
) -> Result<Vec<String>, CosmosError> {
    let key = (database.to_string(), container.to_string());
    if let Some((at, paths)) = state.key_paths.lock().await.get(&key)
        && at.elapsed() < Duration::from_mins(1)
    {
        return Ok(paths.clone());
    }
    let paths = items::container_partition_key_paths(&state.cosmos, database, container).await?;
    let mut cache = state.key_paths.lock().await;
    if cache.len() >= 10_000 {
        cache.clear();
    }
    cache.insert(key, (std::time::Instant::now(), paths.clone()));
    Ok(paths)
}

/// `POST /v1/explain`: what `policy explain -o json` answers, with the decision and its reasons.
async fn explain(state: &State, req: HttpRequest<Incoming>, caller: Caller) -> Response<Body> {
    let d = match decide_query(state, req, caller).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let paths: Vec<&str> = d.paths.iter().map(String::as_str).collect();
    let mut out = serde_json::to_value(crate::policy::explain(&d.text, &paths, &d.params))
        .unwrap_or(Value::Null);
    if let Some(obj) = out.as_object_mut() {
        obj.insert("allowed".into(), json!(d.decision.allowed()));
        let shown = shown_reasons(&d.decision);
        let reasons = if !d.decision.allowed() && shown.is_empty() {
            json!([{"kind": "no_role_matched", "message": NO_ROLE}])
        } else {
            serde_json::to_value(shown).unwrap_or(Value::Null)
        };
        obj.insert("reasons".into(), reasons);
    }
    let mut caller = d.caller;
    caller.record.decision = if d.decision.allowed() {
        "allowed"
    } else {
        "denied"
    }
    .into();
    finish(state, caller, full(StatusCode::OK, &out)).await
}

/// `POST /v1/query`: the policy-checked query, streamed as NDJSON — one document per line, then
/// `{"_cosmoscope": {"items", "request_charge", "truncated", "error"?}}` as the last line. A
/// stream whose last line is not that trailer was cut.
async fn query(
    state: &Arc<State>,
    req: HttpRequest<Incoming>,
    caller: Caller,
    timeout: Duration,
) -> Response<Body> {
    let d = match decide_query(state, req, caller).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let depth = d.paths.len();
    let reasons = reasons_of(&d.decision);
    let Some(plan) = (if d.decision.allowed() {
        d.decision.into_scoped()
    } else {
        None
    })
    .as_ref()
    .and_then(QueryPlan::from_scoped) else {
        return deny(state, d.caller, reasons).await;
    };
    let plan = plan.with_key_depth(depth);
    let mut caller = d.caller;
    // Counted until the client has read the answer or gone: a subject cannot park more than its
    // share of unread streams on the gateway.
    let Some(slot) = Slot::take(state, super::limit_key(&caller.claims)) else {
        state.metrics.refused("concurrency");
        caller.record.decision = "denied".into();
        caller.record.cause = Some("too many queries at once".into());
        return if write_audit(state, caller.record, caller.started).await {
            super::too_many("too many queries of this subject at once", 1)
        } else {
            audit_failed()
        };
    };
    // The decision is on record before the first document leaves; the outcome (items, RU, how
    // it ended) follows in a second record with the same request id.
    caller.record.decision = "allowed".into();
    if !audit_before(state, caller.record.clone(), caller.started).await {
        return audit_failed();
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let buffered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let state2 = state.clone();
    let buffered2 = buffered.clone();
    let deadline = tokio::time::Instant::from_std(caller.started) + timeout;
    state.metrics.stream_started();
    tokio::task::spawn_local(async move {
        use std::sync::atomic::Ordering;
        let mut spent = QueryStats::default();
        let send = |line: String| -> bool {
            buffered2.fetch_add(line.len(), Ordering::Relaxed);
            tx.send(Bytes::from(line)).is_ok()
        };
        let run = crate::cosmos::query::execute(
            &state2.cosmos,
            &plan,
            ExecOptions::default(),
            &mut spent,
            |docs: Vec<Value>| -> Result<(), StreamStop> {
                // One frame per page of documents, one line each.
                if buffered2.load(Ordering::Relaxed) > MAX_BUFFERED_BYTES {
                    return Err(StreamStop::SlowClient);
                }
                let mut page = String::new();
                for doc in docs {
                    page.push_str(&doc.to_string());
                    page.push('\n');
                }
                if !page.is_empty() && !send(page) {
                    return Err(StreamStop::Gone);
                }
                Ok(())
            },
        );
        // A client that hangs up stops its query at once (not at its next page).
        let result = tokio::select! {
            r = tokio::time::timeout_at(deadline, run) => r.unwrap_or(Err(StreamStop::Timeout)),
            () = tx.closed() => Err(StreamStop::Gone),
        };
        let m = &state2.metrics;
        m.spent(spent.items, spent.request_charge);
        let mut record = caller.record;
        record.detail = Some("outcome".into());
        record.items = Some(spent.items);
        record.request_charge = Some(spent.request_charge);
        let mut trailer = json!({"items": spent.items, "request_charge": spent.request_charge, "truncated": spent.truncated});
        if let Err(stop) = &result {
            record.decision = "error".into();
            record.cause = Some(stop.to_string());
            trailer["error"] = json!(crate::text::terminal_text(&stop.to_string()));
        }
        if !write_audit(&state2, record, caller.started).await {
            trailer["error"] = json!("the gateway cannot write its audit record");
        }
        send(format!("{}\n", json!({"_cosmoscope": trailer})));
        drop(tx);
        m.observe("/v1/query", caller.started.elapsed());
        m.stream_ended();
    });
    // The body ends with the channel, or at the request's deadline (a client that reads too
    // slowly gets a stream without its trailer: cut, and it can tell).
    let stream = futures::stream::unfold(
        (rx, buffered, slot),
        move |(mut rx, buffered, slot)| async move {
            let chunk = tokio::time::timeout_at(deadline, rx.recv()).await.ok()??;
            buffered.fetch_sub(chunk.len(), std::sync::atomic::Ordering::Relaxed);
            Some((
                Ok::<_, std::convert::Infallible>(Frame::data(chunk)),
                (rx, buffered, slot),
            ))
        },
    );
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

/// One of an identity's concurrent queries; given back when dropped (the answer read, the
/// client gone, or the stream cut).
struct Slot {
    state: Arc<State>,
    key: String,
}

impl Slot {
    fn take(state: &Arc<State>, key: String) -> Option<Slot> {
        let mut running = state
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = running.entry(key.clone()).or_insert(0);
        if *n >= state.config.limits.max_concurrent_per_subject {
            return None;
        }
        *n += 1;
        Some(Slot {
            state: state.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self
            .state
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = running.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                running.remove(&self.key);
            }
        }
    }
}

/// Why a stream stopped before the query ended.
#[derive(Debug, thiserror::Error)]
enum StreamStop {
    #[error("{0}")]
    Cosmos(#[from] CosmosError),
    #[error("the client reads too slowly: more than 8 MiB of results waited for it")]
    SlowClient,
    #[error("the client went away")]
    Gone,
    #[error("the query took longer than the gateway's request_timeout_secs")]
    Timeout,
}

/// The item a path addresses, with `?partition_key=<JSON>`; or the 400 cause.
fn item_ref(query: Option<&str>, item: PathItem) -> Result<ItemRef, String> {
    let raw = query
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "partition_key")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or("the item's partition key is missing: ?partition_key=<JSON>")?;
    let partition_key = items::parse_partition_key_arg(&raw)
        .map_err(|e| format!("partition_key is not JSON: {e}"))?;
    for (what, name) in [
        ("database", &item.database),
        ("container", &item.container),
        ("id", &item.id),
    ] {
        if let Some(problem) = crate::policy::resource_name_problem(name) {
            return Err(format!("{what} {problem}"));
        }
    }
    Ok(ItemRef {
        database: item.database,
        container: item.container,
        partition_key,
        id: item.id,
    })
}

fn point_request(item: &ItemRef, action: Action, document: Option<Value>) -> Request {
    Request {
        database: item.database.clone(),
        container: item.container.clone(),
        action,
        query: None,
        partition_key: Some(item.partition_key.clone()),
        max_items: None,
        fido2_fresh: false,
        item_id: Some(item.id.clone()),
        document,
    }
}

/// Addresses and decides a point operation; `Err` is the answer already given.
async fn decide_point(
    state: &State,
    query: Option<&str>,
    mut caller: Caller,
    item: PathItem,
    action: Action,
    document: Option<Value>,
) -> Result<(ItemRef, Decision, Caller), Response<Body>> {
    caller.record.database = Some(item.database.clone());
    caller.record.container = Some(item.container.clone());
    caller.record.detail = Some(format!("id {:?}", item.id));
    let item = match item_ref(query, item) {
        Ok(i) => i,
        Err(cause) => return Err(refuse(state, caller, StatusCode::BAD_REQUEST, cause).await),
    };
    let decision = crate::policy::decide(
        &current_policy(state),
        &caller.claims_value(),
        &point_request(&item, action, document),
    );
    caller.record.reasons = reasons_of(&decision);
    if !decision.allowed() {
        let reasons = reasons_of(&decision);
        return Err(deny(state, caller, reasons).await);
    }
    caller.record.decision = "allowed".into();
    Ok((item, decision, caller))
}

fn charged(mut r: Response<Body>, rc: f64) -> Response<Body> {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("{rc}")) {
        r.headers_mut().insert("x-ms-request-charge", v);
    }
    r
}

/// `GET …/items/{id}?partition_key=`: the document, when the grants allow reading it whole.
async fn get<B>(
    state: &State,
    req: &HttpRequest<B>,
    caller: Caller,
    item: PathItem,
) -> Response<Body> {
    let (item, _, mut caller) =
        match decide_point(state, req.uri().query(), caller, item, Action::Read, None).await {
            Ok(d) => d,
            Err(r) => return r,
        };
    match items::get(&state.cosmos, &item).await {
        Ok(Some((doc, _, rc))) => {
            caller.record.items = Some(1);
            caller.record.request_charge = Some(rc);
            state.metrics.spent(1, rc);
            finish(state, caller, charged(full(StatusCode::OK, &doc), rc)).await
        }
        Ok(None) => {
            let e = CosmosError::NotFound {
                resource: crate::cosmos::Resource::Item {
                    database: item.database,
                    container: item.container,
                    id: item.id,
                },
            };
            failed(state, caller, &e).await
        }
        Err(e) => failed(state, caller, &e).await,
    }
}

/// `PUT …/items/{id}?partition_key=` with the document: create or replace (`If-None-Match: *`:
/// create only, 412 when it exists). Denied fields keep their stored values, as with `item
/// upsert`. Audited before the write.
async fn upsert(
    state: &State,
    req: HttpRequest<Incoming>,
    caller: Caller,
    item: PathItem,
) -> Response<Body> {
    let headers = req.headers();
    let create_only = match headers.get(hyper::header::IF_NONE_MATCH) {
        None => false,
        Some(v) if v.as_bytes() == b"*" => true,
        Some(_) => {
            let cause = "If-None-Match: only * (create only) is supported".to_string();
            return refuse(state, caller, StatusCode::BAD_REQUEST, cause).await;
        }
    };
    if headers.contains_key(hyper::header::IF_MATCH) {
        let cause = "If-Match is not supported: the gateway replaces the version it reads, and \
                     answers 412 when the item changed in between"
            .to_string();
        return refuse(state, caller, StatusCode::BAD_REQUEST, cause).await;
    }
    let query = req.uri().query().map(str::to_string);
    let mut document: Value = match read_json(state, req, "a JSON document").await {
        Ok(d) => d,
        Err((status, cause)) => return refuse(state, caller, status, cause).await,
    };
    match document.get("id") {
        Some(Value::String(id)) if *id != item.id => {
            let cause = format!("the document's id {id:?} is not the id in the path");
            return refuse(state, caller, StatusCode::BAD_REQUEST, cause).await;
        }
        Some(Value::String(_)) => {}
        None if document.is_object() => {
            document["id"] = json!(item.id);
        }
        _ => {
            let cause = "the document must be a JSON object whose id, if any, is a string".into();
            return refuse(state, caller, StatusCode::BAD_REQUEST, cause).await;
        }
    }
    let (item, decision, mut caller) = match decide_point(
        state,
        query.as_deref(),
        caller,
        item,
        Action::Upsert,
        Some(document.clone()),
    )
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (target, current, read_rc) = match items::upsert_target(&state.cosmos, &item).await {
        Ok(t) => t,
        Err(e) => return failed(state, caller, &e).await,
    };
    if create_only && current.is_some() {
        caller.record.decision = "error".into();
        caller.record.cause = Some("exists (If-None-Match: *)".into());
        let answer = error(
            StatusCode::PRECONDITION_FAILED,
            "exists",
            "the item exists; send the request without If-None-Match to replace it",
        );
        return finish(state, caller, answer).await;
    }
    if let Some(current) = &current {
        for field in decision
            .scoped()
            .map(crate::policy::ScopedQuery::preserve_fields)
            .unwrap_or_default()
        {
            if items::carry_over(current, &mut document, field.segments()).is_err() {
                let reasons = vec![format!(
                    "cannot keep denied field \"{field}\" as stored: an array or a non-object is on its path"
                )];
                return deny(state, caller, reasons).await;
            }
        }
    }
    // The write happens only once its record is on disk.
    caller.record.detail = Some(format!("id {:?}", item.id));
    if !audit_before(state, caller.record.clone(), caller.started).await {
        return audit_failed();
    }
    caller.decided_on_record = true;
    match items::write(&state.cosmos, &item, &document, &target).await {
        Ok(rc) => {
            state.metrics.spent(1, read_rc + rc);
            outcome(state, caller, read_rc + rc).await;
            let (status, verb) = match target {
                UpsertTarget::Create => (StatusCode::CREATED, "created"),
                UpsertTarget::Replace { .. } => (StatusCode::OK, "replaced"),
            };
            charged(
                full(
                    status,
                    &json!({"id": item.id, "status": verb, "request_charge": read_rc + rc}),
                ),
                read_rc + rc,
            )
        }
        Err(e) => failed(state, caller, &e).await,
    }
}

/// `DELETE …/items/{id}?partition_key=`. Audited before the delete.
async fn delete<B>(
    state: &State,
    req: &HttpRequest<B>,
    caller: Caller,
    item: PathItem,
) -> Response<Body> {
    let (item, _, mut caller) =
        match decide_point(state, req.uri().query(), caller, item, Action::Delete, None).await {
            Ok(d) => d,
            Err(r) => return r,
        };
    if !audit_before(state, caller.record.clone(), caller.started).await {
        return audit_failed();
    }
    caller.decided_on_record = true;
    match items::delete(&state.cosmos, &item).await {
        Ok(rc) => {
            outcome(state, caller, rc).await;
            charged(
                full(
                    StatusCode::OK,
                    &json!({"id": item.id, "status": "deleted", "request_charge": rc}),
                ),
                rc,
            )
        }
        Err(e) => failed(state, caller, &e).await,
    }
}

/// The outcome record of a write whose decision is already on record (same request id). The
/// write is done: a failure to record its outcome is logged, not answered as a failure.
async fn outcome(state: &State, mut caller: Caller, request_charge: f64) {
    caller.record.detail = Some(format!(
        "{} outcome",
        caller.record.detail.take().unwrap_or_default()
    ));
    caller.record.items = Some(1);
    caller.record.request_charge = Some(request_charge);
    let _ = write_audit(state, caller.record, caller.started).await;
}

pub fn openapi() -> Value {
    let query_body = json!({
        "type": "object", "required": ["container", "query"], "additionalProperties": false,
        "properties": {
            "container": {"type": "string"}, "query": {"type": "string"}, "database": {"type": "string"},
            "parameters": {"type": "object"}, "partition_key": {}, "max_items": {"type": "integer", "minimum": 0}
        }
    });
    let item_params = json!([
        {"name": "db", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "c", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "partition_key", "in": "query", "required": true, "description": "the item's partition key as JSON (\"t1\", [\"eu\",\"t1\"])", "schema": {"type": "string"}}
    ]);
    let refused = json!({
        "400": {"description": "bad request"}, "401": {"description": "invalid token (WWW-Authenticate)"},
        "403": {"description": "denied: {error, reasons}"}, "429": {"description": "rate or concurrency limit (Retry-After)"},
        "500": {"description": "the audit record could not be written; nothing was done"}
    });
    let with = |extra: Value| {
        let mut r = refused.clone();
        if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(extra.clone());
        }
        r
    };
    json!({
        "openapi": "3.0.3",
        "info": {"title": "cosmoscope gateway", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/v1/whoami": {"get": {"summary": "The verified subject, roles and grants", "responses": with(json!({"200": {"description": "{subject, roles, grants}"}}))}},
            "/v1/query": {"post": {
                "summary": "Run a policy-checked query: NDJSON, one document per line, then {\"_cosmoscope\": {items, request_charge, truncated, error?}}",
                "requestBody": {"required": true, "content": {"application/json": {"schema": query_body}}},
                "responses": with(json!({"200": {"description": "application/x-ndjson stream"}, "413": {"description": "body or query too large"}}))
            }},
            "/v1/explain": {"post": {
                "summary": "Parse, normalise, partition scope and the decision with its reasons",
                "requestBody": {"required": true, "content": {"application/json": {"schema": query_body}}},
                "responses": with(json!({"200": {"description": "{valid, normalized, partition_scope, allowed, reasons}"}}))
            }},
            "/v1/databases": {"get": {"summary": "Databases the caller's grants name", "responses": with(json!({"200": {"description": "[{id}]"}}))}},
            "/v1/databases/{db}/containers": {"get": {
                "summary": "Containers of a database the caller's grants name",
                "parameters": [{"name": "db", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": with(json!({"200": {"description": "[{id, database, partition_key_paths}]"}}))
            }},
            "/v1/databases/{db}/containers/{c}/items/{id}": {
                "get": {"summary": "Read one item", "parameters": item_params, "responses": with(json!({"200": {"description": "the document"}, "404": {"description": "no such item"}}))},
                "put": {"summary": "Create or replace one item (If-None-Match: * creates only)", "parameters": item_params,
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                        "responses": with(json!({"200": {"description": "replaced"}, "201": {"description": "created"}, "412": {"description": "exists (If-None-Match: *) or changed meanwhile"}}))},
                "delete": {"summary": "Delete one item", "parameters": item_params, "responses": with(json!({"200": {"description": "deleted"}, "404": {"description": "no such item"}}))}
            },
            "/healthz": {"get": {"security": [], "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"security": [], "responses": {"200": {"description": "JWKS loaded and Cosmos DB reachable"}, "503": {"description": "not ready"}}}},
            "/metrics": {"get": {"security": [], "responses": {"200": {"description": "Prometheus text format"}}}}
        }
    })
}
