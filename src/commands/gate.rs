//! The gate every command that touches data or releases a secret goes through (kanidm's
//! authenticated-client gate, jj's `CommandHelper`).
//!
//! [`Gate::run`] opens the profile's audit log before the command acts, hands the command a
//! [`Gate`] — the live, verified session, the profile's policy, a decision through the policy
//! engine (with a security-key step-up when a grant needs one) — and, whatever the command returns,
//! writes exactly one audit record on the way out. The body has no other way out — Ctrl-C is caught
//! here too — so a command cannot forget to audit.
//!
//! One rule for an audit write that fails (docs/architecture.md): the log must open before the
//! command acts, or nothing runs (a command that only removes a credential is never held back);
//! if the record then cannot be appended (a full disk), it is printed whole on stderr and the
//! command fails with exit 1, even when its work is done. What a command returns (a credential to
//! print, say) leaves the process only after its record is written.

use std::time::Instant;

use secrecy::SecretString;
use serde_json::Value;

use crate::app::App;
use crate::audit::{Audit, Record, Unwritable};
use crate::clock::now_unix;
use crate::commands::policy::load_policy;
use crate::error::{CmdResult, CommandError, Exit};
use crate::policy::{self, Decision, Policy, Request, ScopedQuery, Visible};

/// A denial's message and next step, unless the command has words of its own.
const DENIED: (&str, &str) = (
    "denied by policy",
    "`cosmoscope policy explain` shows every rule; ask for a grant that covers it",
);
use crate::session::SessionInfo;
use crate::settings::{Config, Profile};

/// What a gated command does: its name in the audit log, and whether it only removes a credential
/// (such a command is never held back by an audit log that cannot be opened). Every gated action
/// is one of the constants below, so the names the contract lists live in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Act {
    pub name: &'static str,
    removes_only: bool,
}

impl Act {
    const fn uses(name: &'static str) -> Self {
        Self {
            name,
            removes_only: false,
        }
    }
    const fn removes(name: &'static str) -> Self {
        Self {
            name,
            removes_only: true,
        }
    }

    pub const QUERY: Act = Act::uses("query");
    pub const ITEM_READ: Act = Act::uses("item.read");
    pub const ITEM_UPSERT: Act = Act::uses("item.upsert");
    pub const ITEM_DELETE: Act = Act::uses("item.delete");
    pub const LS: Act = Act::uses("ls");
    pub const EXPORT: Act = Act::uses("export");
    pub const DOCTOR: Act = Act::uses("doctor");
    pub const KEY_ENROLL: Act = Act::uses("key.enroll");
    pub const KEY_REMOVE: Act = Act::removes("key.remove");
    pub const ACCOUNT_KEY_SET: Act = Act::uses("account_key.set");
    pub const ACCOUNT_KEY_REMOVE: Act = Act::removes("account_key.remove");
    pub const LOGOUT: Act = Act::removes("logout");
}

pub struct Gate<'a> {
    pub app: &'a App,
    pub config: Config,
    pub profile: Profile,
    audit: Audit,
    /// The record this command leaves; the body adds what it touched.
    pub record: Record,
    /// The live session and its access token, once read.
    session: Option<(SessionInfo, SecretString)>,
    policy: Option<Policy>,
    allowed: bool,
    /// A grant's security-key step-up may run without a terminal (`mcp`: the server's stdio is
    /// the protocol; the touch itself is the person in the loop, the notice goes to stderr).
    pub unattended_step_up: bool,
}

impl<'a> Gate<'a> {
    /// Runs `body` for the selected profile inside the gate; see the module documentation.
    pub async fn run<T>(
        app: &'a App,
        action: Act,
        body: impl AsyncFnOnce(&mut Gate<'a>) -> CmdResult<T>,
    ) -> CmdResult<T> {
        let (config, profile) = app.profile()?;
        Self::run_for(app, config, profile, action, body).await
    }

    /// [`run`](Self::run) for a given profile (`logout --all` passes each in turn).
    pub async fn run_for<T>(
        app: &'a App,
        config: Config,
        profile: Profile,
        action: Act,
        body: impl AsyncFnOnce(&mut Gate<'a>) -> CmdResult<T>,
    ) -> CmdResult<T> {
        let started = Instant::now();
        let audit = app.audit(&config);
        let record = Record::new(&profile.name, action.name, "ok");
        let mut gate = Gate {
            app,
            config,
            profile,
            audit,
            record,
            session: None,
            policy: None,
            allowed: false,
            unattended_step_up: false,
        };
        // Nothing that reads data or hands out a secret runs unaudited: if the log cannot be
        // opened (a broken state directory, no space for a new file), refuse before touching
        // anything. Removing a credential is never held back; its record follows the same
        // fallback as any other.
        let precheck = if action.removes_only {
            Ok(())
        } else {
            audit_opens(&gate.audit)
        };
        let outcome = match precheck {
            // Ctrl-C ends the body here, not in `commands::run`, so an interrupted command still
            // leaves its record. The body goes first: one that handles Ctrl-C itself (a streamed
            // query closes its output) reports its own outcome.
            Ok(()) => {
                let interrupt = super::on_interrupt();
                tokio::select! {
                    biased;
                    r = body(&mut gate) => r,
                    () = interrupt => Err(CommandError::new(Exit::Interrupted, "interrupted")),
                }
            }
            Err(e) => Err(e),
        };
        gate.close(outcome, started)
    }

    /// Whether `e` says the audit log could not take the record (so a command that releases
    /// something after the gate can say it released nothing).
    #[must_use]
    pub fn unaudited(e: &CommandError) -> bool {
        e.source
            .as_deref()
            .is_some_and(|s| s.downcast_ref::<Unwritable>().is_some())
    }

    /// The profile's audit log.
    #[must_use]
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Records the query text (or only its hash, with `audit.redact_queries`).
    pub fn set_query(&mut self, sql: &str) {
        self.audit.set_query(&mut self.record, sql);
    }

    /// Names who acts in the record from the profile's session file, without requiring a live
    /// session (logout, key and account-key management: the person may be signed out). A live
    /// session read later replaces it.
    pub fn note_identity(&mut self) {
        let Ok(state) = self.app.state_dir() else {
            return;
        };
        let paths = crate::session::SessionPaths::new(&state, &self.profile);
        if let Ok(Some(info)) = paths.read_info()
            && info.belongs_to(&self.profile)
        {
            self.stamp(&info);
        }
    }

    fn stamp(&mut self, info: &SessionInfo) {
        self.record.subject = Some(info.subject.clone());
        self.record.roles.clone_from(&info.roles);
    }

    /// The signed-in identity. The session must be live — its token in the keyring, unexpired
    /// or renewed now — not just described by the session file: data and secrets are released
    /// only to a valid session.
    pub async fn session(&mut self) -> CmdResult<&SessionInfo> {
        if self.session.is_none() {
            self.refresh_to(0).await?;
        }
        Ok(&self.session.as_ref().expect("set above").0)
    }

    /// [`session`](Self::session) with its access token, fresh for at least `min_ttl` seconds: the
    /// credential `token` and `exec` hand out for `entra` and `--resource idp`. The token read
    /// with the session is reused when it lives long enough (one keyring read on the fast path).
    pub async fn session_token(&mut self, min_ttl: u64) -> CmdResult<SecretString> {
        let fresh_enough = self
            .session
            .as_ref()
            .is_some_and(|(info, _)| info.is_fresh(now_unix(), min_ttl));
        if !fresh_enough {
            self.refresh_to(min_ttl).await?;
        }
        Ok(self.session.as_ref().expect("set above").1.clone())
    }

    async fn refresh_to(&mut self, min_ttl: u64) -> CmdResult {
        let sessions = self
            .app
            .sessions(&self.config, &self.profile, &self.audit, None)?;
        let (info, token) = sessions.fresh(min_ttl, false).await?;
        self.stamp(&info);
        self.session = Some((info, token));
        Ok(())
    }

    /// The verified claims the policy decides on.
    pub async fn claims(&mut self) -> CmdResult<Value> {
        Ok(Value::Object(self.session().await?.claims.clone()))
    }

    /// The profile's policy; without one nothing is allowed.
    pub fn policy(&mut self) -> CmdResult<&Policy> {
        if self.policy.is_none() {
            let path = self.profile.policy_file.as_ref().ok_or_else(|| {
                CommandError::new(Exit::Denied, "no policy: nothing is allowed").hint(
                    "name a policy file in the profile: [profiles.NAME.policy] file = \
                     \"policy.toml\"",
                )
            })?;
            self.policy = Some(load_policy(path)?);
        }
        Ok(self.policy.as_ref().expect("set above"))
    }

    /// What the session's grants let it see (`ls`).
    pub async fn visible(&mut self) -> CmdResult<Visible> {
        let claims = self.claims().await?;
        let visible = self.policy()?.visible(&claims);
        self.allowed = true;
        Ok(visible)
    }

    /// Decides `request`; asks for a touch when a grant needs a recent one (on a terminal), and
    /// fails with exit 4 and every reason when denied. The reasons go into the record.
    pub async fn allow(&mut self, request: Request) -> CmdResult<ScopedQuery> {
        self.allow_or(request, DENIED.0, DENIED.1).await
    }

    /// [`allow`](Self::allow) with the command's own words for a denial.
    pub async fn allow_or(
        &mut self,
        mut request: Request,
        denied: &str,
        hint: &str,
    ) -> CmdResult<ScopedQuery> {
        let claims = self.claims().await?;
        let fido2_at = self.session.as_ref().and_then(|(s, _)| s.fido2_at);
        let window = self.profile.fido2_window.as_secs();
        let fresh_touch =
            |at: Option<u64>| at.is_some_and(|t| now_unix() <= t.saturating_add(window));
        request.fido2_fresh = fresh_touch(fido2_at);
        let mut decision = policy::decide(self.policy()?, &claims, &request);
        if decision.needs_step_up() {
            if !self.app.ui.can_prompt() && !self.unattended_step_up {
                return Err(CommandError::login_required(
                    "this grant needs a recent touch of your security key",
                )
                .hint(
                    "run the command at a terminal with the key plugged in (or `cosmoscope \
                     login --fido2` first)",
                ));
            }
            self.app
                .ui
                .info("This grant needs a touch of your security key.");
            let mut sessions = self
                .app
                .sessions(&self.config, &self.profile, &self.audit, None)?;
            if self.unattended_step_up {
                sessions = sessions.touch_without_terminal();
            }
            let at = sessions.step_up().await?;
            request.fido2_fresh = fresh_touch(Some(at));
            decision = policy::decide(self.policy()?, &claims, &request);
        }
        self.refuse_unless_allowed(&decision, denied, hint)?;
        self.allowed = true;
        decision
            .into_scoped()
            .ok_or_else(|| CommandError::runtime("the policy engine allowed nothing to run"))
    }

    /// The database a command addresses: `explicit` (`--database`), else the profile's; recorded.
    pub fn database(&mut self, explicit: Option<&str>) -> CmdResult<String> {
        let database = explicit
            .map(str::to_string)
            .or_else(|| {
                self.profile
                    .cosmos
                    .as_ref()
                    .and_then(|c| c.database.clone())
            })
            .ok_or_else(|| {
                CommandError::usage("no database given").hint(
                    "pass --database NAME, or set database = \"…\" in the profile's [cosmos] table",
                )
            })?;
        self.record.database = Some(database.clone());
        Ok(database)
    }

    /// Decides `request` before the command learns anything about the resource it names (whether
    /// a container exists, its partition-key paths): a request no grant could allow is refused
    /// here. A grant that needs a touch passes; [`allow`](Self::allow) asks for it.
    pub async fn precheck(&mut self, request: &Request) -> CmdResult {
        let claims = self.claims().await?;
        let decision = policy::decide(self.policy()?, &claims, request);
        if decision.needs_step_up() {
            return Ok(());
        }
        self.refuse_unless_allowed(&decision, DENIED.0, DENIED.1)
    }

    /// Records the decision's reasons; a denial is exit 4 with every reason.
    fn refuse_unless_allowed(
        &mut self,
        decision: &Decision,
        denied: &str,
        hint: &str,
    ) -> CmdResult {
        self.record.reasons = decision
            .reasons()
            .iter()
            .map(|r| r.message.clone())
            .collect();
        if decision.allowed() {
            return Ok(());
        }
        let mut err = CommandError::new(Exit::Denied, denied);
        for r in decision.reasons() {
            err = err.cause(&r.message);
        }
        Err(err.hint(hint))
    }

    /// Finishes the record with the command's outcome and appends it (the module's one rule).
    fn close<T>(mut self, outcome: CmdResult<T>, started: Instant) -> CmdResult<T> {
        let record = &mut self.record;
        record.duration_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        record.decision = match &outcome {
            Ok(_) if self.allowed => "allowed",
            Ok(_) => "ok",
            // "denied" is a policy denial before anything ran; anything else is an error.
            Err(e) if e.exit == Exit::Denied && !self.allowed => "denied",
            Err(_) => "error",
        }
        .into();
        if let Err(e) = &outcome {
            record.cause = Some(e.summary());
        }
        settle(&self.audit, self.record, outcome)
    }
}

/// The check before a command acts: the audit log opens, or nothing runs. `login` makes it too.
pub fn audit_opens(audit: &Audit) -> CmdResult {
    audit.check_writable().map_err(|e| {
        CommandError::runtime("cannot write the audit log, so nothing runs")
            .source_chain(Unwritable(e))
            .hint(
                "free disk space or fix the permissions of $XDG_STATE_HOME/cosmoscope/audit.jsonl",
            )
    })
}

/// Appends a finished record: the one rule for an audit write that fails (see the module
/// documentation). A record the log cannot take is not lost: it is printed whole on stderr, and
/// the command fails with exit 1 although its work is done, so a script notices; an earlier error
/// stays the one reported. `login` settles its records here too.
pub fn settle<T>(audit: &Audit, mut record: Record, outcome: CmdResult<T>) -> CmdResult<T> {
    record.time = crate::clock::now_rfc3339_millis();
    let Err(e) = audit.append_or_show(record) else {
        return outcome;
    };
    outcome?;
    Err(
        CommandError::runtime("the command ran, but its audit record could not be written")
            .source_chain(Unwritable(e))
            .hint(format!(
                "free space for the audit log ({}); keep the record printed above",
                audit
                    .path()
                    .map_or_else(|| "no state directory".into(), |p| p.display().to_string())
            )),
    )
}

#[cfg(test)]
mod tests {
    //! Commands through the gate, on the in-memory keyring: each leaves exactly one record with
    //! the right decision, and a denial or a dead session releases nothing.

    use crate::session::SessionPaths;
    use crate::testing::Fixture;

    const T: u64 = 1_800_000_000;

    async fn run(f: &Fixture, args: &[&str]) -> crate::error::CmdResult {
        let (app, command) = f.app(args);
        crate::commands::run(&app, command).await
    }

    /// Runs `args`, which must fail with exit `code`.
    async fn fails(f: &Fixture, args: &[&str], code: u8) -> crate::error::CommandError {
        let err = run(f, args).await.expect_err("the command fails");
        assert_eq!(err.exit.code(), code, "{}", err.render());
        err
    }

    fn decisions(f: &Fixture) -> Vec<(String, String)> {
        f.audit()
            .iter()
            .map(|r| {
                (
                    r["action"].as_str().unwrap_or_default().to_string(),
                    r["decision"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn an_allowed_export_leaves_one_allowed_record() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, false);
        run(&f, &["token", "--resource", "idp", "--format", "json"])
            .await
            .expect("exported");
        assert_eq!(
            decisions(&f),
            [("export".to_string(), "allowed".to_string())]
        );
        let record = &f.audit()[0];
        assert_eq!(record["subject"], "alice");
        assert!(!record.to_string().contains(crate::testing::ACCESS));
    }

    #[tokio::test]
    async fn a_denied_export_leaves_one_denied_record_with_reasons() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["reader"], T + 3600, false);
        fails(&f, &["token", "--resource", "idp"], 4).await;
        assert_eq!(
            decisions(&f),
            [("export".to_string(), "denied".to_string())]
        );
        assert!(
            f.audit()[0]["reasons"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
        );
    }

    #[tokio::test]
    async fn a_dead_session_exports_nothing() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T - 60, false);
        fails(&f, &["token", "--resource", "idp"], 3).await;
        assert_eq!(decisions(&f), [("export".to_string(), "error".to_string())]);
    }

    #[tokio::test]
    async fn logout_is_one_record_and_empties_the_keyring() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, false);
        run(&f, &["logout"]).await.expect("logout");
        assert_eq!(decisions(&f), [("logout".to_string(), "ok".to_string())]);
        assert_eq!(f.audit()[0]["subject"], "alice");
        assert!(!f.has_access_token());
    }

    #[tokio::test]
    async fn a_format_the_command_cannot_give_is_refused_before_it_runs() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, false);
        fails(&f, &["logout", "-o", "json"], 2).await;
        fails(&f, &["status", "-o", "csv"], 2).await;
        assert!(f.audit().is_empty(), "nothing ran");
        let paths = SessionPaths::new(&f.state_dir(), &f.profile());
        assert!(
            paths.read_info().expect("read").is_some(),
            "still logged in"
        );
    }

    #[tokio::test]
    async fn a_denied_export_decides_before_fetching_a_longer_lived_token() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        // Alive for ten minutes and refreshable: --min-ttl 1h would need a refresh, at a
        // provider that is unreachable. Denied first, nothing is refreshed: exit 4, not a
        // network error.
        f.store_session(&["reader"], T + 600, true);
        fails(&f, &["token", "--resource", "idp", "--min-ttl", "1h"], 4).await;
        assert_eq!(
            decisions(&f),
            [("export".to_string(), "denied".to_string())]
        );
    }

    #[tokio::test]
    async fn without_a_policy_a_query_is_denied_before_cosmos_is_contacted() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, false);
        std::fs::remove_file(f.dir.path().join("config/cosmoscope/policy.toml")).expect("rm");
        let config = f.dir.path().join("config/cosmoscope/config.toml");
        let text = std::fs::read_to_string(&config).expect("config");
        std::fs::write(
            &config,
            text.replace("[profiles.dev.policy]\nfile = \"policy.toml\"\n", ""),
        )
        .expect("config");
        // The endpoint is unreachable: reaching it would be exit 1, not a denial.
        fails(&f, &["query", "-c", "orders", "SELECT * FROM c"], 4).await;
        assert_eq!(decisions(&f), [("query".to_string(), "denied".to_string())]);
    }

    #[tokio::test]
    async fn logout_runs_even_when_the_audit_log_cannot_be_opened() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, false);
        std::fs::create_dir_all(f.state_dir().join("audit.jsonl")).expect("a directory");
        fails(&f, &["logout"], 1).await;
        let paths = SessionPaths::new(&f.state_dir(), &f.profile());
        assert!(
            paths.read_info().expect("read").is_none(),
            "logged out anyway"
        );
        // Reading data is refused instead.
        f.store_session(&["admin"], T + 3600, false);
        let err = run(&f, &["token", "--resource", "idp"])
            .await
            .expect_err("refused");
        assert!(
            err.render().contains("so no credential was exported"),
            "{}",
            err.render()
        );
    }
}
