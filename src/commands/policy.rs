//! `cosmoscope policy explain|validate`.
//!
//! `explain` works offline — no config, no login: validity, normalised text, partition scope. With a
//! configured profile that has a policy file and a session, it also gives the decision and every
//! reason. `validate` checks a policy file and reports problems as `file:line:column`.

use std::io::{BufRead as _, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::app::App;
use crate::cli::{PolicyArgs, PolicyCommand, PolicyExplainArgs, PolicyValidateArgs};
use crate::error::{CmdResult, CommandError, Exit};
use crate::output::{OutputFormat, Report};
use crate::policy::{self, Action, Decision, Explanation, Policy, QueryRequest, Request};

pub async fn run(app: &App, args: &PolicyArgs) -> CmdResult {
    match &args.command {
        PolicyCommand::Explain(a) => explain(app, a).await,
        PolicyCommand::Validate(a) => validate(app, a),
    }
}

/// Parses `--param NAME=JSON` pairs into a parameter map (names keep or gain their `@`).
pub fn parse_params(raw: &[String]) -> CmdResult<Map<String, Value>> {
    let mut map = Map::new();
    for p in raw {
        let (name, value) = p.split_once('=').ok_or_else(|| {
            CommandError::usage(format!("--param {p:?} is not NAME=JSON"))
                .hint("example: --param tenant='\"t1\"' or --param limit=10")
        })?;
        let value: Value = serde_json::from_str(value).map_err(|e| {
            CommandError::usage(format!("--param {name}: the value is not JSON ({e})"))
                .hint("strings need JSON quotes: --param name='\"value\"'")
        })?;
        let name = name.trim_start_matches('@');
        map.insert(format!("@{name}"), value);
    }
    Ok(map)
}

/// Loads and validates a policy file, mapping problems to a located error.
pub fn load_policy(path: &Path) -> CmdResult<Policy> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CommandError::runtime(format!("cannot read the policy file {}", path.display()))
            .caused_by(&e)
            .hint("check [profiles.NAME.policy] file = … in the config")
    })?;
    // A policy another user may rewrite grants whatever that user wants: refused.
    for p in std::iter::once(path).chain(path.parent().filter(|d| !d.as_os_str().is_empty())) {
        crate::fsutil::check_not_shared(p).map_err(|e| {
            CommandError::runtime(format!("the policy file {} is not safe to use", path.display()))
                .caused_by(&e)
                .hint("make the policy file and its directory yours and writable only by you (chmod go-w)")
        })?;
    }
    Policy::from_toml(&text, path).map_err(|e| {
        CommandError::runtime("the policy file is invalid")
            .cause(&e)
            .hint(format!("fix {}", path.display()))
    })
}

/// Who decides for the explain output: the local policy file on the session's verified claims,
/// or — for a gateway profile — the gateway, on the session's token.
enum Decider {
    Local {
        policy: Policy,
        claims: Value,
        database: Option<String>,
    },
    Gateway {
        url: String,
        token: secrecy::SecretString,
    },
}

/// The decider of the selected profile's session, when there is one. `explain` works without:
/// any problem here only means "no decision", never an error. The claims are the stored tokens',
/// verified again (never the session file's word).
async fn decider(app: &App) -> Option<Decider> {
    let (config, profile) = app.profile().ok()?;
    let audit = app.audit(&config);
    let sessions = app.sessions(&config, &profile, &audit, None).ok()?;
    let (info, token) = sessions.fresh(60, false).await.ok()?;
    if let Some(url) = &profile.gateway {
        return Some(Decider::Gateway {
            url: url.clone(),
            token,
        });
    }
    let policy = load_policy(profile.policy_file.as_ref()?).ok()?;
    Some(Decider::Local {
        policy,
        claims: Value::Object(info.claims),
        database: profile.cosmos.and_then(|c| c.database),
    })
}

/// The decision on one valid query: `(allowed, reasons)` in the JSON shape, or `None` when there
/// is nothing to decide on (no container) or the gateway could not be asked.
async fn decide(
    decider: &Decider,
    args: &PolicyExplainArgs,
    text: &str,
    params: Map<String, Value>,
) -> Option<(Value, Value)> {
    let container = args.container.clone()?;
    match decider {
        Decider::Local {
            policy,
            claims,
            database,
        } => {
            let req = Request {
                database: args.database.clone().or_else(|| database.clone())?,
                container,
                action: Action::Query,
                query: Some(QueryRequest {
                    text: text.to_string(),
                    ast: policy::parse(text).ok()?,
                    params,
                    partition_key_paths: args.partition_key_paths.clone(),
                }),
                partition_key: None,
                max_items: None,
                fido2_fresh: false,
                item_id: None,
                document: None,
            };
            let d: Decision = policy::decide(policy, claims, &req);
            Some((
                json!(d.allowed()),
                serde_json::to_value(d.reasons()).unwrap_or(Value::Null),
            ))
        }
        Decider::Gateway { url, token } => {
            let mut body = json!({"container": container, "query": text, "parameters": params});
            if let Some(d) = &args.database {
                body["database"] = json!(d);
            }
            let answer = super::gateway::call(
                url,
                token.clone(),
                reqwest::Method::POST,
                "explain",
                Some(&body),
                &[],
            )
            .await
            .ok()?;
            Some((
                answer.body.get("allowed")?.clone(),
                answer.body.get("reasons")?.clone(),
            ))
        }
    }
}

async fn explain(app: &App, args: &PolicyExplainArgs) -> CmdResult {
    let paths: Vec<&str> = args
        .partition_key_paths
        .iter()
        .map(String::as_str)
        .collect();
    let params = parse_params(&args.params)?;
    let decider = decider(app).await;

    if let Some(file) = &args.queries {
        return explain_batch(file, decider.as_ref(), args).await;
    }
    let sql = match (&args.sql, &args.file) {
        (Some(s), None) if s == "-" => std::io::read_to_string(std::io::stdin())?,
        (Some(s), None) => s.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| CommandError::runtime(format!("cannot read {}", f.display())).caused_by(&e))?,
        (None, None) => return Err(CommandError::usage("give a query, --file FILE, or --queries FILE").hint("example: cosmoscope policy explain \"SELECT * FROM c WHERE c.tenant = 't1'\" --partition-key-path /tenant")),
        (Some(_), Some(_)) => return Err(CommandError::usage("give the query as an argument or with --file, not both")),
    };
    let explanation = policy::explain(&sql, &paths, &params);
    let mut out = serde_json::to_value(&explanation)
        .map_err(|e| CommandError::runtime("cannot encode JSON").cause(e))?;
    let decision = match (&explanation, &decider) {
        (Explanation::Valid { .. }, Some(d)) => decide(d, args, &sql, params.clone()).await,
        _ => None,
    };
    if let (Some((allowed, reasons)), Some(obj)) = (&decision, out.as_object_mut()) {
        obj.insert("allowed".into(), allowed.clone());
        obj.insert("reasons".into(), reasons.clone());
    }
    let report = Report::line(&out, || human(&explanation, decision.as_ref(), &sql))?;
    app.ui.print(report, OutputFormat::Table)?;
    match explanation {
        Explanation::Invalid { error } => Err(CommandError::new(
            Exit::Usage,
            format!("syntax error at byte {}: {}", error.offset, error.message),
        )
        .hint("see the query grammar: https://learn.microsoft.com/azure/cosmos-db/nosql/query/")),
        Explanation::Valid { .. } => {
            if decider.is_none()
                && !app.ui.quiet
                && matches!(app.ui.format(OutputFormat::Table), OutputFormat::Table)
            {
                app.ui.info("(offline: no decision — log in to a profile with a policy file to see whether you may run it)");
            }
            Ok(())
        }
    }
}

fn human(explanation: &Explanation, decision: Option<&(Value, Value)>, sql: &str) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    match explanation {
        Explanation::Valid {
            normalized,
            partition_scope,
        } => {
            let _ = writeln!(s, "valid:       yes");
            let _ = writeln!(s, "normalized:  {normalized}");
            let scope = serde_json::to_value(partition_scope).unwrap_or(Value::Null);
            let _ = writeln!(s, "partitions:  {}", describe_scope(&scope));
        }
        Explanation::Invalid { error } => {
            let _ = writeln!(s, "valid:       no");
            let _ = writeln!(s, "error:       {} (byte {})", error.message, error.offset);
            let line_start = sql[..sql.floor_char_boundary(error.offset.min(sql.len()))]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let line = sql[line_start..].lines().next().unwrap_or("");
            let col = sql[line_start..sql.floor_char_boundary(error.offset.min(sql.len()))]
                .chars()
                .count();
            let _ = writeln!(s, "  {line}\n  {}^", " ".repeat(col));
        }
    }
    if let Some((allowed, reasons)) = decision {
        let _ = writeln!(
            s,
            "decision:    {}",
            if allowed == &json!(true) {
                "allowed"
            } else {
                "denied"
            }
        );
        for r in reasons.as_array().into_iter().flatten() {
            let _ = writeln!(
                s,
                "  - {}",
                crate::text::terminal_text(r["message"].as_str().unwrap_or_default())
            );
        }
    }
    s
}

fn describe_scope(scope: &Value) -> String {
    match scope["kind"].as_str() {
        Some("all") => "all (any partition)".into(),
        Some("none") => "none (reads no container)".into(),
        Some("points") => format!("only {}", scope["values"]),
        _ => scope.to_string(),
    }
}

async fn explain_batch(
    file: &Path,
    decider: Option<&Decider>,
    args: &PolicyExplainArgs,
) -> CmdResult {
    let reader: Box<dyn std::io::BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(file).map_err(
            |e| CommandError::runtime(format!("cannot open {}", file.display())).caused_by(&e),
        )?))
    };
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout);
    let broken = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CommandError::broken_pipe()
        } else {
            CommandError::from(e)
        }
    };
    for line in reader.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match decider {
            None => policy::explain_line(&line),
            Some(d) => explain_line_with_decision(&line, d, args).await,
        };
        out.write_all(answer.as_bytes()).map_err(broken)?;
        out.write_all(b"\n").map_err(broken)?;
    }
    out.flush().map_err(broken)
}

async fn explain_line_with_decision(
    line: &str,
    decider: &Decider,
    args: &PolicyExplainArgs,
) -> String {
    let mut v: Value = serde_json::from_str(&policy::explain_line(line)).unwrap_or(Value::Null);
    let input: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    if let (Some(text), true) = (input["query"].as_str(), v["valid"] == json!(true)) {
        let params = input["parameters"].as_object().cloned().unwrap_or_default();
        if let Some((allowed, reasons)) = decide(decider, args, text, params).await
            && let Some(obj) = v.as_object_mut()
        {
            obj.insert("allowed".into(), allowed);
            obj.insert("reasons".into(), reasons);
        }
    }
    v.to_string()
}

fn validate(app: &App, args: &PolicyValidateArgs) -> CmdResult {
    let path: PathBuf = if let Some(f) = &args.file {
        f.clone()
    } else {
        let (_config, profile) = app.profile()?;
        profile.policy_file.clone().ok_or_else(|| {
            CommandError::usage(format!("profile {:?} has no policy file", profile.name))
                .hint("pass a file: cosmoscope policy validate policy.toml")
        })?
    };
    let policy = load_policy(&path)?;
    let grants: usize = policy.roles.iter().map(|r| r.grants.len()).sum();
    let summary = json!({"valid": true, "file": path.display().to_string(), "roles": policy.roles.len(), "grants": grants});
    // The table form is the success line on stderr below.
    app.ui
        .print(Report::line(&summary, String::new)?, OutputFormat::Table)?;
    app.ui.success(format!(
        "{}: {} roles, {} grants",
        path.display(),
        policy.roles.len(),
        grants
    ));
    Ok(())
}
