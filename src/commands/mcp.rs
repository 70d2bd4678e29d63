//! `cosmoscope mcp`: a Model Context Protocol server on stdio for AI agents, on the signed-in
//! session of the profile it is given. Every tool call goes through the same [`Gate`] as the
//! command it mirrors — the verified session, the policy, pinning and caps, one audit record —
//! with `"via": "mcp"` and the client's name and version from `initialize` in the record.
//!
//! The protocol is JSON-RPC 2.0, one message per line (the stdio transport), in the
//! `initialize` handshake era (revisions 2025-11-25, 2025-06-18, 2025-03-26): tools with input and
//! output schemas, structured results and annotations. A client that first probes the newer
//! stateless era (`server/discover`) is told the method does not exist and falls back to the
//! handshake, as the official SDKs do. The protocol is small enough that a module of ours keeps
//! it exact (and stdout clean); the official Rust SDK (`rmcp`) would add a macro-generated layer
//! and its own dependency tree for the same five methods.
//!
//! stdout carries protocol messages only; diagnostics go to stderr. The server exits when stdin
//! closes.

use std::io::Write as _;

use serde_json::{Map, Value, json};
use tokio::io::AsyncBufReadExt as _;

use crate::app::App;
use crate::cli::McpArgs;
use crate::commands::gate::{Act, Gate};
use crate::commands::query::{QueryInput, plan};
use crate::cosmos::{ExecOptions, QueryStats};
use crate::error::{CmdResult, CommandError, Exit};
use crate::policy::{self, Action, Request};

/// Protocol revisions of the `initialize` handshake this server speaks, newest first.
const REVISIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];
/// How long a write waits for the person's answer.
const CONFIRM_WAIT: std::time::Duration = std::time::Duration::from_mins(2);
/// The longest message read; a longer line is refused and skipped.
const MAX_MESSAGE: usize = 1 << 20;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

pub async fn run(app: &App, args: &McpArgs) -> CmdResult {
    let (_, profile) = app.profile()?;
    let mut server = Server {
        app,
        gateway: profile.gateway.clone(),
        max_items: args.max_items,
        allow_writes: args.allow_writes,
        client: None,
        can_elicit: false,
        initialized: false,
        stdin: tokio::sync::Mutex::new(tokio::io::BufReader::new(tokio::io::stdin())),
        next_id: std::cell::Cell::new(0),
    };
    loop {
        let read = read_message(&mut *server.stdin.lock().await).await;
        let line = match read {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(Oversized) => {
                send(&error_reply(
                    &Value::Null,
                    INVALID_REQUEST,
                    "the message is larger than 1 MiB",
                ));
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(reply) = server.handle(&line).await {
            send(&reply);
        }
    }
}

struct Oversized;

/// One line of stdin (without its newline), `None` at the end; a line over [`MAX_MESSAGE`] is
/// read to its end and refused.
async fn read_message<R: tokio::io::AsyncBufRead + Unpin>(
    input: &mut R,
) -> Result<Option<String>, Oversized> {
    let mut buf = Vec::new();
    let mut oversized = false;
    loop {
        let Ok(chunk) = input.fill_buf().await else {
            return Ok(None);
        };
        if chunk.is_empty() {
            return if buf.is_empty() && !oversized {
                Ok(None)
            } else if oversized {
                Err(Oversized)
            } else {
                Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
            };
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !oversized {
            buf.extend_from_slice(&chunk[..take]);
            if buf.len() > MAX_MESSAGE {
                oversized = true;
                buf.clear();
            }
        }
        input.consume(take);
        if done {
            return if oversized {
                Err(Oversized)
            } else {
                Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
            };
        }
    }
}

/// One message on stdout, on one line (serde_json never writes a raw newline).
fn send(message: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{message}");
    let _ = out.flush();
}

fn error_reply(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

struct Server<'a> {
    app: &'a App,
    /// A gateway profile: every tool asks the gateway, which decides on the session's token.
    gateway: Option<String>,
    max_items: u64,
    /// `--allow-writes`: `upsert_item` and `delete_item` exist, each confirmed by the person.
    allow_writes: bool,
    /// `name/version` of the client, from `initialize`.
    client: Option<String>,
    /// Whether the client said it can ask its person (the `elicitation` capability).
    can_elicit: bool,
    /// `initialize` answered: before it only `ping` runs; a second one is refused.
    initialized: bool,
    stdin: tokio::sync::Mutex<tokio::io::BufReader<tokio::io::Stdin>>,
    /// Ids of the requests this server sends (elicitations).
    next_id: std::cell::Cell<u64>,
}

impl Server<'_> {
    /// The answer to one message, if it needs one (notifications and responses do not).
    async fn handle(&mut self, line: &str) -> Option<Value> {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            return Some(error_reply(&Value::Null, PARSE_ERROR, "Parse error"));
        };
        let Some(obj) = message.as_object() else {
            return Some(error_reply(
                &Value::Null,
                INVALID_REQUEST,
                "a message is one JSON object (batches are not part of this protocol revision)",
            ));
        };
        let id = obj.get("id").cloned();
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            // A response to a request of ours, or garbage: nothing to answer.
            return id
                .filter(|_| obj.get("result").is_none() && obj.get("error").is_none())
                .map(|id| error_reply(&id, INVALID_REQUEST, "no method"));
        };
        let id = id?; // a notification (initialized, cancelled): nothing to answer
        if !(id.is_string() || id.is_i64() || id.is_u64()) {
            return Some(error_reply(
                &Value::Null,
                INVALID_REQUEST,
                "the id must be a string or an integer",
            ));
        }
        let params = obj.get("params").cloned().unwrap_or(json!({}));
        let result = match method {
            "initialize" if self.initialized => {
                Err((INVALID_REQUEST, "already initialized".into()))
            }
            "initialize" => Ok(self.initialize(&params)),
            "ping" => Ok(json!({})),
            "tools/list" | "tools/call" if !self.initialized => Err((
                INVALID_REQUEST,
                "initialize first: nothing runs before the handshake".into(),
            )),
            "tools/list" => Ok(json!({"tools": tools(self.allow_writes)})),
            "tools/call" => self.call(&params).await,
            _ => Err((
                METHOD_NOT_FOUND,
                format!("Method not found: {}", crate::text::terminal_text(method)),
            )),
        };
        Some(match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err((code, message)) => error_reply(&id, code, &message),
        })
    }

    fn initialize(&mut self, params: &Value) -> Value {
        let info = &params["clientInfo"];
        let name = info["name"].as_str().unwrap_or("unknown client");
        let version = info["version"].as_str().unwrap_or("?");
        let who: String = format!("{name}/{version}").chars().take(256).collect();
        self.client = Some(crate::text::terminal_text(&who));
        self.initialized = true;
        self.can_elicit = params["capabilities"]["elicitation"].is_object();
        let asked = params["protocolVersion"].as_str().unwrap_or_default();
        let version = REVISIONS
            .iter()
            .find(|r| **r == asked)
            .unwrap_or(&REVISIONS[0]);
        json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": "cosmoscope", "title": "cosmoscope (Azure Cosmos DB, policy-checked)", "version": env!("CARGO_PKG_VERSION")},
            "instructions": "Every tool runs as the signed-in person and only inside their grants: \
                call whoami first to see which databases, containers, actions and partitions are \
                allowed and which fields are denied. A denied call returns the policy's reasons: \
                narrow the query to what they allow. Results are capped; the result says when it \
                was cut."
        })
    }

    async fn call(&self, params: &Value) -> Result<Value, (i64, String)> {
        let name = params["name"].as_str().unwrap_or_default();
        let args = match params.get("arguments") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err((INVALID_PARAMS, "arguments must be an object".into())),
        };
        let act = match name {
            "whoami" | "list_containers" => Act::LS,
            "explain_query" | "query" => Act::QUERY,
            "get_item" => Act::ITEM_READ,
            "upsert_item" if self.allow_writes => Act::ITEM_UPSERT,
            "delete_item" if self.allow_writes => Act::ITEM_DELETE,
            other => {
                return Err((
                    INVALID_PARAMS,
                    format!("Unknown tool: {}", crate::text::terminal_text(other)),
                ));
            }
        };
        let outcome = Gate::run(self.app, act, async |gate| {
            gate.record.via = Some("mcp".into());
            gate.record.client.clone_from(&self.client);
            gate.record.detail = Some(format!("tool {name}"));
            // A grant that needs a recent key touch gets one before the agent's call runs: the
            // person touches the key (the notice is on stderr, the client's log).
            gate.unattended_step_up = true;
            // Who the agent acts for is on every record, a refused call's too.
            gate.session().await?;
            if let Some(gateway) = &self.gateway {
                gate.record.detail = Some(format!("tool {name} via gateway {gateway}"));
                return self.through_gateway(gate, gateway, name, &args).await;
            }
            match name {
                "whoami" => self.whoami(gate).await,
                "list_containers" => self.list_containers(gate, &args).await,
                "explain_query" => self.explain(gate, &args).await,
                "query" => self.query(gate, &args).await,
                "upsert_item" => self.upsert_item(gate, &args).await,
                "delete_item" => self.delete_item(gate, &args).await,
                _ => self.get_item(gate, &args).await,
            }
        })
        .await;
        Ok(match outcome {
            Ok(structured) => json!({
                "content": [{"type": "text", "text": structured.to_string()}],
                "structuredContent": structured,
                "isError": false,
            }),
            Err(e) => {
                // What the agent needs to fix its call: the message, the policy's reasons, the
                // next step. (A secret never reaches a CommandError's text.)
                let body = json!({
                    "error": crate::text::terminal_text(&e.message),
                    "denied": e.exit == Exit::Denied,
                    "reasons": e.causes.iter().map(|c| crate::text::terminal_text(c)).collect::<Vec<_>>(),
                    "hint": e.hints.first(),
                });
                // No structuredContent: it would have to match the tool's output schema, which
                // describes a success. The same facts as JSON in a second text block.
                json!({
                    "content": [
                        {"type": "text", "text": e.render()},
                        {"type": "text", "text": body.to_string()},
                    ],
                    "isError": true,
                })
            }
        })
    }

    async fn whoami(&self, gate: &mut Gate<'_>) -> CmdResult<Value> {
        let claims = gate.claims().await?;
        let grants = gate.policy()?.grants_for(&claims);
        let session = gate.session().await?;
        Ok(json!({
            "subject": session.subject,
            "roles": session.roles,
            "grants": grants,
            "limits": {"max_items_per_call": self.max_items},
        }))
    }

    async fn list_containers(
        &self,
        gate: &mut Gate<'_>,
        args: &Map<String, Value>,
    ) -> CmdResult<Value> {
        let database = gate.database(str_arg(args, "database")?.as_deref())?;
        let visible = gate.visible().await?;
        if !visible.database(&database) {
            return Ok(json!({"database": database, "containers": []}));
        }
        let conn = self.app.cosmos().await?;
        let rows = crate::cosmos::items::list_containers(&conn.cosmos, &database).await?;
        let containers: Vec<Value> = rows
            .into_iter()
            .filter(|(id, _)| visible.container(&database, id))
            .map(|(id, paths)| json!({"id": id, "partition_key_paths": paths}))
            .collect();
        gate.record.items = Some(containers.len() as u64);
        Ok(json!({"database": database, "containers": containers}))
    }

    async fn explain(&self, gate: &mut Gate<'_>, args: &Map<String, Value>) -> CmdResult<Value> {
        let container = required(args, "container")?;
        let sql = required(args, "sql")?;
        let params = params_arg(args)?;
        gate.set_query(&sql);
        gate.record.container = Some(container.clone());
        let database = gate.database(str_arg(args, "database")?.as_deref())?;
        let mut out =
            serde_json::to_value(policy::explain(&sql, &[], &params)).unwrap_or(Value::Null);
        if let Ok(ast) = policy::parse(&sql) {
            let claims = gate.claims().await?;
            let request = Request {
                database,
                container,
                action: Action::Query,
                query: Some(policy::QueryRequest {
                    text: sql.clone(),
                    ast,
                    params,
                    partition_key_paths: Vec::new(),
                }),
                partition_key: None,
                max_items: None,
                fido2_fresh: false,
                item_id: None,
                document: None,
            };
            let decision = policy::decide(gate.policy()?, &claims, &request);
            if let Some(obj) = out.as_object_mut() {
                obj.insert("allowed".into(), json!(decision.allowed()));
                obj.insert(
                    "reasons".into(),
                    serde_json::to_value(decision.reasons()).unwrap_or(Value::Null),
                );
            }
        }
        Ok(out)
    }

    async fn query(&self, gate: &mut Gate<'_>, args: &Map<String, Value>) -> CmdResult<Value> {
        let container = required(args, "container")?;
        let sql = required(args, "sql")?;
        let params = params_arg(args)?;
        let partition_key = args
            .get("partition_key")
            .filter(|v| !v.is_null())
            .map(|v| match v {
                Value::Array(parts) => parts.clone(),
                one => vec![one.clone()],
            });
        // The agent's cap: what it asked for, never more than the server's per-call cap (the
        // grant's own max_items applies on top, in the plan).
        let cap = cap_arg(args, self.max_items)?;
        gate.set_query(&sql);
        gate.record.parameters = params.keys().cloned().collect();
        gate.record.container = Some(container.clone());
        let database = str_arg(args, "database")?;
        let (conn, plan) = plan(
            self.app,
            gate,
            &QueryInput {
                sql: &sql,
                params: &params,
                container: &container,
                database: database.as_deref(),
                partition_key,
                max_items: Some(cap),
            },
        )
        .await?;
        let mut items = Vec::new();
        let mut spent = QueryStats::default();
        crate::cosmos::query::execute(
            &conn.cosmos,
            &plan,
            ExecOptions::default(),
            &mut spent,
            |docs| {
                items.extend(docs);
                Ok::<(), CommandError>(())
            },
        )
        .await?;
        gate.record.items = Some(spent.items);
        gate.record.request_charge = Some(spent.request_charge);
        Ok(query_result(items, &spent))
    }

    async fn get_item(&self, gate: &mut Gate<'_>, args: &Map<String, Value>) -> CmdResult<Value> {
        let id = required(args, "id")?;
        let (item, _) = allow_point(gate, "get_item", args, Action::Read, id, None).await?;
        let conn = self.app.cosmos().await?;
        match crate::cosmos::items::get(&conn.cosmos, &item).await? {
            Some((doc, _, rc)) => {
                gate.record.items = Some(1);
                gate.record.request_charge = Some(rc);
                Ok(json!({"item": doc, "request_charge": rc}))
            }
            None => Err(CommandError::runtime("the item does not exist")),
        }
    }
}

impl Server<'_> {
    /// Asks the person, through the client, to confirm `what`; `Ok(())` only for an accepted
    /// confirmation. Requests that arrive meanwhile are told the server is waiting (pings are
    /// answered).
    async fn confirm(&self, what: &str) -> CmdResult {
        if !self.can_elicit {
            return Err(CommandError::new(
                Exit::Denied,
                "writes need the person's confirmation, and this client cannot ask for it",
            )
            .cause("the client did not declare the elicitation capability")
            .hint(
                "use an MCP client that supports elicitation, or the CLI (`cosmoscope item …`)",
            ));
        }
        // Unguessable: an answer queued before the question cannot match it.
        let id = {
            let mut nonce = [0u8; 16];
            rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
            format!(
                "cosmoscope-confirm-{}-{}",
                self.next_id.get(),
                crate::fsutil::hex(&nonce)
            )
        };
        self.next_id.set(self.next_id.get() + 1);
        send(&json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "elicitation/create",
            "params": {
                "mode": "form",
                "message": format!(
                    "{} asks to {what}. Allow this write?",
                    self.client.as_deref().unwrap_or("An agent")
                ),
                "requestedSchema": {
                    "type": "object",
                    "properties": {"confirm": {"type": "boolean", "title": "Allow this write", "default": false}},
                    "required": ["confirm"],
                },
            },
        }));
        let mut stdin = self.stdin.lock().await;
        let deadline = tokio::time::Instant::now() + CONFIRM_WAIT;
        loop {
            let Ok(read) = tokio::time::timeout_at(deadline, read_message(&mut *stdin)).await
            else {
                return Err(CommandError::new(
                    Exit::Denied,
                    "the person did not answer within 2 minutes; nothing was changed",
                ));
            };
            let line = match read {
                Ok(Some(l)) => l,
                Ok(None) => {
                    return Err(CommandError::runtime(
                        "the client went away before the person answered",
                    ));
                }
                Err(Oversized) => continue,
            };
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                send(&error_reply(&Value::Null, PARSE_ERROR, "Parse error"));
                continue;
            };
            if message["id"] == json!(id) && message.get("method").is_none() {
                let accepted = message["result"]["action"] == "accept"
                    && message["result"]["content"]["confirm"] == json!(true);
                return if accepted {
                    Ok(())
                } else {
                    Err(CommandError::new(
                        Exit::Denied,
                        "the person did not allow this write; nothing was changed",
                    )
                    .cause(format!(
                        "answer: {}",
                        message["result"]["action"].as_str().unwrap_or("none")
                    )))
                };
            }
            if message["method"] == "notifications/cancelled" {
                return Err(CommandError::new(
                    Exit::Denied,
                    "the client cancelled the call; nothing was changed",
                ));
            }
            match (message.get("id"), message["method"].as_str()) {
                (Some(rid), Some("ping")) => {
                    send(&json!({"jsonrpc": "2.0", "id": rid, "result": {}}));
                }
                (Some(rid), Some(_)) => send(&error_reply(
                    rid,
                    INVALID_REQUEST,
                    "busy: waiting for the person to confirm a write",
                )),
                _ => {}
            }
        }
    }

    async fn upsert_item(
        &self,
        gate: &mut Gate<'_>,
        args: &Map<String, Value>,
    ) -> CmdResult<Value> {
        let Some(Value::Object(doc)) = args.get("document") else {
            return Err(CommandError::usage("document must be a JSON object"));
        };
        let mut document = Value::Object(doc.clone());
        let Some(id) = doc.get("id").and_then(Value::as_str).map(str::to_string) else {
            return Err(CommandError::usage("the document needs a string id"));
        };
        let (item, scoped) = allow_point(
            gate,
            "upsert_item",
            args,
            Action::Upsert,
            id.clone(),
            Some(document.clone()),
        )
        .await?;
        let conn = self.app.cosmos().await?;
        let (target, current, read_rc) =
            crate::cosmos::items::upsert_target(&conn.cosmos, &item).await?;
        if let Some(current) = &current {
            for field in scoped.preserve_fields() {
                crate::cosmos::items::carry_over(current, &mut document, field.segments())
                    .map_err(|()| {
                        CommandError::new(
                            Exit::Denied,
                            format!("cannot keep denied field \"{field}\" as stored"),
                        )
                    })?;
            }
        }
        let verb = if current.is_some() {
            "replace"
        } else {
            "create"
        };
        self.confirm(&format!(
            "{verb} item {id:?} in {:?}/{:?} (partition {}) with{}",
            item.database,
            item.container,
            Value::Array(item.partition_key.clone()),
            shown_document(&document)
        ))
        .await?;
        let rc = crate::cosmos::items::write(&conn.cosmos, &item, &document, &target).await?;
        gate.record.items = Some(1);
        gate.record.request_charge = Some(read_rc + rc);
        Ok(
            json!({"id": id, "status": if current.is_some() { "replaced" } else { "created" }, "request_charge": read_rc + rc}),
        )
    }

    async fn delete_item(
        &self,
        gate: &mut Gate<'_>,
        args: &Map<String, Value>,
    ) -> CmdResult<Value> {
        let id = required(args, "id")?;
        let (item, _) =
            allow_point(gate, "delete_item", args, Action::Delete, id.clone(), None).await?;
        let conn = self.app.cosmos().await?;
        self.confirm(&format!(
            "delete item {id:?} from {:?}/{:?} (partition {})",
            item.database,
            item.container,
            Value::Array(item.partition_key.clone())
        ))
        .await?;
        let rc = crate::cosmos::items::delete(&conn.cosmos, &item).await?;
        gate.record.items = Some(1);
        gate.record.request_charge = Some(rc);
        Ok(json!({"id": id, "status": "deleted", "request_charge": rc}))
    }
}

impl Server<'_> {
    /// A tool call for a gateway profile: the same tools and result shapes, the gateway's
    /// decision on the session's token (and its audit); the person's confirmation stays here.
    async fn through_gateway(
        &self,
        gate: &mut Gate<'_>,
        gateway: &str,
        name: &str,
        args: &Map<String, Value>,
    ) -> CmdResult<Value> {
        use super::gateway::{GatewayQuery, call, item_path, query_body};
        let token = gate.session_token(60).await?;
        let get = reqwest::Method::GET;
        match name {
            "whoami" => {
                let me = call(gateway, token, get, "whoami", None, &[]).await?.body;
                Ok(json!({
                    "subject": me["subject"],
                    "roles": me["roles"],
                    "grants": me["grants"],
                    "limits": {"max_items_per_call": self.max_items},
                }))
            }
            "list_containers" => {
                let database = super::gateway::database(
                    gateway,
                    &token,
                    str_arg(args, "database")?.as_deref(),
                )
                .await?;
                let path = format!(
                    "databases/{}/containers",
                    super::gateway::segment(&database)
                );
                let rows = super::gateway::list(gateway, token, &path).await?;
                let containers: Vec<Value> = rows
                    .iter()
                    .map(
                        |r| json!({"id": r["id"], "partition_key_paths": r["partition_key_paths"]}),
                    )
                    .collect();
                gate.record.items = Some(containers.len() as u64);
                Ok(json!({"database": database, "containers": containers}))
            }
            "explain_query" | "query" => {
                let container = required(args, "container")?;
                let sql = required(args, "sql")?;
                let params = params_arg(args)?;
                gate.set_query(&sql);
                gate.record.container = Some(container.clone());
                let database = str_arg(args, "database")?;
                if name == "explain_query" {
                    let mut body =
                        json!({"container": container, "query": sql, "parameters": params});
                    if let Some(d) = &database {
                        body["database"] = json!(d);
                    }
                    let post = reqwest::Method::POST;
                    return Ok(call(gateway, token, post, "explain", Some(&body), &[])
                        .await?
                        .body);
                }
                let partition_key =
                    args.get("partition_key")
                        .filter(|v| !v.is_null())
                        .map(|v| match v {
                            Value::Array(parts) => parts.clone(),
                            one => vec![one.clone()],
                        });
                let cap = cap_arg(args, self.max_items)?;
                let query = GatewayQuery {
                    gateway,
                    token,
                    body: query_body(
                        &container,
                        database.as_deref(),
                        &sql,
                        &params,
                        partition_key.as_deref(),
                        Some(cap),
                    ),
                };
                let mut items = Vec::new();
                let mut spent = QueryStats::default();
                let room = usize::try_from(cap).unwrap_or(usize::MAX);
                let mut cut = false;
                query
                    .run(&mut spent, |docs| {
                        // The cap holds here too, whatever the gateway sends.
                        let left = room.saturating_sub(items.len());
                        cut |= docs.len() > left;
                        items.extend(docs.into_iter().take(left));
                        Ok(())
                    })
                    .await?;
                spent.truncated |= cut;
                spent.items = items.len() as u64;
                gate.record.items = Some(spent.items);
                gate.record.request_charge = Some(spent.request_charge);
                Ok(query_result(items, &spent))
            }
            _ => {
                let container = required(args, "container")?;
                let partition_key = key_arg(args)?;
                let database = super::gateway::database(
                    gateway,
                    &token,
                    str_arg(args, "database")?.as_deref(),
                )
                .await?;
                let (id, document) = if name == "upsert_item" {
                    let Some(Value::Object(doc)) = args.get("document") else {
                        return Err(CommandError::usage("document must be a JSON object"));
                    };
                    let id = doc
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| CommandError::usage("the document needs a string id"))?;
                    (id.to_string(), Some(Value::Object(doc.clone())))
                } else {
                    (required(args, "id")?, None)
                };
                gate.record.container = Some(container.clone());
                let path = item_path(&database, &container, &id, &partition_key);
                let target = format!(
                    "{id:?} in {database:?}/{container:?} (partition {})",
                    Value::Array(partition_key.clone())
                );
                gate.record.database = Some(database.clone());
                gate.record.detail = Some(format!("tool {name} id {id:?} via gateway {gateway}"));
                let (method, body) = match name {
                    "upsert_item" => {
                        let shown = document.as_ref().map(shown_document).unwrap_or_default();
                        self.confirm(&format!("create or replace item {target} with{shown}"))
                            .await?;
                        (reqwest::Method::PUT, document)
                    }
                    "delete_item" => {
                        self.confirm(&format!("delete item {target}")).await?;
                        (reqwest::Method::DELETE, None)
                    }
                    _ => (get, None),
                };
                let answer = call(gateway, token, method, &path, body.as_ref(), &[]).await?;
                gate.record.request_charge = Some(answer.request_charge);
                gate.record.items = Some(1);
                Ok(if name == "get_item" {
                    json!({"item": answer.body, "request_charge": answer.request_charge})
                } else {
                    answer.body
                })
            }
        }
    }
}

/// A document as the person sees it before a write: pretty JSON, at most 4 KB.
fn shown_document(document: &Value) -> String {
    let text = serde_json::to_string_pretty(document).unwrap_or_default();
    let mut cut: String = text.chars().take(4096).collect();
    if cut.len() < text.len() {
        cut.push_str("\n… (cut: the document is longer)");
    }
    format!("\n{cut}")
}

/// `max_items` of a query call, never above the server's per-call cap.
fn cap_arg(args: &Map<String, Value>, server_cap: u64) -> CmdResult<u64> {
    match args.get("max_items") {
        None | Some(Value::Null) => Ok(server_cap),
        Some(v) => v
            .as_u64()
            .map(|n| n.min(server_cap))
            .ok_or_else(|| CommandError::usage("max_items must be a non-negative integer")),
    }
}

/// The `query` tool's result: the items, whether the cap cut them (and how to narrow), RU.
fn query_result(items: Vec<Value>, spent: &QueryStats) -> Value {
    let mut out = json!({"items": Value::Array(items), "truncated": spent.truncated, "request_charge": spent.request_charge});
    if spent.truncated {
        out["note"] = json!(format!(
            "cut at {} items (the cap for this call): narrow the query — a partition_key, a WHERE clause, fewer fields, or OFFSET … LIMIT to page",
            spent.items
        ));
    }
    out
}

/// Addresses one item from a call's arguments (container, partition key, database), records it,
/// and decides `action` on it: the item and what the grant allows, or the refusal.
async fn allow_point(
    gate: &mut Gate<'_>,
    tool: &str,
    args: &Map<String, Value>,
    action: Action,
    id: String,
    document: Option<Value>,
) -> CmdResult<(crate::cosmos::items::ItemRef, crate::policy::ScopedQuery)> {
    let container = required(args, "container")?;
    let partition_key = key_arg(args)?;
    gate.record.container = Some(container.clone());
    gate.record.detail = Some(format!("tool {tool} id {id:?}"));
    let database = gate.database(str_arg(args, "database")?.as_deref())?;
    let item = crate::cosmos::items::ItemRef {
        database: database.clone(),
        container: container.clone(),
        partition_key: partition_key.clone(),
        id: id.clone(),
    };
    let scoped = gate
        .allow(Request {
            database,
            container,
            action,
            query: None,
            partition_key: Some(partition_key),
            max_items: None,
            fido2_fresh: false,
            item_id: Some(id),
            document,
        })
        .await?;
    Ok((item, scoped))
}

/// `partition_key`: a JSON value, or an array for a hierarchical key; required.
fn key_arg(args: &Map<String, Value>) -> CmdResult<Vec<Value>> {
    match args.get("partition_key") {
        Some(Value::Array(parts)) => Ok(parts.clone()),
        Some(v) if !v.is_null() => Ok(vec![v.clone()]),
        _ => Err(CommandError::usage("partition_key is required")),
    }
}

fn str_arg(args: &Map<String, Value>, name: &str) -> CmdResult<Option<String>> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(CommandError::usage(format!("{name} must be a string"))),
    }
}

fn required(args: &Map<String, Value>, name: &str) -> CmdResult<String> {
    let value =
        str_arg(args, name)?.ok_or_else(|| CommandError::usage(format!("{name} is required")))?;
    // As the gateway's max_query_chars: a query (or a name) longer than this is no query.
    if value.chars().count() > MAX_TEXT {
        return Err(CommandError::usage(format!(
            "{name} is longer than {MAX_TEXT} characters"
        )));
    }
    Ok(value)
}

/// The longest `sql` (or name) a call may pass.
const MAX_TEXT: usize = 32 * 1024;

/// `parameters`: an object of name → JSON value (names get their `@`).
fn params_arg(args: &Map<String, Value>) -> CmdResult<Map<String, Value>> {
    match args.get("parameters") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m
            .iter()
            .map(|(k, v)| (format!("@{}", k.trim_start_matches('@')), v.clone()))
            .collect()),
        Some(_) => Err(CommandError::usage(
            "parameters must be an object of name → JSON value",
        )),
    }
}

/// The tools, with their input and output schemas and annotations (the write tools only with
/// `--allow-writes`).
fn tools(writes: bool) -> Value {
    let mut all = read_tools();
    if writes {
        let key = json!({"description": "the item's partition key (JSON), or an array for hierarchical keys"});
        let database =
            json!({"type": "string", "description": "the database (default: the profile's)"});
        let written = json!({"type": "object", "properties": {"id": {"type": "string"}, "status": {"type": "string"}, "request_charge": {"type": "number"}}, "required": ["id", "status", "request_charge"]});
        if let Some(list) = all.as_array_mut() {
            list.push(json!({
                "name": "upsert_item",
                "title": "Create or replace one item (the person confirms)",
                "description": "Create or replace one item, when the grants allow upsert; denied fields keep their stored values. The person is asked to confirm each call.",
                "inputSchema": {"type": "object", "properties": {"container": {"type": "string"}, "partition_key": key, "document": {"type": "object", "description": "the whole item, with a string id"}, "database": database}, "required": ["container", "partition_key", "document"], "additionalProperties": false},
                "outputSchema": written,
                "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false},
            }));
            list.push(json!({
                "name": "delete_item",
                "title": "Delete one item (the person confirms)",
                "description": "Delete one item, when the grants allow delete. The person is asked to confirm each call.",
                "inputSchema": {"type": "object", "properties": {"container": {"type": "string"}, "id": {"type": "string"}, "partition_key": key, "database": database}, "required": ["container", "id", "partition_key"], "additionalProperties": false},
                "outputSchema": written,
                "annotations": {"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true, "openWorldHint": false},
            }));
        }
    }
    all
}

fn read_tools() -> Value {
    let read_only = json!({"readOnlyHint": true, "destructiveHint": false, "idempotentHint": true, "openWorldHint": false});
    let database =
        json!({"type": "string", "description": "the database (default: the profile's)"});
    let params = json!({"type": "object", "description": "query parameters: name → JSON value (@name in the SQL)", "additionalProperties": true});
    json!([
        {
            "name": "whoami",
            "title": "Who am I, and what may I do",
            "description": "The signed-in subject, roles, and every grant: databases, containers, actions, partition scope, denied fields, caps. Call it first and plan within it.",
            "inputSchema": {"type": "object", "properties": {}, "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"subject": {"type": "string"}, "roles": {"type": "array", "items": {"type": "string"}}, "grants": {"type": "array", "items": {"type": "object"}}, "limits": {"type": "object"}}, "required": ["subject", "roles", "grants", "limits"]},
            "annotations": read_only,
        },
        {
            "name": "list_containers",
            "title": "List the containers the grants name",
            "description": "The containers of a database that the caller's grants name, with their partition-key paths.",
            "inputSchema": {"type": "object", "properties": {"database": database}, "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"database": {"type": "string"}, "containers": {"type": "array", "items": {"type": "object"}}}, "required": ["database", "containers"]},
            "annotations": read_only,
        },
        {
            "name": "explain_query",
            "title": "Explain a query and whether it is allowed",
            "description": "Parse and normalise a Cosmos DB SQL query, show its partition scope, and the policy's decision with its reasons — without running it.",
            "inputSchema": {"type": "object", "properties": {"container": {"type": "string"}, "sql": {"type": "string", "maxLength": 32768}, "parameters": params, "database": database}, "required": ["container", "sql"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"valid": {"type": "boolean"}, "normalized": {"type": "string"}, "partition_scope": {"type": "object"}, "allowed": {"type": "boolean"}, "reasons": {"type": "array"}, "error": {"type": "object"}}, "required": ["valid"]},
            "annotations": read_only,
        },
        {
            "name": "query",
            "title": "Run a policy-checked query",
            "description": "Run a Cosmos DB SQL query inside the caller's grants: pinned to the partitions they allow, denied fields refused, the result capped (it says when it was cut and how to narrow the query).",
            "inputSchema": {"type": "object", "properties": {"container": {"type": "string"}, "sql": {"type": "string", "maxLength": 32768}, "parameters": params, "partition_key": {"description": "a partition key value (JSON), or an array for hierarchical keys"}, "max_items": {"type": "integer", "minimum": 0}, "database": database}, "required": ["container", "sql"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"items": {"type": "array"}, "truncated": {"type": "boolean"}, "request_charge": {"type": "number"}, "note": {"type": "string"}}, "required": ["items", "truncated", "request_charge"]},
            "annotations": read_only,
        },
        {
            "name": "get_item",
            "title": "Read one item",
            "description": "Read one item by id and partition key, when the grants allow reading it whole.",
            "inputSchema": {"type": "object", "properties": {"container": {"type": "string"}, "id": {"type": "string"}, "partition_key": {"description": "the item's partition key (JSON), or an array for hierarchical keys"}, "database": database}, "required": ["container", "id", "partition_key"], "additionalProperties": false},
            "outputSchema": {"type": "object", "properties": {"item": {"type": "object"}, "request_charge": {"type": "number"}}, "required": ["item", "request_charge"]},
            "annotations": read_only,
        },
    ])
}
