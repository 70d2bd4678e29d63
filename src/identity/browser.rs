//! Browser sign-in: the authorization-code grant with PKCE (RFC 7636, `S256`) and a loopback
//! redirect (RFC 8252 §7.3), with `state`, `nonce` and (RFC 9207) `iss` checked.
//!
//! The redirect URI is `http://localhost:<port>`: Entra ID accepts it on any port for public
//! clients, oidc-provider and Keycloak match loopback URIs without the port, and providers that
//! register one exact URI get a fixed port (`redirect_port`). The listener takes 127.0.0.1 and,
//! when free, [::1] on the same port, so the browser reaches it whichever `localhost` resolves to.
//!
//! Every connection is read by its own task with a deadline (browsers open speculative connections
//! that never send a request); a callback with the wrong `state` is answered and ignored — a stray
//! or forged request neither ends nor completes the login.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::{IdentityError, Issuer, Provider, TokenSet, parse_token_set};

/// The most a browser's request head may be.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one connection may take to send its request.
const READ_DEADLINE: Duration = Duration::from_secs(10);
/// How many connections are read at once.
const MAX_CONNECTIONS: usize = 16;

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// One browser sign-in: the URL to open and what its answer must match.
pub struct Authorization {
    pub url: String,
    pub redirect_uri: String,
    /// The browser is started on `<redirect_uri><start>`, which redirects once to `url`: the
    /// browser's command line (readable by other users in /proc) then shows neither `state` nor
    /// the PKCE challenge, and the start page answers only the first visit.
    start: String,
    state: String,
    nonce: String,
    verifier: SecretString,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl Authorization {
    /// What to give the browser: a one-time loopback URL that redirects to the provider.
    #[must_use]
    pub fn start_url(&self) -> String {
        format!("{}{}", self.redirect_uri, self.start)
    }

    /// The nonce the ID token must carry.
    #[must_use]
    pub fn nonce(&self) -> &str {
        &self.nonce
    }
}

impl Provider {
    /// Builds the authorization request (OIDC Core §3.1.2.1) with a fresh PKCE verifier, `state`
    /// and `nonce`; `audience` is sent for providers that want it (Auth0).
    pub fn authorization(
        &self,
        redirect_uri: &str,
        scopes: &[String],
        audience: Option<&str>,
    ) -> Result<Authorization, IdentityError> {
        let endpoint = self
            .metadata
            .authorization_endpoint
            .as_deref()
            .ok_or(IdentityError::NoAuthorizationEndpoint)?;
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let state = random_b64(24);
        let nonce = random_b64(24);
        let mut url = url::Url::parse(endpoint).map_err(|e| IdentityError::BadResponse {
            what: "the discovery document",
            url: endpoint.to_string(),
            detail: format!("authorization_endpoint: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &scopes.join(" "))
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(aud) = audience {
                q.append_pair("audience", aud);
            }
        }
        Ok(Authorization {
            url: url.into(),
            redirect_uri: redirect_uri.to_string(),
            start: format!("/start/{}", random_b64(16)),
            state,
            nonce,
            verifier: SecretString::from(verifier),
        })
    }

    /// Exchanges the code for tokens (RFC 6749 §4.1.3 with the PKCE verifier). The ID token must
    /// be there and carry this sign-in's nonce; its signature, issuer and audience are verified
    /// when the session is established, from the same bytes.
    pub async fn exchange_code(
        &self,
        auth: &Authorization,
        code: &SecretString,
    ) -> Result<TokenSet, IdentityError> {
        let url = &self.metadata.token_endpoint;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose_secret()),
            ("redirect_uri", auth.redirect_uri.as_str()),
            ("code_verifier", auth.verifier.expose_secret()),
        ];
        self.client_form(&mut form);
        let v = self.http.post_form(url, &form, None).await?.into_result()?;
        let tokens = parse_token_set(&v, url)?;
        let id = tokens
            .id_token
            .as_ref()
            .ok_or_else(|| IdentityError::BadResponse {
                what: "the token endpoint",
                url: url.clone(),
                detail: "no id_token in the answer to an OpenID sign-in".into(),
            })?;
        let said = super::verify::unverified_claims(id.expose_secret())
            .and_then(|c| c.get("nonce").and_then(|n| n.as_str().map(str::to_string)));
        if said.as_deref() != Some(auth.nonce()) {
            return Err(super::VerifyError::Nonce.into());
        }
        Ok(tokens)
    }
}

/// The loopback listener the browser is sent back to.
pub struct Loopback {
    listeners: Vec<TcpListener>,
    pub redirect_uri: String,
}

/// The browser's answer: the code, and the connection to tell the person how it ended.
pub struct Callback {
    pub code: SecretString,
    stream: TcpStream,
}

impl Callback {
    /// Answers the browser with a short page saying how the sign-in ended.
    pub async fn finish(mut self, ok: bool, message: &str) {
        respond(&mut self.stream, if ok { 200 } else { 400 }, ok, message).await;
    }
}

impl Loopback {
    /// Listens on 127.0.0.1 and [::1] at `port` (any free port for 0). Both or neither: a browser
    /// may try [::1] first for `localhost`, so a port whose [::1] side someone else holds would
    /// hand them the answer — a fixed port then fails, a free port is chosen again. Only a machine
    /// without IPv6 loopback listens on 127.0.0.1 alone.
    pub async fn bind(port: u16) -> Result<Self, IdentityError> {
        let failed = |detail: String| IdentityError::Loopback { port, detail };
        for _ in 0..16 {
            let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
                .await
                .map_err(|e| failed(e.to_string()))?;
            let bound = v4.local_addr().map_or(port, |a| a.port());
            let mut listeners = vec![v4];
            match TcpListener::bind((Ipv6Addr::LOCALHOST, bound)).await {
                Ok(v6) => listeners.push(v6),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                    if port != 0 {
                        return Err(failed(
                            "another program listens on [::1] at this port".into(),
                        ));
                    }
                    continue;
                }
                Err(_) => {} // no IPv6 loopback here: `localhost` is 127.0.0.1 only
            }
            return Ok(Self {
                listeners,
                redirect_uri: format!("http://localhost:{bound}"),
            });
        }
        Err(failed(
            "no port was free on both 127.0.0.1 and [::1]".into(),
        ))
    }

    /// Waits for the browser's answer to `auth`. `issuer` is what an RFC 9207 `iss` must say;
    /// `iss_required` when the provider promised to send it.
    pub async fn receive(
        &self,
        auth: &Authorization,
        issuer: &Issuer,
        discovered: &str,
        iss_required: bool,
    ) -> Result<Callback, IdentityError> {
        let (tx, mut rx) = mpsc::channel::<(String, TcpStream)>(8);
        // At most this many connections are read at once; more wait to be accepted (a flood of
        // idle connections must not use up the process's file descriptors).
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let mut started = false;
        loop {
            let next = async {
                match self.listeners.as_slice() {
                    [a, b] => tokio::select! { r = a.accept() => r, r = b.accept() => r },
                    [a, ..] => a.accept().await,
                    [] => std::future::pending().await,
                }
            };
            let slot = slots.clone().acquire_owned();
            tokio::select! {
                (accepted, slot) = async { let slot = slot.await; (next.await, slot) } => {
                    match accepted {
                        Ok((stream, _)) => {
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                let _slot = slot;
                                if let Some(read) = read_request(stream).await {
                                    let _ = tx.send(read).await;
                                }
                            });
                        }
                        // Out of file descriptors, or a connection gone before it was taken:
                        // wait a moment instead of spinning.
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                Some((target, mut stream)) = rx.recv() => {
                    if target == auth.start {
                        if started {
                            respond(&mut stream, 404, false, "This sign-in link was already used.").await;
                        } else {
                            started = true;
                            redirect(&mut stream, &auth.url).await;
                        }
                        continue;
                    }
                    match judge(&target, auth, issuer, discovered, iss_required) {
                        Verdict::Ignore(status, message) => {
                            respond(&mut stream, status, false, message).await;
                        }
                        Verdict::Fail(e) => {
                            respond(&mut stream, 400, false, &e.to_string()).await;
                            return Err(e);
                        }
                        Verdict::Code(code) => return Ok(Callback { code, stream }),
                    }
                }
            }
        }
    }
}

/// Reads one request head and returns its target; `None` for anything that is not a GET in time.
async fn read_request(mut stream: TcpStream) -> Option<(String, TcpStream)> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 2048];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 || buf.len() + n > MAX_REQUEST {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    };
    if tokio::time::timeout(READ_DEADLINE, read)
        .await
        .ok()?
        .is_none()
    {
        respond(&mut stream, 400, false, "The request was not understood.").await;
        return None;
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next()?.split(' ');
    if let (Some("GET"), Some(target)) = (parts.next(), parts.next()) {
        return Some((target.to_string(), stream));
    }
    respond(
        &mut stream,
        405,
        false,
        "Only the sign-in answer is expected here.",
    )
    .await;
    None
}

enum Verdict {
    /// Not this sign-in's answer: say so to that request and keep waiting.
    Ignore(u16, &'static str),
    Fail(IdentityError),
    Code(SecretString),
}

fn judge(
    target: &str,
    auth: &Authorization,
    issuer: &Issuer,
    discovered: &str,
    iss_required: bool,
) -> Verdict {
    let Ok(url) = url::Url::parse(&format!("http://localhost{target}")) else {
        return Verdict::Ignore(400, "The request was not understood.");
    };
    if url.path() != "/" {
        return Verdict::Ignore(
            404,
            "Nothing here: this page only receives the sign-in answer.",
        );
    }
    let mut state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut iss = None;
    for (k, v) in url.query_pairs() {
        let slot = match &*k {
            "state" => &mut state,
            "code" => &mut code,
            "error" => &mut error,
            "error_description" => &mut description,
            "iss" => &mut iss,
            _ => continue,
        };
        if slot.is_some() {
            // RFC 6749 §3.1: a parameter sent twice makes the whole answer invalid.
            return Verdict::Ignore(400, "A parameter appears twice in this answer.");
        }
        *slot = Some(v.into_owned());
    }
    if state.as_deref() != Some(auth.state.as_str()) {
        return Verdict::Ignore(
            400,
            "This answer does not belong to the sign-in in progress (its state does not match). \
             Return to the terminal.",
        );
    }
    match iss {
        Some(found) if !issuer.names_itself(&found, discovered) => {
            return Verdict::Fail(IdentityError::CallbackIssuer {
                expected: discovered.to_string(),
                found: found
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(300)
                    .collect(),
            });
        }
        None if iss_required => {
            return Verdict::Fail(IdentityError::CallbackIssuer {
                expected: discovered.to_string(),
                found: "(no iss parameter, though the provider promises one)".into(),
            });
        }
        _ => {}
    }
    let clean = |d: Option<String>| {
        d.map(|d| {
            d.chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect::<String>()
        })
        .filter(|d| !d.is_empty())
    };
    if let Some(error) = error {
        let error: String = error
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        return Verdict::Fail(if error == "access_denied" {
            IdentityError::AccessDenied(clean(description))
        } else {
            IdentityError::BrowserRefused {
                error,
                description: clean(description),
            }
        });
    }
    match code.filter(|c| !c.is_empty() && c.len() <= 4096) {
        Some(code) => Verdict::Code(SecretString::from(code)),
        None => Verdict::Fail(IdentityError::BadResponse {
            what: "the authorization response",
            url: "the loopback redirect".into(),
            detail: "neither a code nor an error".into(),
        }),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Sends the browser on to the provider.
async fn redirect(stream: &mut TcpStream, location: &str) {
    let head = format!(
        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A page with no external resource (nothing can carry the URL's code away in a Referer).
async fn respond(stream: &mut TcpStream, status: u16, ok: bool, message: &str) {
    let title = if ok {
        "Signed in to cosmoscope"
    } else {
        "cosmoscope sign-in did not complete"
    };
    let body = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{}</p>\
         <p>You can close this tab and return to the terminal.</p></body></html>",
        html_escape(message)
    );
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authorization {
        Authorization {
            url: String::new(),
            redirect_uri: "http://localhost:1".into(),
            start: "/start/X".into(),
            state: "S".into(),
            nonce: "N".into(),
            verifier: SecretString::from("v".to_string()),
        }
    }

    #[test]
    fn a_callback_is_judged_by_state_issuer_and_shape() {
        let a = auth();
        let issuer = Issuer {
            url: "https://idp".into(),
            tenants: Vec::new(),
        };
        let judge = |t: &str, a: &Authorization, _: &str, required: bool| {
            judge(t, a, &issuer, "https://idp", required)
        };
        let iss = "https://idp";
        assert!(matches!(
            judge("/?code=c&state=S", &a, iss, false),
            Verdict::Code(_)
        ));
        assert!(matches!(
            judge("/?code=c&state=X", &a, iss, false),
            Verdict::Ignore(400, _)
        ));
        assert!(matches!(
            judge("/favicon.ico", &a, iss, false),
            Verdict::Ignore(404, _)
        ));
        assert!(matches!(
            judge("/?code=c&state=S&state=S", &a, iss, false),
            Verdict::Ignore(400, _)
        ));
        assert!(matches!(
            judge("/?code=c&state=S&iss=https%3A%2F%2Fevil", &a, iss, false),
            Verdict::Fail(IdentityError::CallbackIssuer { .. })
        ));
        assert!(matches!(
            judge("/?code=c&state=S", &a, iss, true),
            Verdict::Fail(IdentityError::CallbackIssuer { .. })
        ));
        assert!(matches!(
            judge("/?code=c&state=S&iss=https%3A%2F%2Fidp", &a, iss, true),
            Verdict::Code(_)
        ));
        assert!(matches!(
            judge("/?error=access_denied&error_description=no%0d%0athanks&state=S", &a, iss, false),
            Verdict::Fail(IdentityError::AccessDenied(Some(d))) if d == "nothanks"
        ));
    }

    #[test]
    fn the_challenge_is_the_s256_of_the_verifier() {
        // RFC 7636 Appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
