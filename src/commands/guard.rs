//! The policy gate every data command goes through: the session's verified claims, the profile's
//! policy, a decision (with a security-key step-up when a grant needs one), and the audit record
//! that says who did what and why something was denied.

use serde_json::Value;

use crate::app::App;
use crate::audit::{Audit, Record};
use crate::clock::now_unix;
use crate::commands::policy::load_policy;
use crate::error::{CmdResult, CommandError, Exit};
use crate::policy::{self, Policy, Request, ScopedQuery};
use crate::session::{SessionInfo, Sessions};
use crate::settings::{Config, Profile};

pub struct Guard<'a> {
    app: &'a App,
    profile: &'a Profile,
    pub audit: &'a Audit,
    sessions: Sessions<'a>,
    pub info: SessionInfo,
    pub policy: Policy,
    claims: Value,
}

impl<'a> Guard<'a> {
    /// The signed-in identity and the profile's policy; `record` learns who is acting. The session
    /// must be live — its token in the keyring, unexpired or renewed now — not just described by
    /// the session file: secrets are released only to a valid session.
    pub async fn open(
        app: &'a App,
        config: &Config,
        profile: &'a Profile,
        audit: &'a Audit,
        record: &mut Record,
    ) -> CmdResult<Self> {
        // Nothing runs unaudited: if the audit log cannot be written (a full disk, a broken
        // state directory), refuse before touching any data.
        audit.check_writable().map_err(|e| {
            CommandError::runtime("cannot write the audit log, so nothing runs")
                .caused_by(&e)
                .hint("free disk space or fix the permissions of $XDG_STATE_HOME/cosmoscope/audit.jsonl")
        })?;
        let sessions = app.sessions(config, profile, audit, None)?;
        let (info, _token) = sessions.fresh(0, false).await?;
        record.subject = Some(info.subject.clone());
        record.roles.clone_from(&info.roles);
        let policy_path = profile.policy_file.as_ref().ok_or_else(|| {
            CommandError::new(Exit::Denied, "no policy: nothing is allowed").hint(
                "name a policy file in the profile: [profiles.NAME.policy] file = \"policy.toml\"",
            )
        })?;
        let policy = load_policy(policy_path)?;
        let claims = Value::Object(info.claims.clone());
        Ok(Self {
            app,
            profile,
            audit,
            sessions,
            info,
            policy,
            claims,
        })
    }

    /// The verified claims the policy decides on.
    #[must_use]
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// Decides `request`; asks for a touch when a grant needs a recent one (on a terminal), and
    /// fails with exit 4 and every reason when denied. The reasons go into `record`.
    pub async fn allow(&self, mut request: Request, record: &mut Record) -> CmdResult<ScopedQuery> {
        let window = self.profile.fido2_window.as_secs();
        let fresh_touch = |at: Option<u64>| at.is_some_and(|t| now_unix() <= t + window);
        request.fido2_fresh = fresh_touch(self.info.fido2_at);
        let mut decision = policy::decide(&self.policy, &self.claims, &request);
        if decision.needs_step_up() {
            if !self.app.ui.can_prompt() {
                record.cause = Some("step-up touch needed".into());
                return Err(CommandError::login_required("this grant needs a recent touch of your security key")
                    .hint("run the command at a terminal with the key plugged in (or `cosmoscope login --fido2` first)"));
            }
            self.app
                .ui
                .info("This grant needs a touch of your security key.");
            let at = self.sessions.step_up().await?;
            request.fido2_fresh = fresh_touch(Some(at));
            decision = policy::decide(&self.policy, &self.claims, &request);
        }
        record.reasons = decision
            .reasons()
            .iter()
            .map(|r| r.message.clone())
            .collect();
        if !decision.allowed() {
            let mut err = CommandError::new(Exit::Denied, "denied by policy");
            for r in decision.reasons() {
                err = err.cause(&r.message);
            }
            return Err(err.hint(
                "`cosmoscope policy explain` shows every rule; ask for a grant that covers it",
            ));
        }
        record.decision = "allowed".into();
        decision
            .into_scoped()
            .ok_or_else(|| CommandError::runtime("the policy engine allowed nothing to run"))
    }
}

/// Finishes an audit record with the command's outcome and appends it. A record the log cannot
/// take (a full disk) is not lost: it is printed whole on stderr and the command fails (exit 1)
/// even though its work is done, so a script notices; an earlier error stays the one reported.
pub fn finish(
    app: &App,
    audit: &Audit,
    mut record: Record,
    outcome: CmdResult,
    started: std::time::Instant,
) -> CmdResult {
    record.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    if let Err(e) = &outcome {
        // "denied" stays for a policy denial; anything else (before or during the run) is an error.
        if e.exit != Exit::Denied || record.decision == "allowed" {
            record.decision = "error".into();
        }
        record.cause = Some(
            e.causes
                .first()
                .cloned()
                .unwrap_or_else(|| e.message.clone()),
        );
    } else if record.decision == "denied" {
        record.decision = "ok".into();
    }
    record.time = crate::clock::now_rfc3339_millis();
    let line = serde_json::to_string(&record).unwrap_or_default();
    let Err(e) = audit.append(record) else {
        return outcome;
    };
    app.ui.warn(format!(
        "the audit log cannot take this record; here it is: {line}"
    ));
    outcome?;
    Err(
        CommandError::runtime("the command ran, but its audit record could not be written")
            .caused_by(&e)
            .hint(format!(
                "free space for the audit log ({}); keep the record printed above",
                audit
                    .path()
                    .map_or_else(|| "no state directory".into(), |p| p.display().to_string())
            )),
    )
}
