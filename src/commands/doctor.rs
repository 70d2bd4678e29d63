//! `cosmoscope doctor`: checks what a login and a query depend on, and says how to fix each problem.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::commands::gate::{Act, Gate};
use crate::error::{CmdResult, CommandError};
use crate::identity::http::Http;
use crate::identity::verify::LEEWAY_SECS;
use crate::output::{OutputFormat, Report, table};
use crate::session::SessionPaths;
use crate::settings::{Config, Profile};

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        name,
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

pub async fn run(app: &App) -> CmdResult {
    let mut checks = Vec::new();
    let selected = check_config(app, &mut checks);
    if let Some((config, profile)) = &selected {
        checks.push(check_provider(profile).await);
        checks.push(check_keyring(app, profile));
        if let Ok(state) = app.state_dir() {
            checks.push(check_session(&state, profile));
        }
        if let Some(c) = check_fido2(app, config, profile).await {
            checks.push(c);
        }
        if profile.cosmos.is_some() {
            checks.push(check_cosmos(app).await);
        }
    }
    let all_ok = checks.iter().all(|c| c.ok);
    let color = app.ui.stdout_color;
    let table = || {
        let mut t = table::grid();
        for c in &checks {
            // The table goes to stdout: colour is decided for that stream.
            let mark = match (c.ok, color) {
                (true, true) => "\x1b[32m✓\x1b[0m",
                (true, false) => "✓",
                (false, true) => "\x1b[31m✗\x1b[0m",
                (false, false) => "✗",
            };
            let detail = match &c.fix {
                Some(fix) => format!("{}\nfix: {fix}", c.detail),
                None => c.detail.clone(),
            };
            t.add_row(vec![mark.to_string(), c.name.to_string(), detail]);
        }
        format!("{t}\n")
    };
    let report = Report::line(&json!({"ok": all_ok, "checks": checks}), table)?;
    app.ui.print(report, OutputFormat::Table)?;
    if all_ok {
        Ok(())
    } else {
        let failed: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
        Err(CommandError::runtime(format!(
            "{} check(s) failed: {}",
            failed.len(),
            failed.join(", ")
        ))
        .hint("apply the fixes listed above, then run `cosmoscope doctor` again"))
    }
}

fn check_config(app: &App, checks: &mut Vec<Check>) -> Option<(Config, Profile)> {
    let path = match app.config_path() {
        Ok(p) => p,
        Err(e) => {
            checks.push(fail("config", e.message.clone(), e.next_step()));
            return None;
        }
    };
    match Config::load(&path) {
        Ok(None) => {
            checks.push(fail(
                "config",
                format!("no file at {}", path.display()),
                "run `cosmoscope init`",
            ));
            None
        }
        Err(e) => {
            let e = CommandError::from(e);
            checks.push(fail(
                "config",
                e.summary(),
                format!("edit {}", path.display()),
            ));
            None
        }
        Ok(Some(config)) => match app.profile() {
            Ok((config, profile)) => {
                checks.push(pass(
                    "config",
                    format!("{} — profile {:?}", path.display(), profile.name),
                ));
                if let Some(policy) = &profile.policy_file {
                    checks.push(match crate::commands::policy::load_policy(policy) {
                        Ok(p) => pass(
                            "policy",
                            format!("{}: {} roles", policy.display(), p.roles.len()),
                        ),
                        Err(e) => fail("policy", e.summary(), format!("fix {}", policy.display())),
                    });
                }
                Some((config, profile))
            }
            Err(e) => {
                let _ = config;
                checks.push(fail("config", e.message.clone(), e.next_step()));
                None
            }
        },
    }
}

async fn check_provider(profile: &Profile) -> Check {
    let url = format!(
        "{}/.well-known/openid-configuration",
        profile.issuer.trim_end_matches('/')
    );
    let http = match Http::new() {
        Ok(h) => h,
        Err(e) => {
            return fail(
                "provider",
                e.to_string(),
                "check the system's TLS certificates",
            );
        }
    };
    match http.get_json_dated(&url, "the discovery document").await {
        Err(e) => fail(
            "provider",
            e.to_string(),
            "check the network and the profile's issuer",
        ),
        Ok((doc, date)) => {
            if doc.get("issuer").and_then(|i| i.as_str()) != Some(profile.issuer.as_str()) {
                return fail(
                    "provider",
                    format!("discovery names issuer {}", doc["issuer"]),
                    "set issuer exactly as the discovery document names it",
                );
            }
            if doc.get("device_authorization_endpoint").is_none() {
                return fail(
                    "provider",
                    "no device_authorization_endpoint",
                    "enable the device-code grant at the provider",
                );
            }
            match date.map(skew) {
                Some(s) if s.as_secs() > LEEWAY_SECS => fail(
                    "clock",
                    format!(
                        "this machine's clock differs from the provider's by {}s (tokens tolerate {LEEWAY_SECS}s)",
                        s.as_secs()
                    ),
                    "synchronise the clock (NTP)",
                ),
                Some(s) => pass(
                    "provider",
                    format!(
                        "{} — discovery ok, clock skew {}s",
                        profile.issuer,
                        s.as_secs()
                    ),
                ),
                None => pass(
                    "provider",
                    format!(
                        "{} — discovery ok (no Date header to check the clock)",
                        profile.issuer
                    ),
                ),
            }
        }
    }
}

/// When keys are enrolled: is one of them plugged in and answering?
async fn check_fido2(app: &App, config: &Config, profile: &Profile) -> Option<Check> {
    let ctx = app.fido2(config, profile, None).ok()?;
    let enrolled = ctx.load_store().ok()?.file.credentials.len();
    if enrolled == 0 {
        return None;
    }
    let selection = ctx.selection.clone();
    let opened = tokio::task::spawn_blocking(move || {
        crate::fido2::HidAuthenticator::open(&selection).map(|_| ())
    })
    .await;
    Some(match opened {
        Ok(Ok(())) => pass(
            "fido2",
            format!("{enrolled} key(s) enrolled; a security key answers"),
        ),
        Ok(Err(e)) => fail(
            "fido2",
            e.to_string(),
            "plug in an enrolled key (Linux: udev rules for hidraw access), or pass --device via COSMOSCOPE_FIDO2_DEVICE",
        ),
        Err(e) => fail("fido2", e.to_string(), "retry"),
    })
}

/// Can the profile's credential reach the account? (Lists databases: the cheapest authenticated
/// call.) Using the credential is like any data command: through the gate, so it needs a live
/// session, leaves one `doctor` record, and counts only the databases the grants show.
async fn check_cosmos(app: &App) -> Check {
    let result = Gate::run(app, Act::DOCTOR, async |gate| {
        let visible = gate.visible().await?;
        let conn = app.cosmos().await?;
        let databases = crate::cosmos::items::list_databases(&conn.cosmos)
            .await?
            .into_iter()
            .filter(|d| visible.database(d))
            .count();
        gate.record.detail = Some("cosmos reachability".into());
        Ok((conn.settings.clone(), databases))
    })
    .await;
    match result {
        Ok((settings, databases)) => pass(
            "cosmos",
            format!(
                "{} reachable with credential {:?} ({databases} databases you may see)",
                settings.endpoint, settings.credential
            ),
        ),
        Err(e) => fail("cosmos", e.summary(), e.next_step()),
    }
}

fn skew(server: SystemTime) -> Duration {
    let now = crate::clock::now();
    now.duration_since(server)
        .or_else(|_| server.duration_since(now))
        .unwrap_or_default()
}

fn check_keyring(app: &App, profile: &Profile) -> Check {
    match app.keyring.open(profile.store) {
        Ok(store) => pass("keyring", format!("{} is reachable", store.kind().as_str())),
        Err(e) => fail(
            "keyring",
            e.to_string(),
            "start a Secret Service, or set store = \"keyutils\" and run inside a session keyring (`keyctl session -`)",
        ),
    }
}

fn check_session(state: &std::path::Path, profile: &Profile) -> Check {
    let paths = SessionPaths::new(state, profile);
    match paths.read_info() {
        Ok(Some(info)) if info.belongs_to(profile) => {
            let now = crate::clock::now_unix();
            if info.expires_at > now || info.refreshable {
                pass(
                    "session",
                    format!("{} with roles [{}]", info.subject, info.roles.join(", ")),
                )
            } else {
                fail(
                    "session",
                    "expired and not refreshable",
                    crate::error::login_hint(&profile.name),
                )
            }
        }
        Ok(_) => fail(
            "session",
            "not logged in",
            crate::error::login_hint(&profile.name),
        ),
        Err(e) => fail(
            "session",
            e.to_string(),
            "check the permissions of $XDG_STATE_HOME/cosmoscope",
        ),
    }
}
