//! `cosmoscope status`: who, which roles, until when, which store — from the session file alone
//! (no keyring, no network), so it stays instant. A gateway profile also asks the gateway what
//! it makes of the session's token (`/v1/whoami`): the subject, roles and grants it decides on.

use serde_json::json;

use crate::app::App;
use crate::clock::{now_unix, rfc3339};
use crate::error::login_hint;
use crate::error::{CmdResult, CommandError};
use crate::output::{OutputFormat, Report, table};
use crate::session::{SessionInfo, SessionPaths};

pub async fn run(app: &App) -> CmdResult {
    let (_config, profile) = app.profile()?;
    let paths = SessionPaths::new(&app.state_dir()?, &profile);
    let info: Option<SessionInfo> = paths.read_info()?.filter(|i| i.belongs_to(&profile));
    let now = now_unix();
    let usable = info
        .as_ref()
        .is_some_and(|i| i.refreshable || i.expires_at > now);

    let gateway = match &profile.gateway {
        Some(url) if usable => Some(ask_gateway(app, url).await),
        Some(url) => Some(json!({"url": url})),
        None => None,
    };
    let mut v = json!({
        "profile": profile.name,
        "logged_in": usable,
        "subject": info.as_ref().map(|i| &i.subject),
        "issuer": profile.issuer,
        "roles": info.as_ref().map_or(&Vec::new(), |i| &i.roles),
        "expires_at": info.as_ref().map(|i| rfc3339(i.expires_at)),
        "refreshable": info.as_ref().is_some_and(|i| i.refreshable),
        "store": info.as_ref().map(|i| i.store.as_str()),
    });
    if let Some(g) = &gateway {
        v["gateway"] = g.clone();
    }
    let table = || {
        let mut t = table::grid();
        t.add_row(vec!["profile", profile.name.as_str()]);
        t.add_row(vec!["issuer", profile.issuer.as_str()]);
        if let Some(i) = &info {
            let expiry = if i.expires_at > now {
                format!(
                    "{} (in {})",
                    rfc3339(i.expires_at),
                    humantime::format_duration(std::time::Duration::from_secs(i.expires_at - now))
                )
            } else {
                format!("{} (expired)", rfc3339(i.expires_at))
            };
            let name = display_name(i);
            t.add_row(vec!["logged in", if usable { "yes" } else { "no" }]);
            t.add_row(vec!["subject", name.as_str()]);
            t.add_row(vec![
                "roles",
                &if i.roles.is_empty() {
                    "(none)".to_string()
                } else {
                    i.roles.join(", ")
                },
            ]);
            t.add_row(vec!["expires", expiry.as_str()]);
            t.add_row(vec![
                "refreshable",
                if i.refreshable { "yes" } else { "no" },
            ]);
            t.add_row(vec!["store", i.store.as_str()]);
            if let Some(g) = &gateway {
                t.add_row(vec!["gateway", &describe_gateway(g)]);
            }
        } else {
            t.add_row(vec!["logged in", "no"]);
        }
        format!("{t}\n")
    };
    app.ui
        .print(Report::object(&v, table)?, OutputFormat::Table)?;
    if usable {
        Ok(())
    } else {
        Err(
            CommandError::login_required(format!("not logged in (profile {:?})", profile.name))
                .hint(login_hint(&profile.name)),
        )
    }
}

fn display_name(i: &SessionInfo) -> String {
    match &i.label {
        Some(l) if *l != i.subject => format!("{} ({l})", i.subject),
        _ => i.subject.clone(),
    }
}

/// What the gateway says about the session's token: `{url, subject, roles, grants}`, or
/// `{url, error}` when it cannot be asked (status still reports the rest).
async fn ask_gateway(app: &App, url: &str) -> serde_json::Value {
    let answer = async {
        let (config, profile) = app.profile()?;
        let audit = app.audit(&config);
        let sessions = app.sessions(&config, &profile, &audit, None)?;
        let (_, token) = sessions.fresh(60, false).await?;
        super::gateway::call(url, token, reqwest::Method::GET, "whoami", None, &[]).await
    }
    .await;
    match answer {
        Ok(a) => json!({
            "url": url,
            "subject": a.body["subject"],
            "roles": a.body["roles"],
            "grants": a.body["grants"],
        }),
        Err(e) => json!({"url": url, "error": crate::text::terminal_text(&e.to_string())}),
    }
}

fn describe_gateway(g: &serde_json::Value) -> String {
    let url = g["url"].as_str().unwrap_or_default();
    if let Some(e) = g["error"].as_str() {
        return format!("{url} (not answering: {e})");
    }
    let grants: Vec<String> = g["grants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "{} on {}/{}",
                g["actions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                g["database"].as_str().unwrap_or("?"),
                g["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect();
    format!(
        "{url}\nas {} — {}",
        g["subject"].as_str().unwrap_or("?"),
        if grants.is_empty() {
            "no grants".to_string()
        } else {
            grants.join("; ")
        }
    )
}
