//! The session life cycle: establish from a token response, keep fresh (single-flight refresh),
//! end (revoke + delete). Every step that changes a session is audited.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::lock::{LockError, RefreshLock};
use super::{Keyring, SecretStore, Secrets, SessionInfo, SessionPaths, StoreError, TokenKind};
use crate::audit::{Audit, Record};
use crate::clock::now_unix;
use crate::fido2::{self, Fido2Context, Fido2Error, SealingKey};
use crate::identity::verify::{Verifier, VerifyError, is_jwt, unverified_claims};
use crate::identity::{Claims, IdentityError, Issuer, Provider, TokenSet, roles_from_claims};
use crate::settings::{Profile, StoreKind};

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
    #[error("the stored session failed verification: {0}")]
    Unverified(VerifyError),
    #[error("the provider renewed the session for {now:?}, but it belongs to {was:?}")]
    SubjectChanged { was: String, now: String },
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
            SessionError::Identity(IdentityError::AccessDenied(_)) => "access_denied".into(),
            SessionError::Identity(IdentityError::ExpiredToken) => "expired_token".into(),
            SessionError::Identity(
                IdentityError::Unreachable { .. } | IdentityError::PollUnreachable(_),
            ) => "provider_unreachable".into(),
            SessionError::Identity(e) => format!("provider: {e}"),
            SessionError::Store(_) => "keyring".into(),
            SessionError::NotLoggedIn(_) => "not_logged_in".into(),
            SessionError::Expired { .. } => "session_expired".into(),
            SessionError::Unverified(v) => format!("session_unverified:{}", v.code()),
            SessionError::SubjectChanged { .. } => "subject_changed".into(),
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

    /// Touches may be asked for without a terminal (the `mcp` server's step-up: the notice goes
    /// to stderr, the touch itself is the person in the loop).
    #[must_use]
    pub fn touch_without_terminal(mut self) -> Self {
        self.interactive = self.fido2.is_some();
        self
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
        // The touch time goes with the tokens into the keyring, never into a plain file.
        if let Some(info) = self.current()? {
            let store = self.keyring.open(info.store)?;
            if let Some(mut secrets) = Secrets::load(&store, &self.paths)? {
                secrets.fido2_at = Some(touch.at);
                secrets.save(&store, &self.paths)?;
            }
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

    /// Verifies a token response and stores it as the session. `previous` is the session being
    /// refreshed, with its secrets: a refresh response need not repeat the ID token (the stored
    /// one is kept and must still verify), and it must be for the same subject.
    pub async fn establish(
        &self,
        provider: &Provider,
        store: &SecretStore,
        tokens: TokenSet,
        method: &str,
        previous: Option<(&SessionInfo, &Secrets)>,
        sealing: Option<&SealingKey>,
    ) -> Result<(SessionInfo, SecretString), SessionError> {
        let mut keys = provider.verifier(Some(self.paths.jwks.clone()));
        let kept_id = tokens.id_token.is_none();
        let id_token = tokens
            .id_token
            .or_else(|| previous.and_then(|(_, s)| s.id.clone()));
        let verified = match verify_tokens(
            self.profile,
            &mut keys,
            tokens.access_token.expose_secret(),
            id_token.as_ref().map(ExposeSecret::expose_secret),
        )
        .await
        {
            // No new ID token, and the stored one is past its lifetime: who this is can no
            // longer be shown.
            Err(SessionError::Identity(IdentityError::Verify(VerifyError::Expired))) if kept_id => {
                return Err(SessionError::Expired {
                    profile: self.profile.name.clone(),
                    at: crate::clock::rfc3339(now_unix()),
                });
            }
            other => other?,
        };
        // OIDC Core §12.2: a refresh answers for the same person, or not at all.
        if let Some((prev, prev_secrets)) = previous {
            let was = prev_secrets
                .id
                .as_ref()
                .and_then(|t| unverified_claims(t.expose_secret()))
                .and_then(|c| c.get("sub").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| prev.subject.clone());
            if !was.is_empty() && was != verified.subject() {
                return Err(SessionError::SubjectChanged {
                    was,
                    now: verified.subject().to_string(),
                });
            }
        }
        let now = now_unix();
        let expires_at = verified
            .expires_at
            .or_else(|| tokens.expires_in.map(|s| crate::clock::after(now, s)))
            .unwrap_or(now + 3600);
        // With a security key enrolled, the refresh token is stored sealed: the keyring entry
        // alone is useless without the key.
        let (refresh, sealed) = match (tokens.refresh_token, sealing) {
            (Some(r), Some(key)) => (
                Some(SecretString::from(key.seal(fido2::seal::Slot::Refresh, &r))),
                true,
            ),
            (Some(r), None) => (Some(r), false),
            // RFC 6749 §6: a refresh answer may leave the refresh token out, and the one sent
            // stays valid (Auth0 without rotation, Google, Cognito): keep it as stored.
            (None, _) => previous.map_or((None, false), |(p, s)| (s.refresh.clone(), p.sealed)),
        };
        let access = tokens.access_token.clone();
        let secrets = Secrets {
            access: tokens.access_token,
            refresh,
            id: id_token,
            fido2_at: sealing
                .map(|k| k.step_up.at)
                .or_else(|| previous.and_then(|(_, s)| s.fido2_at)),
        };
        // Secrets first, then the file that points at them: a crash in between leaves an old file
        // describing new tokens, never a file promising tokens that are not there.
        secrets.save(store, &self.paths)?;
        let mut info = SessionInfo {
            profile: self.profile.name.clone(),
            issuer: self.profile.issuer.clone(),
            client_id: self.profile.client_id.clone(),
            subject: String::new(),
            roles: Vec::new(),
            label: None,
            claims: Claims::new(),
            expires_at,
            refreshable: secrets.refresh.is_some(),
            store: store.kind(),
            logged_in_at: previous.map_or(now, |(p, _)| p.logged_in_at),
            refreshed_at: previous.map(|_| now),
            refresh_seq: previous.map_or(0, |(p, _)| p.refresh_seq + 1),
            method: previous.map_or_else(|| method.to_string(), |(p, _)| p.method.clone()),
            sealed,
            fido2_at: None,
        };
        verified.apply(&mut info, self.profile, &secrets);
        self.paths.write_info(&info)?;
        Ok((info, access))
    }

    /// `info` with what the stored tokens say, verified again with the provider's keys (the
    /// cached JWKS; the network only when it is missing, stale or lacks the signing key). The
    /// session file is never trusted for a decision.
    async fn verified(
        &self,
        mut info: SessionInfo,
        secrets: &Secrets,
    ) -> Result<SessionInfo, SessionError> {
        let mut keys = Verifier::offline(&Issuer::of(self.profile), Some(self.paths.jwks.clone()));
        let verified = verify_tokens(
            self.profile,
            &mut keys,
            secrets.access.expose_secret(),
            secrets.id.as_ref().map(ExposeSecret::expose_secret),
        )
        .await
        .map_err(|e| match e {
            SessionError::Identity(IdentityError::Verify(v)) if v != VerifyError::Expired => {
                SessionError::Unverified(v)
            }
            other => other,
        })?;
        verified.apply(&mut info, self.profile, secrets);
        Ok(info)
    }

    /// A session whose access token lives at least `min_ttl` more seconds, refreshing when needed
    /// (or always, with `force`), its claims verified again with the provider's keys. Only one
    /// process refreshes at a time; the others wait and then use its result.
    pub async fn fresh(
        &self,
        min_ttl: u64,
        force: bool,
    ) -> Result<(SessionInfo, SecretString), SessionError> {
        let info = self
            .current()?
            .ok_or_else(|| SessionError::NotLoggedIn(self.profile.name.clone()))?;
        let expired = |at: u64| SessionError::Expired {
            profile: self.profile.name.clone(),
            at: crate::clock::rfc3339(at),
        };
        if !force && info.is_fresh(now_unix(), min_ttl) {
            // A store that is slow to open (the Secret Service) is skipped while the kernel
            // keyring holds a copy of the short-lived tokens (session::cache); what is read is
            // verified below all the same.
            let cacheable = self.keyring.is_os() && info.store != StoreKind::Keyutils;
            let load = || async {
                let store = self.keyring.open(info.store)?;
                Secrets::load(&store, &self.paths)?.ok_or(SessionError::SecretMissing("session"))
            };
            let cached = cacheable
                .then(|| super::cache::get(&self.paths, &info))
                .flatten();
            let mut from_store = cached.is_none();
            let mut secrets = match cached {
                Some(copy) => copy,
                None => load().await?,
            };
            let mut outcome = self.verified(info.clone(), &secrets).await;
            if !from_store
                && !matches!(&outcome, Ok(v) if v.is_fresh(now_unix(), min_ttl) && v.subject == info.subject)
            {
                // A copy that does not verify (or ends too soon) is dropped: the store decides.
                super::cache::forget(&self.paths);
                secrets = load().await?;
                from_store = true;
                outcome = self.verified(info.clone(), &secrets).await;
            }
            match outcome {
                Ok(v) if v.is_fresh(now_unix(), min_ttl) => {
                    // Kept until the verified tokens end, whatever the session file says.
                    if cacheable && from_store {
                        super::cache::put(&self.paths, &info, &secrets, v.expires_at);
                    }
                    return Ok((v, secrets.access));
                }
                // The tokens say they end sooner than the file did: renew, if the session can.
                Ok(_)
                | Err(SessionError::Identity(IdentityError::Verify(VerifyError::Expired)))
                    if info.refreshable => {}
                // When the tokens say, not when the (editable) session file says.
                Ok(v) => return Err(expired(v.expires_at)),
                Err(SessionError::Identity(IdentityError::Verify(VerifyError::Expired))) => {
                    return Err(expired(now_unix().min(info.expires_at)));
                }
                Err(e) => return Err(e),
            }
        }
        if !info.refreshable {
            return Err(expired(info.expires_at));
        }
        let _lock = RefreshLock::acquire(&self.paths.lock, LOCK_TIMEOUT).await?;
        // Someone may have refreshed while we waited: use theirs. Even a forced refresh is satisfied
        // by one that happened while it waited, so N processes forcing at once refresh once.
        let latest = self
            .current()?
            .ok_or_else(|| SessionError::NotLoggedIn(self.profile.name.clone()))?;
        let store = self.keyring.open(latest.store)?;
        let secrets =
            Secrets::load(&store, &self.paths)?.ok_or(SessionError::SecretMissing("session"))?;
        let refreshed_since_we_began = latest.refresh_seq != info.refresh_seq;
        if (refreshed_since_we_began || !force)
            && latest.is_fresh(now_unix(), min_ttl)
            && let Ok(v) = self.verified(latest.clone(), &secrets).await
            && v.is_fresh(now_unix(), min_ttl)
        {
            return Ok((v, secrets.access));
        }
        let stored = secrets
            .refresh
            .clone()
            .ok_or(SessionError::SecretMissing("refresh"))?;
        let result = async {
            // A sealed refresh token opens with one touch, which also seals its successor.
            // A session sealed to a security key whose refresh token is now plain text was
            // tampered with (a downgrade): refused.
            if latest.sealed && !fido2::seal::is_sealed(stored.expose_secret()) {
                return Err(SessionError::Unverified(VerifyError::Malformed(
                    "the session is sealed to a security key, but its refresh token is not".into(),
                )));
            }
            let (refresh, sealing) = if fido2::seal::is_sealed(stored.expose_secret()) {
                if !self.interactive && !force {
                    return Err(SessionError::TouchRequired);
                }
                let key = self
                    .sealing_key(Some(stored.expose_secret().to_string()))
                    .await?
                    .ok_or(SessionError::TouchRequired)?;
                (
                    key.unseal(fido2::seal::Slot::Refresh, stored.expose_secret())?,
                    Some(key),
                )
            } else {
                (stored, None)
            };
            let provider = Provider::for_profile(self.profile).await?;
            let tokens = provider.refresh(&refresh, &self.profile.scopes).await?;
            self.establish(
                &provider,
                &store,
                tokens,
                "refresh",
                Some((&latest, &secrets)),
                sealing.as_ref(),
            )
            .await
        }
        .await;
        match result {
            Ok((new_info, access)) => {
                let _ = self.audit(self.record("refresh", "ok", Some(&new_info)));
                Ok((new_info, access))
            }
            Err(e) => {
                let _ = self.audit(
                    self.record("refresh", "error", Some(&latest))
                        .cause(e.audit_cause()),
                );
                if matches!(e, SessionError::Identity(IdentityError::RefreshRejected(_))) {
                    // The refresh token is dead (revoked, expired, or spent twice): keep the
                    // session truthful.
                    let mut dead = latest.clone();
                    dead.refreshable = false;
                    let kept = Secrets {
                        refresh: None,
                        ..secrets
                    };
                    let _ = kept.save(&store, &self.paths);
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
        let refresh = match Secrets::load(&store, &paths)? {
            Some(s) => s.refresh,
            None => store.get(&paths.entry(TokenKind::Refresh))?,
        }
        // A sealed refresh token is ciphertext: it is never sent to the provider.
        .filter(|r| !fido2::seal::is_sealed(r.expose_secret()));
        if let Some(refresh) = refresh {
            let issuer = Issuer {
                url: info.issuer.clone(),
                tenants: self.profile.allowed_tenants.clone(),
            };
            match Provider::discover(&issuer, &info.client_id).await {
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

/// What a session's tokens say, verified.
struct Verified {
    claims: Claims,
    /// The earliest `exp` of the tokens (the access token's own, even when it is not ours to
    /// verify: it only decides when to renew).
    expires_at: Option<u64>,
}

impl Verified {
    fn subject(&self) -> &str {
        self.claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Puts the verified identity into `info`: subject, roles, claims, a display label, the
    /// expiry (never later than what the tokens say), and the step-up time from the keyring.
    fn apply(self, info: &mut SessionInfo, profile: &Profile, secrets: &Secrets) {
        info.subject = self.subject().to_string();
        info.roles = roles_from_claims(&self.claims, profile.roles_claim.as_deref());
        info.label = ["email", "preferred_username", "name"]
            .iter()
            .find_map(|k| self.claims.get(*k).and_then(Value::as_str))
            .map(str::to_string);
        if let Some(e) = self.expires_at {
            info.expires_at = info.expires_at.min(e);
        }
        // A touch "in the future" is not a touch.
        info.fido2_at = secrets
            .fido2_at
            .filter(|t| *t <= now_unix() + crate::identity::verify::LEEWAY_SECS);
        info.claims = self.claims;
    }
}

/// Verifies a session's tokens: the ID token for our client, and the access token when it is ours
/// to verify (for our `audience`, for our client when there is no ID token, or issued to our
/// client by our issuer — `azp` — as Keycloak's are). The ID token's claims come first; a verified
/// access token's claims fill gaps. An access token for another resource (Graph, Cosmos DB) is
/// opaque to us: its claims are never used.
async fn verify_tokens(
    profile: &Profile,
    verifier: &mut Verifier,
    access: &str,
    id: Option<&str>,
) -> Result<Verified, SessionError> {
    let mut claims = Claims::new();
    let mut exps = Vec::new();
    let mut identified = false;
    if let Some(id) = id {
        claims = verifier.verify(id, &profile.client_id, None).await?;
        // OIDC Core §2: an `azp`, when there, is the client the token was issued to — ours.
        if claims
            .get("azp")
            .and_then(Value::as_str)
            .is_some_and(|azp| azp != profile.client_id)
        {
            return Err(IdentityError::Verify(VerifyError::Audience {
                expected: format!("azp {}", profile.client_id),
            })
            .into());
        }
        exps.extend(claims.get("exp").and_then(Value::as_u64));
        identified = true;
    }
    if is_jwt(access) {
        let audience = profile.audience.as_deref().or(if id.is_none() {
            Some(profile.client_id.as_str())
        } else {
            None
        });
        if let Some(aud) = audience {
            let at = verifier.verify(access, aud, None).await?;
            exps.extend(at.get("exp").and_then(Value::as_u64));
            for (k, v) in at {
                claims.entry(k).or_insert(v);
            }
            identified = true;
        } else {
            let seen = unverified_claims(access);
            let field = |k: &str| seen.as_ref().and_then(|c| c.get(k)).and_then(Value::as_str);
            if seen
                .as_ref()
                .is_some_and(|c| Issuer::of(profile).check(c).is_ok())
                && field("azp") == Some(profile.client_id.as_str())
            {
                // Issued to us by our provider for another audience (Keycloak: `aud: account`,
                // realm roles only in here): verified like ours, and its claims fill gaps.
                let at = verifier.verify_azp(access, &profile.client_id).await?;
                exps.extend(at.get("exp").and_then(Value::as_u64));
                for (k, v) in at {
                    claims.entry(k).or_insert(v);
                }
            } else {
                exps.extend(seen.and_then(|c| c.get("exp").and_then(Value::as_u64)));
            }
        }
    } else if profile.audience.is_some() {
        // The profile says its access tokens are JWTs for our audience: one that is not cannot
        // be the one the provider issued.
        return Err(IdentityError::Verify(VerifyError::Malformed(
            "the access token is not a JWT, but the profile names an audience".into(),
        ))
        .into());
    }
    if !identified {
        return Err(SessionError::NoIdentity);
    }
    Ok(Verified {
        claims,
        expires_at: exps
            .into_iter()
            .min()
            .map(|e| e.min(crate::clock::MAX_UNIX)),
    })
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
        assert!(store.delete(&paths.session_entry()).expect("delete"));
        let audit = Audit::new(None, false);
        let err = sessions(&f, &profile, &audit).fresh(0, false).await;
        assert!(
            matches!(err, Err(SessionError::SecretMissing("session"))),
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
