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
        // One document per line; the last line is the trailer. A line is known to be a document
        // only when another follows it, so the latest one is held back.
        let mut pending = Vec::new();
        let mut held: Option<Vec<u8>> = None;
        while let Some(chunk) = reply.chunk().await.map_err(|e| unreachable(&e))? {
            pending.extend_from_slice(&chunk);
            let mut batch = Vec::new();
            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                if let Some(doc) = held.replace(line) {
                    batch.push(serde_json::from_slice::<Value>(&doc).map_err(|e| {
                        CommandError::runtime("the gateway sent a line that is not JSON")
                            .caused_by(&e)
                    })?);
                }
            }
            if !batch.is_empty() {
                stats.items += batch.len() as u64;
                sink(batch)?;
            }
        }
        let trailer = held
            .filter(|_| pending.iter().all(u8::is_ascii_whitespace))
            .and_then(|line| serde_json::from_slice::<Value>(&line).ok())
            .and_then(|mut v| v.get_mut("_cosmoscope").map(Value::take))
            .ok_or_else(|| {
                CommandError::runtime(
                    "the gateway's stream ended before its last line: the output is incomplete",
                )
            })?;
        if trailer["items"].as_u64() != Some(stats.items) && trailer.get("error").is_none() {
            return Err(CommandError::runtime(format!(
                "the gateway counted {} documents but {} arrived: the output is incomplete",
                trailer["items"], stats.items
            )));
        }
        stats.request_charge = trailer["request_charge"].as_f64().unwrap_or(0.0);
        stats.truncated = trailer["truncated"].as_bool().unwrap_or(false);
        if let Some(cause) = trailer.get("error") {
            return Err(
                CommandError::runtime("the query failed at the gateway").cause(
                    crate::text::terminal_text(cause.as_str().unwrap_or("no cause given")),
                ),
            );
        }
        Ok(())
    }
}

/// `GET /v1/<path>` at the gateway: the JSON array it answers (listings).
pub async fn list(gateway: &str, token: SecretString, path: &str) -> CmdResult<Vec<Value>> {
    match call(gateway, token, reqwest::Method::GET, path, None, &[])
        .await?
        .body
    {
        Value::Array(rows) => Ok(rows),
        _ => Err(CommandError::runtime(
            "the gateway answered a listing that is not a list",
        )),
    }
}

/// The database a command names, or the gateway's default (its whoami says which).
pub async fn database(
    gateway: &str,
    token: &SecretString,
    named: Option<&str>,
) -> CmdResult<String> {
    if let Some(d) = named {
        return Ok(d.to_string());
    }
    call(
        gateway,
        token.clone(),
        reqwest::Method::GET,
        "whoami",
        None,
        &[],
    )
    .await?
    .body["database"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            CommandError::usage("the gateway names no default database")
                .hint("pass --database NAME")
        })
}

/// What the gateway answered.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// `x-ms-request-charge`, when the answer carries one.
    pub request_charge: f64,
}

/// One request to the gateway's API; anything but a success (2xx) becomes the CLI's own error.
pub async fn call(
    gateway: &str,
    token: SecretString,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> CmdResult<Answer> {
    let answer = send(gateway, token, method, path, body, headers).await?;
    if (200..300).contains(&answer.status) {
        Ok(answer)
    } else {
        Err(refusal(answer.status, &answer.body))
    }
}

/// One request to the gateway's API, whatever it answers.
pub async fn send(
    gateway: &str,
    token: SecretString,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> CmdResult<Answer> {
    let client = reqwest::Client::builder()
        .user_agent(concat!("cosmoscope/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CommandError::runtime("cannot build an HTTP client").caused_by(&e))?;
    let mut request = client.request(method, format!("{gateway}/v1/{path}"));
    if let Some(b) = body {
        request = request.json(b);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let reply = request
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .map_err(|e| {
            CommandError::runtime(format!("cannot reach the gateway {gateway}"))
                .caused_by(&e)
                .hint("check the profile's gateway URL, and that the gateway runs (GET /healthz)")
        })?;
    let status = reply.status().as_u16();
    let request_charge = reply
        .headers()
        .get("x-ms-request-charge")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let body: Value = match reply.json().await {
        Ok(v) => v,
        // A refusal without a JSON body still has its status; a success must be whole.
        Err(_) if !(200..300).contains(&status) => Value::Null,
        Err(e) => {
            return Err(
                CommandError::runtime("the gateway's answer was cut or is not JSON").caused_by(&e),
            );
        }
    };
    Ok(Answer {
        status,
        body,
        request_charge,
    })
}

/// A path segment for the gateway's URLs (names may hold anything the service allows).
#[must_use]
pub fn segment(name: &str) -> String {
    url::form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// `databases/{db}/containers/{c}/items/{id}?partition_key=<JSON>`.
#[must_use]
pub fn item_path(database: &str, container: &str, id: &str, partition_key: &[Value]) -> String {
    let pk = match partition_key {
        [one] => one.to_string(),
        many => Value::Array(many.to_vec()).to_string(),
    };
    format!(
        "databases/{}/containers/{}/items/{}?partition_key={}",
        segment(database),
        segment(container),
        segment(id),
        segment(&pk)
    )
}

/// The gateway's refusal as the CLI's own errors: the same exit codes as without a gateway.
pub fn refusal(status: u16, body: &Value) -> CommandError {
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
        409 | 412 => CommandError::runtime("the item changed at the gateway meanwhile")
            .cause(cause)
            .hint("read it again and retry"),
        429 => CommandError::runtime("the gateway asks to slow down")
            .cause(cause)
            .hint("retry in a moment"),
        500 => CommandError::runtime("the gateway failed the request; nothing was done").cause(cause),
        502 | 504 => CommandError::runtime("the gateway could not get an answer from Cosmos DB")
            .cause(cause),
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
