//! The session life cycle: establish from a token response, keep fresh (single-flight refresh),
//! end (revoke + delete). Every step that changes a session is audited.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::lock::{LockError, RefreshLock};
use super::{Keyring, SecretStore, Secrets, SessionInfo, SessionPaths, StoreError, TokenKind};
use crate::audit::{Audit, Record};
use crate::clock::now_unix;
use crate::fido2::{self, Fido2Context, Fido2Error, SealingKey};
use crate::identity::verify::{is_jwt, unverified_claims};
use crate::identity::{Claims, IdentityError, Provider, TokenSet, roles_from_claims};
use crate::settings::Profile;

/// How long a process waits for another one's refresh before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("not logged in (profile {0:?})")]
    NotLoggedIn(String),
    #[error("the session of profile {profile:?} expired at {at} and cannot be refreshed")]
    Expired { profile: String, at: String },
    #[error("the session's {0} token is missing from the keyring")]
    SecretMissing(&'static str),
    #[error(
        "the provider returned no ID token and no access token we can verify, so the identity is unknown"
    )]
    NoIdentity,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("cannot write the session file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the refresh token is sealed to a security key, and renewing it needs a touch")]
    TouchRequired,
    #[error("no refresh token sealed to a security key is stored for profile {0:?}")]
    NothingSealed(String),
    #[error(transparent)]
    Fido2(#[from] Fido2Error),
}

impl SessionError {
    /// The audit log's short cause.
    #[must_use]
    pub fn audit_cause(&self) -> String {
        match self {
            SessionError::Identity(IdentityError::Verify(v)) => {
                format!("token_rejected:{}: {v}", v.code())
            }
            SessionError::Identity(IdentityError::RefreshRejected(_)) => "refresh_rejected".into(),
            SessionError::Identity(IdentityError::AccessDenied) => "access_denied".into(),
            SessionError::Identity(IdentityError::ExpiredToken) => "expired_token".into(),
            SessionError::Identity(
                IdentityError::Unreachable { .. } | IdentityError::PollUnreachable(_),
            ) => "provider_unreachable".into(),
            SessionError::Identity(e) => format!("provider: {e}"),
            SessionError::Store(_) => "keyring".into(),
            SessionError::NotLoggedIn(_) => "not_logged_in".into(),
            SessionError::Expired { .. } => "session_expired".into(),
            other => other.to_string(),
        }
    }
}

pub struct Sessions<'a> {
    pub profile: &'a Profile,
    pub paths: SessionPaths,
    audit: &'a Audit,
    /// The profile's security keys, when FIDO2 is in use: refresh tokens are then sealed to them.
    fido2: Option<Fido2Context>,
    /// Whether a touch may be asked for (a person at a terminal).
    interactive: bool,
    keyring: Keyring,
}

/// What `logout` did.
pub struct LogoutOutcome {
    pub had_session: bool,
    /// `Some(true)` revoked, `Some(false)` the provider offers no revocation, `None` not attempted.
    pub revoked: Option<bool>,
    pub revoke_error: Option<String>,
    pub deleted_entries: usize,
}

impl<'a> Sessions<'a> {
    #[must_use]
    pub fn new(state_dir: &Path, profile: &'a Profile, audit: &'a Audit, keyring: Keyring) -> Self {
        Self {
            profile,
            paths: SessionPaths::new(state_dir, profile),
            audit,
            fido2: None,
            interactive: false,
            keyring,
        }
    }

    /// Uses the profile's FIDO2 keys: refresh tokens are sealed to them, and opening one takes a
    /// touch (asked for only when `interactive`).
    #[must_use]
    pub fn with_fido2(mut self, ctx: Fido2Context, interactive: bool) -> Self {
        self.fido2 = Some(ctx);
        self.interactive = interactive;
        self
    }

    /// A verified security-key touch for `require_fido2` grants: asks for it (when a person is
    /// there) and records when it happened in the session file.
    pub async fn step_up(&self) -> Result<u64, SessionError> {
        let ctx = match &self.fido2 {
            Some(ctx) if self.interactive => ctx,
            _ => return Err(SessionError::TouchRequired),
        };
        let touch = fido2::step_up(ctx).await?;
        if let Some(mut info) = self.current()? {
            info.fido2_at = Some(touch.at);
            self.paths.write_info(&info)?;
        }
        let _ = self.audit(
            Record::new(&self.profile.name, "step_up", "ok")
                .detail(format!("key {:?}", touch.label)),
        );
        Ok(touch.at)
    }

    /// When the profile has enrolled keys: one touch that can seal (and open) its secrets.
    pub async fn sealing_key(
        &self,
        sealed: Option<String>,
    ) -> Result<Option<SealingKey>, SessionError> {
        match &self.fido2 {
            Some(ctx) if fido2::has_keys(ctx) => Ok(Some(fido2::sealing_key(ctx, sealed).await?)),
            _ => Ok(None),
        }
    }

    fn record(&self, action: &str, decision: &str, info: Option<&SessionInfo>) -> Record {
        let r = Record::new(&self.profile.name, action, decision);
        match info {
            Some(i) => r.who(Some(&i.subject), &i.roles),
            None => r,
        }
    }

    /// The audit log this manager records refreshes and step-ups in.
    #[must_use]
    pub fn audit_log(&self) -> &Audit {
        self.audit
    }

    /// Appends a refresh or step-up record; one the log cannot take is printed on stderr (it
    /// does not undo the refresh: the command's own record reports the failure).
    pub fn audit(&self, record: Record) -> Result<(), std::io::Error> {
        self.audit.append_or_show(record)
    }

    /// The session of this profile, if one exists for its current issuer and client.
    pub fn current(&self) -> Result<Option<SessionInfo>, SessionError> {
        Ok(self
            .paths
            .read_info()?
            .filter(|i| i.belongs_to(self.profile)))
    }

    /// Verifies a token response and stores it as the session. `previous` carries the claims of
    /// the session being refreshed (a refresh response need not repeat the ID token).
    pub async fn establish(
        &self,
        provider: &Provider,
        store: &SecretStore,
        tokens: TokenSet,
        method: &str,
        previous: Option<&SessionInfo>,
        sealing: Option<&SealingKey>,
    ) -> Result<SessionInfo, SessionError> {
        let mut verifier = provider.verifier(Some(self.paths.jwks.clone()));
        let mut claims = Claims::new();
        let mut identified = previous.is_some();
        if let Some(id) = &tokens.id_token {
            claims = verifier
                .verify(id.expose_secret(), &self.profile.client_id, None)
                .await?;
            identified = true;
        } else if let Some(prev) = previous {
            claims.clone_from(&prev.claims);
        }
        let access = tokens.access_token.expose_secret();
        let mut access_exp = None;
        if is_jwt(access) {
            // An access token for our audience is ours to verify; one for another resource (Graph,
            // Cosmos) is not, and its claims are not trusted for anything.
            let audience = self
                .profile
                .audience
                .as_deref()
                .or(if tokens.id_token.is_none() {
                    Some(self.profile.client_id.as_str())
                } else {
                    None
                });
            if let Some(aud) = audience {
                let at = verifier.verify(access, aud, None).await?;
                access_exp = at.get("exp").and_then(Value::as_u64);
                for (k, v) in at {
                    claims.entry(k).or_insert(v);
                }
                identified = true;
            } else {
                access_exp =
                    unverified_claims(access).and_then(|c| c.get("exp").and_then(Value::as_u64));
            }
        }
        if !identified {
            return Err(SessionError::NoIdentity);
        }
        let now = now_unix();
        let expires_at = access_exp
            .map(|e| e.min(crate::clock::MAX_UNIX))
            .or_else(|| tokens.expires_in.map(|s| crate::clock::after(now, s)))
            .unwrap_or(now + 3600);
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let roles = roles_from_claims(&claims, self.profile.roles_claim.as_deref());
        // With a security key enrolled, the refresh token is stored sealed: the keyring entry
        // alone is useless without the key.
        let sealed = sealing.is_some() && tokens.refresh_token.is_some();
        let refresh = match (tokens.refresh_token, sealing) {
            (Some(r), Some(key)) => Some(SecretString::from(key.seal(&r))),
            (r, _) => r,
        };
        let secrets = Secrets {
            access: tokens.access_token,
            refresh,
            id: tokens.id_token,
        };
        // Secrets first, then the file that points at them: a crash in between leaves an old file
        // describing new tokens, never a file promising tokens that are not there.
        secrets.save(store, &self.paths)?;
        let info = SessionInfo {
            profile: self.profile.name.clone(),
            issuer: self.profile.issuer.clone(),
            client_id: self.profile.client_id.clone(),
            subject,
            roles,
            claims,
            expires_at,
            refreshable: secrets.refresh.is_some(),
            store: store.kind(),
            logged_in_at: previous.map_or(now, |p| p.logged_in_at),
            refreshed_at: previous.map(|_| now),
            refresh_seq: previous.map_or(0, |p| p.refresh_seq + 1),
            method: previous.map_or_else(|| method.to_string(), |p| p.method.clone()),
            sealed,
            fido2_at: sealing
                .map(|k| k.step_up.at)
                .or_else(|| previous.and_then(|p| p.fido2_at)),
        };
        self.paths.write_info(&info)?;
        Ok(info)
    }

    /// A session whose access token lives at least `min_ttl` more seconds, refreshing when needed
    /// (or always, with `force`). Only one process refreshes at a time; the others wait and then use
    /// its result.
    pub async fn fresh(
        &self,
        min_ttl: u64,
        force: bool,
    ) -> Result<(SessionInfo, SecretString), SessionError> {
        let info = self
            .current()?
            .ok_or_else(|| SessionError::NotLoggedIn(self.profile.name.clone()))?;
        let now = now_unix();
        if !force && info.is_fresh(now, min_ttl) {
            let store = self.keyring.open(info.store)?;
            let access = store
                .get(&self.paths.entry(TokenKind::Access))?
                .ok_or(SessionError::SecretMissing("access"))?;
            return Ok((info, access));
        }
        if !info.refreshable {
            return Err(SessionError::Expired {
                profile: self.profile.name.clone(),
                at: crate::clock::rfc3339(info.expires_at),
            });
        }
        let _lock = RefreshLock::acquire(&self.paths.lock, LOCK_TIMEOUT).await?;
        // Someone may have refreshed while we waited: use theirs. Even a forced refresh is satisfied
        // by one that happened while it waited, so N processes forcing at once refresh once.
        let latest = self
            .current()?
            .ok_or_else(|| SessionError::NotLoggedIn(self.profile.name.clone()))?;
        let store = self.keyring.open(latest.store)?;
        let refreshed_since_we_began = latest.refresh_seq != info.refresh_seq;
        if (refreshed_since_we_began || !force) && latest.is_fresh(now_unix(), min_ttl) {
            let access = store
                .get(&self.paths.entry(TokenKind::Access))?
                .ok_or(SessionError::SecretMissing("access"))?;
            return Ok((latest, access));
        }
        let stored = store
            .get(&self.paths.entry(TokenKind::Refresh))?
            .ok_or(SessionError::SecretMissing("refresh"))?;
        let result = async {
            // A sealed refresh token opens with one touch, which also seals its successor.
            let (refresh, sealing) = if fido2::seal::is_sealed(stored.expose_secret()) {
                if !self.interactive && !force {
                    return Err(SessionError::TouchRequired);
                }
                let key = self
                    .sealing_key(Some(stored.expose_secret().to_string()))
                    .await?
                    .ok_or(SessionError::TouchRequired)?;
                (key.unseal(stored.expose_secret())?, Some(key))
            } else {
                (stored, None)
            };
            let provider =
                Provider::discover(&self.profile.issuer, &self.profile.client_id).await?;
            let tokens = provider.refresh(&refresh, &self.profile.scopes).await?;
            self.establish(
                &provider,
                &store,
                tokens,
                "refresh",
                Some(&latest),
                sealing.as_ref(),
            )
            .await
        }
        .await;
        match result {
            Ok(new_info) => {
                let _ = self.audit(self.record("refresh", "ok", Some(&new_info)));
                let access = store
                    .get(&self.paths.entry(TokenKind::Access))?
                    .ok_or(SessionError::SecretMissing("access"))?;
                Ok((new_info, access))
            }
            Err(e) => {
                let _ = self.audit(
                    self.record("refresh", "error", Some(&latest))
                        .cause(e.audit_cause()),
                );
                if matches!(e, SessionError::Identity(IdentityError::RefreshRejected(_))) {
                    // The refresh token is dead (revoked, expired, or spent twice): keep the
                    // session file truthful.
                    let mut dead = latest.clone();
                    dead.refreshable = false;
                    let _ = store.delete(&self.paths.entry(TokenKind::Refresh));
                    let _ = self.paths.write_info(&dead);
                }
                Err(e)
            }
        }
    }

    /// Revokes the refresh token (where the provider advertises RFC 7009) and deletes the session.
    pub async fn logout(&self, state_dir: &Path) -> Result<LogoutOutcome, SessionError> {
        let Some(info) = self.paths.read_info()? else {
            return Ok(LogoutOutcome {
                had_session: false,
                revoked: None,
                revoke_error: None,
                deleted_entries: 0,
            });
        };
        // The entries belong to the identity the session was made for, even if the profile changed.
        let paths =
            SessionPaths::for_identity(state_dir, &info.profile, &info.issuer, &info.client_id);
        let store = self.keyring.open(info.store)?;
        let mut revoked = None;
        let mut revoke_error = None;
        if let Some(refresh) = store.get(&paths.entry(TokenKind::Refresh))? {
            match Provider::discover(&info.issuer, &info.client_id).await {
                Ok(provider) => match provider.revoke(&refresh).await {
                    Ok(r) => revoked = Some(r),
                    Err(e) => revoke_error = Some(e.to_string()),
                },
                Err(e) => revoke_error = Some(e.to_string()),
            }
        }
        let deleted_entries = Secrets::delete(&store, &paths)?;
        paths.remove_info()?;
        Ok(LogoutOutcome {
            had_session: true,
            revoked,
            revoke_error,
            deleted_entries,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The session manager on the in-memory keyring and a frozen clock. The profile's provider is
    //! unreachable: whatever these paths do, they must do without the network.

    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::settings::StoreKind;
    use crate::testing::{ACCESS, Fixture};

    const T: u64 = 1_800_000_000;

    fn sessions<'a>(f: &Fixture, profile: &'a Profile, audit: &'a Audit) -> Sessions<'a> {
        Sessions::new(&f.state_dir(), profile, audit, f.keyring.clone())
    }

    #[tokio::test]
    async fn a_fresh_session_gives_its_token_from_the_keyring_without_the_network() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, true);
        let profile = f.profile();
        let audit = Audit::new(None, false);
        let (info, token) = sessions(&f, &profile, &audit)
            .fresh(0, false)
            .await
            .expect("fresh");
        assert_eq!(
            (info.subject.as_str(), token.expose_secret()),
            ("alice", ACCESS)
        );
    }

    #[tokio::test]
    async fn an_expired_session_that_cannot_refresh_needs_a_login() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T - 10, false);
        let profile = f.profile();
        let audit = Audit::new(None, false);
        let err = sessions(&f, &profile, &audit).fresh(0, false).await;
        assert!(matches!(err, Err(SessionError::Expired { .. })), "{err:?}");
        // Alive, but shorter than asked for, and not refreshable: the same answer.
        f.store_session(&["admin"], T + 60, false);
        let err = sessions(&f, &profile, &audit).fresh(3600, false).await;
        assert!(matches!(err, Err(SessionError::Expired { .. })), "{err:?}");
    }

    #[tokio::test]
    async fn a_session_whose_token_left_the_keyring_is_incomplete() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, true);
        let profile = f.profile();
        let paths = SessionPaths::new(&f.state_dir(), &profile);
        let store = f.keyring.open(StoreKind::Keyutils).expect("store");
        assert!(
            store
                .delete(&paths.entry(TokenKind::Access))
                .expect("delete")
        );
        let audit = Audit::new(None, false);
        let err = sessions(&f, &profile, &audit).fresh(0, false).await;
        assert!(
            matches!(err, Err(SessionError::SecretMissing("access"))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn no_session_file_is_not_logged_in() {
        let f = Fixture::new();
        let profile = f.profile();
        let audit = Audit::new(None, false);
        let err = sessions(&f, &profile, &audit).fresh(0, false).await;
        assert!(matches!(err, Err(SessionError::NotLoggedIn(_))), "{err:?}");
    }

    #[tokio::test]
    async fn logout_without_a_refresh_token_deletes_everything_locally() {
        let _clock = crate::clock::freeze(T);
        let f = Fixture::new();
        f.store_session(&["admin"], T + 3600, false);
        let profile = f.profile();
        let audit = Audit::new(None, false);
        let outcome = sessions(&f, &profile, &audit)
            .logout(&f.state_dir())
            .await
            .expect("logout");
        assert!(outcome.had_session);
        assert_eq!((outcome.revoked, outcome.deleted_entries), (None, 1));
        let paths = SessionPaths::new(&f.state_dir(), &profile);
        assert!(paths.read_info().expect("read").is_none());
        assert!(!f.has_access_token());
    }
}
