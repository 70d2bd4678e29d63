//! The CLI's side of a gateway (`cosmoscope serve`): a profile with `gateway = "…"` sends `query`
//! there with the session's access token (for the gateway's audience). The gateway verifies it,
//! decides and runs the query; this side holds no Cosmos credential and no policy.

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};

use crate::cosmos::QueryStats;
use crate::error::{CmdResult, CommandError, Exit};

/// One query for the gateway.
pub struct GatewayQuery<'a> {
    pub gateway: &'a str,
    pub token: SecretString,
    pub body: Value,
}

impl GatewayQuery<'_> {
    /// Posts the query and hands each batch of documents to `sink` as the NDJSON stream arrives:
    /// `{"item"}` lines, then `{"end"}` (counts and RU) or `{"error"}`; a stream that ends without
    /// either was cut.
    pub async fn run(
        self,
        stats: &mut QueryStats,
        mut sink: impl FnMut(Vec<Value>) -> CmdResult,
    ) -> CmdResult {
        let url = format!("{}/v1/query", self.gateway);
        let unreachable = |e: &reqwest::Error| {
            CommandError::runtime(format!("cannot reach the gateway {}", self.gateway))
                .caused_by(e)
                .hint("check the profile's gateway URL, and that the gateway runs (GET /healthz)")
        };
        let mut reply = reqwest::Client::builder()
            .user_agent(concat!("cosmoscope/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CommandError::runtime("cannot build an HTTP client").caused_by(&e))?
            .post(&url)
            .bearer_auth(self.token.expose_secret())
            .json(&self.body)
            .send()
            .await
            .map_err(|e| unreachable(&e))?;
        let code = reply.status().as_u16();
        if code != 200 {
            let body: Value = reply.json().await.unwrap_or(Value::Null);
            return Err(refusal(code, &body));
        }
        let mut pending = Vec::new();
        let mut ended = false;
        while let Some(chunk) = reply.chunk().await.map_err(|e| unreachable(&e))? {
            pending.extend_from_slice(&chunk);
            let mut batch = Vec::new();
            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                let v: Value = serde_json::from_slice(&line).map_err(|e| {
                    CommandError::runtime("the gateway sent a line that is not JSON").caused_by(&e)
                })?;
                if let Some(doc) = v.get("item") {
                    batch.push(doc.clone());
                } else if let Some(end) = v.get("end") {
                    stats.request_charge = end["request_charge"].as_f64().unwrap_or(0.0);
                    stats.truncated = end["truncated"].as_bool().unwrap_or(false);
                    ended = true;
                } else if let Some(err) = v.get("error") {
                    if !batch.is_empty() {
                        stats.items += batch.len() as u64;
                        sink(std::mem::take(&mut batch))?;
                    }
                    return Err(
                        CommandError::runtime("the query failed at the gateway").cause(
                            crate::text::terminal_text(
                                err["cause"].as_str().unwrap_or("no cause given"),
                            ),
                        ),
                    );
                }
            }
            if !batch.is_empty() {
                stats.items += batch.len() as u64;
                sink(batch)?;
            }
        }
        if !ended {
            return Err(CommandError::runtime(
                "the gateway's stream ended before its last line: the output is incomplete",
            ));
        }
        Ok(())
    }
}

/// `GET /v1/<path>` at the gateway: the JSON array it answers (listings).
pub async fn list(gateway: &str, token: SecretString, path: &str) -> CmdResult<Vec<Value>> {
    match call(gateway, token, path, None).await? {
        Value::Array(rows) => Ok(rows),
        _ => Err(CommandError::runtime(
            "the gateway answered a listing that is not a list",
        )),
    }
}

/// `POST /v1/<path>` at the gateway with a JSON body: its JSON answer.
pub async fn post(
    gateway: &str,
    token: SecretString,
    path: &str,
    body: &Value,
) -> CmdResult<Value> {
    call(gateway, token, path, Some(body)).await
}

/// One request to the gateway's API; anything but 200 becomes the CLI's own error. A 404 is
/// the item (or route) missing.
async fn call(
    gateway: &str,
    token: SecretString,
    path: &str,
    body: Option<&Value>,
) -> CmdResult<Value> {
    let client = reqwest::Client::new();
    let url = format!("{gateway}/v1/{path}");
    let request = match body {
        Some(b) => client.post(url).json(b),
        None => client.get(url),
    };
    let reply = request
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .map_err(|e| {
            CommandError::runtime(format!("cannot reach the gateway {gateway}"))
                .caused_by(&e)
                .hint("check the profile's gateway URL, and that the gateway runs (GET /healthz)")
        })?;
    let code = reply.status().as_u16();
    let answer: Value = reply.json().await.unwrap_or(Value::Null);
    if code == 200 {
        Ok(answer)
    } else {
        Err(refusal(code, &answer))
    }
}

/// The gateway's refusal as the CLI's own errors: the same exit codes as without a gateway.
fn refusal(status: u16, body: &Value) -> CommandError {
    let cause = body["cause"]
        .as_str()
        .map(crate::text::terminal_text)
        .unwrap_or_default();
    match status {
        401 => CommandError::new(Exit::Refused, "the gateway refused the session's token")
            .cause(cause)
            .hint("sign in again with `cosmoscope login`; the profile's audience must be the gateway's"),
        403 => {
            let mut e = CommandError::new(Exit::Denied, "the gateway's policy denied the request");
            for r in body["reasons"].as_array().into_iter().flatten() {
                if let Some(r) = r.as_str() {
                    e = e.cause(crate::text::terminal_text(r));
                }
            }
            e
        }
        400 | 413 => CommandError::usage(format!("the gateway refused the request: {cause}")),
        404 => CommandError::runtime("not found at the gateway").cause(cause),
        429 => CommandError::runtime("the gateway is busy with this identity's queries")
            .cause(cause)
            .hint("retry in a moment"),
        _ => CommandError::runtime(format!("the gateway answered {status}")).cause(cause),
    }
}

/// The request body of a query.
#[must_use]
pub fn query_body(
    container: &str,
    database: Option<&str>,
    sql: &str,
    params: &serde_json::Map<String, Value>,
    partition_key: Option<&[Value]>,
    max_items: Option<u64>,
) -> Value {
    let mut body = json!({"container": container, "query": sql, "parameters": params});
    if let Some(d) = database {
        body["database"] = json!(d);
    }
    if let Some(pk) = partition_key {
        body["partition_key"] = json!(pk);
    }
    if let Some(n) = max_items {
        body["max_items"] = json!(n);
    }
    body
}
