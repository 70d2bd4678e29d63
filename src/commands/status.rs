//! `cosmoscope status`: who, which roles, until when, which store — from the session file alone
//! (no keyring, no network), so it stays instant.

use serde_json::json;

use crate::app::App;
use crate::clock::{now_unix, rfc3339};
use crate::error::login_hint;
use crate::error::{CmdResult, CommandError};
use crate::output::{OutputFormat, Report, table};
use crate::session::{SessionInfo, SessionPaths};

pub fn run(app: &App) -> CmdResult {
    let (_config, profile) = app.profile()?;
    let paths = SessionPaths::new(&app.state_dir()?, &profile);
    let info: Option<SessionInfo> = paths.read_info()?.filter(|i| i.belongs_to(&profile));
    let now = now_unix();
    let usable = info
        .as_ref()
        .is_some_and(|i| i.refreshable || i.expires_at > now);

    let v = json!({
        "profile": profile.name,
        "logged_in": usable,
        "subject": info.as_ref().map(|i| &i.subject),
        "issuer": profile.issuer,
        "roles": info.as_ref().map_or(&Vec::new(), |i| &i.roles),
        "expires_at": info.as_ref().map(|i| rfc3339(i.expires_at)),
        "refreshable": info.as_ref().is_some_and(|i| i.refreshable),
        "store": info.as_ref().map(|i| i.store.as_str()),
    });
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
