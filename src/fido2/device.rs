//! The security key: a small [`Authenticator`] trait (what cosmoscope asks of a key) and its
//! production adapter on `ctap-hid-fido2` over USB HID.
//!
//! Conventions of the trait, taken from `ctap-hid-fido2` so both sides agree: the ceremony passes a
//! random `challenge`, and the key signs `authenticatorData ‖ SHA-256(challenge)` (there is no
//! WebAuthn clientDataJSON in a CLI).
//!
//! Platform notes:
//! - Linux: the key is a `/dev/hidrawN` node; a normal user needs a udev rule granting access
//!   (systemd's `70-u2f.rules`, or the `libfido2` package's rules). Auto-detection goes through udev
//!   enumeration, so a node udev does not know (a test's FUSE file) must be named with `--device`.
//! - Windows: since Windows 10 1903 raw HID access to FIDO devices is reserved to administrators
//!   (everyone else must go through `webauthn.dll`), so this adapter only works from an elevated
//!   prompt there; a WebAuthn-API adapter behind the same trait would lift that.
//! - macOS: works through IOHIDManager without extra setup.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use ctap_hid_fido2::fidokey::get_assertion::get_assertion_params::{
    Extension as AssertionExt, GetAssertionArgs,
};
use ctap_hid_fido2::fidokey::make_credential::{
    CredentialSupportedKeyType, Extension as CredExt, MakeCredentialArgs,
};
use ctap_hid_fido2::fidokey::{GetAssertionArgsBuilder, MakeCredentialArgsBuilder};
use ctap_hid_fido2::{FidoKeyHid, HidParam, LibCfg};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// A credential's signature algorithm (COSE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (COSE -7): every FIDO2 key has it.
    #[default]
    Es256,
    /// Ed25519 (COSE -8): newer keys.
    Ed25519,
}

impl Algorithm {
    #[must_use]
    pub fn cose(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::Ed25519 => -8,
        }
    }
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "es256",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// What the key says about itself (authenticatorGetInfo), reduced to what cosmoscope uses.
#[derive(Debug, Clone, Default)]
pub struct DeviceInfo {
    pub versions: Vec<String>,
    pub extensions: Vec<String>,
    pub options: Vec<(String, bool)>,
    pub pin_protocols: Vec<u32>,
    pub aaguid: Vec<u8>,
}

impl DeviceInfo {
    #[must_use]
    pub fn option(&self, name: &str) -> Option<bool> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
    #[must_use]
    pub fn has_hmac_secret(&self) -> bool {
        self.extensions.iter().any(|e| e == "hmac-secret")
    }
    /// A PIN is set on the key.
    #[must_use]
    pub fn has_pin(&self) -> bool {
        self.option("clientPin") == Some(true)
    }
    /// A built-in user verification method (fingerprint) is configured.
    #[must_use]
    pub fn has_builtin_uv(&self) -> bool {
        self.option("uv") == Some(true)
    }
}

/// How the person is verified in one ceremony.
#[derive(Debug, Clone)]
pub enum Verification {
    /// Presence only (a touch).
    None,
    /// The key's PIN, sent through PIN/UV auth protocol 2 (or 1 on keys that offer no other).
    Pin(SecretString),
    /// The key's own method (fingerprint).
    BuiltIn,
}

impl Verification {
    #[must_use]
    pub fn verifies_user(&self) -> bool {
        !matches!(self, Verification::None)
    }
}

pub struct MakeCredentialRequest<'a> {
    pub rp_id: &'a str,
    pub challenge: &'a [u8],
    pub user_id: &'a [u8],
    pub user_name: &'a str,
    pub alg: Algorithm,
    /// Credential ids this key must not create a second credential beside.
    pub exclude: &'a [Vec<u8>],
    pub verification: &'a Verification,
}

/// authenticatorMakeCredential's answer, raw: `verify::verify_attestation` reads it.
#[derive(Debug, Clone, Default)]
pub struct AttestationResponse {
    pub fmt: String,
    pub auth_data: Vec<u8>,
    pub att_alg: i64,
    pub att_sig: Vec<u8>,
    pub att_x5c: Vec<Vec<u8>>,
}

pub struct GetAssertionRequest<'a> {
    pub rp_id: &'a str,
    pub challenge: &'a [u8],
    /// The allow list: the credentials this profile enrolled.
    pub credential_ids: &'a [Vec<u8>],
    /// The hmac-secret salt; `None` for a plain assertion.
    pub salt: Option<&'a [u8; 32]>,
    pub verification: &'a Verification,
}

/// authenticatorGetAssertion's answer, raw: `verify::verify_assertion` reads it.
#[derive(Debug, Clone, Default)]
pub struct AssertionResponse {
    pub credential_id: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    /// The hmac-secret output (already decrypted from the transport by the client).
    pub hmac_output: Option<Zeroizing<[u8; 32]>>,
}

/// What cosmoscope needs from a FIDO2 authenticator. Blocking: call it off the async runtime.
pub trait Authenticator: Send + Sync {
    /// A name for messages ("/dev/hidraw3", "YubiKey 5 (/dev/hidraw3)").
    fn describe(&self) -> String;
    fn get_info(&self) -> Result<DeviceInfo, DeviceError>;
    fn pin_retries(&self) -> Result<u32, DeviceError>;
    fn make_credential(
        &self,
        req: &MakeCredentialRequest<'_>,
    ) -> Result<AttestationResponse, DeviceError>;
    fn get_assertion(
        &self,
        req: &GetAssertionRequest<'_>,
    ) -> Result<AssertionResponse, DeviceError>;
}

/// Failures at the key, in the words a key owner needs.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no FIDO2 security key was found")]
    NoDevice,
    #[error("several FIDO2 security keys are connected: {}", devices.join("; "))]
    SeveralDevices { devices: Vec<String> },
    #[error("cannot open the security key at {path}: {detail}")]
    Open { path: String, detail: String },
    #[error("the PIN is wrong{}", retries.map(|n| format!(" ({n} attempts left before the key locks its PIN)")).unwrap_or_default())]
    PinInvalid { retries: Option<u32> },
    #[error("the key's PIN is blocked after too many wrong attempts")]
    PinBlocked,
    #[error("the key refuses PIN attempts until it is unplugged and plugged in again")]
    PinAuthBlocked,
    #[error("the key requires its PIN for this operation")]
    PinRequired,
    #[error("no touch: the key timed out waiting for you")]
    TouchTimeout,
    #[error("the key refused the operation (the touch was declined)")]
    Denied,
    #[error("this key holds none of the credentials enrolled for this profile")]
    NoCredentials,
    #[error("this key is already enrolled for this profile")]
    AlreadyEnrolled,
    #[error("the key does not support the {0} extension")]
    UnsupportedExtension(&'static str),
    #[error("the key does not support the requested algorithm")]
    UnsupportedAlgorithm,
    #[error("the key rejected an option ({0})")]
    UnsupportedOption(String),
    #[error("the key answered with CTAP error 0x{code:02X}{}", ctap_name(*code).map(|n| format!(" ({n})")).unwrap_or_default())]
    Ctap { code: u8 },
    #[error("talking to the key failed: {0}")]
    Transport(String),
}

impl DeviceError {
    /// The error a CTAP status byte stands for.
    #[must_use]
    pub fn from_ctap(code: u8) -> Self {
        match code {
            0x16 => DeviceError::UnsupportedExtension("requested"),
            0x19 => DeviceError::AlreadyEnrolled,
            0x26 => DeviceError::UnsupportedAlgorithm,
            0x27 | 0x2D => DeviceError::Denied,
            0x2B => DeviceError::UnsupportedOption("unsupported option".into()),
            0x2C => DeviceError::UnsupportedOption("invalid option".into()),
            0x2E | 0x22 => DeviceError::NoCredentials,
            0x2F | 0x3A | 0x05 => DeviceError::TouchTimeout,
            0x31 => DeviceError::PinInvalid { retries: None },
            0x32 => DeviceError::PinBlocked,
            0x34 => DeviceError::PinAuthBlocked,
            0x35 | 0x36 => DeviceError::PinRequired,
            code => DeviceError::Ctap { code },
        }
    }
}

/// The CTAP 2.1 specification's name of a status code (§8.2), for the ones we do not map to an
/// error of their own.
fn ctap_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x01 => "CTAP1_ERR_INVALID_COMMAND",
        0x02 => "CTAP1_ERR_INVALID_PARAMETER",
        0x03 => "CTAP1_ERR_INVALID_LENGTH",
        0x04 => "CTAP1_ERR_INVALID_SEQ",
        0x06 => "CTAP1_ERR_CHANNEL_BUSY",
        0x0A => "CTAP1_ERR_LOCK_REQUIRED",
        0x0B => "CTAP1_ERR_INVALID_CHANNEL",
        0x11 => "CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
        0x12 => "CTAP2_ERR_INVALID_CBOR",
        0x14 => "CTAP2_ERR_MISSING_PARAMETER",
        0x15 => "CTAP2_ERR_LIMIT_EXCEEDED",
        0x17 => "CTAP2_ERR_FP_DATABASE_FULL",
        0x18 => "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL",
        0x21 => "CTAP2_ERR_PROCESSING",
        0x23 => "CTAP2_ERR_USER_ACTION_PENDING",
        0x24 => "CTAP2_ERR_OPERATION_PENDING",
        0x25 => "CTAP2_ERR_NO_OPERATIONS",
        0x28 => "CTAP2_ERR_KEY_STORE_FULL",
        0x30 => "CTAP2_ERR_NOT_ALLOWED",
        0x33 => "CTAP2_ERR_PIN_AUTH_INVALID",
        0x37 => "CTAP2_ERR_PIN_POLICY_VIOLATION",
        0x39 => "CTAP2_ERR_REQUEST_TOO_LARGE",
        0x3B => "CTAP2_ERR_UP_REQUIRED",
        0x3C => "CTAP2_ERR_UV_BLOCKED",
        0x3D => "CTAP2_ERR_INTEGRITY_FAILURE",
        0x3E => "CTAP2_ERR_INVALID_SUBCOMMAND",
        0x3F => "CTAP2_ERR_UV_INVALID",
        0x40 => "CTAP2_ERR_UNAUTHORIZED_PERMISSION",
        0x7F => "CTAP1_ERR_OTHER",
        _ => return None,
    })
}

/// `ctap-hid-fido2` reports CTAP errors as text ("response_status err = 0x31 CTAP2_ERR_PIN_INVALID
/// …"); recover the status byte.
fn ctap_code(message: &str) -> Option<u8> {
    let at = message.find("err = 0x")? + "err = 0x".len();
    let hex: String = message[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    u8::from_str_radix(&hex, 16).ok()
}

fn library_error(e: &anyhow::Error) -> DeviceError {
    let text = format!("{e:#}");
    match ctap_code(&text) {
        Some(code) => DeviceError::from_ctap(code),
        None => DeviceError::Transport(text),
    }
}

/// How long a key may take over a command that needs no touch (getInfo, the PIN retry count): a
/// key answers these at once.
pub const QUICK_DEADLINE: Duration = Duration::from_secs(10);
/// How long a command that waits for a touch (and the PIN exchange before it) may take: beyond a
/// key's own user-presence timeout (about 30 s) and the library's keep-alive loop (500 × 100 ms).
pub const TOUCH_DEADLINE: Duration = Duration::from_secs(90);

/// Runs a `ctap-hid-fido2` call with stdout silenced (the library `println!`s diagnostics, and our
/// stdout carries data only) and its panics (it `expect`s on malformed answers) turned into errors.
fn call<T>(f: impl FnOnce() -> anyhow::Result<T>) -> Result<T, DeviceError> {
    let quiet = Quiet::start();
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    drop(quiet);
    library_result(result)
}

/// Stdout gagged and the process's panic hook ("internal error (a bug)") quiet while the library
/// runs: its panic is an error we report, not a bug of ours.
struct Quiet {
    gag: Option<gag::Gag>,
    hook: Option<PanicHook>,
}

type PanicHook = Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send + 'static>;

impl Quiet {
    fn start() -> Self {
        let gag = gag::Gag::stdout().ok();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        Self {
            gag,
            hook: Some(hook),
        }
    }
}

impl Drop for Quiet {
    fn drop(&mut self) {
        if let Some(hook) = self.hook.take() {
            std::panic::set_hook(hook);
        }
        self.gag.take();
    }
}

fn library_result<T>(result: std::thread::Result<anyhow::Result<T>>) -> Result<T, DeviceError> {
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(library_error(&e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown failure".into());
            Err(DeviceError::Transport(format!(
                "the FIDO library failed: {what}"
            )))
        }
    }
}

/// Which key to use: an explicit path, or the only one connected, or the person's choice.
#[derive(Debug, Clone, Default)]
pub struct DeviceSelection {
    /// `--device PATH` / `COSMOSCOPE_FIDO2_DEVICE`.
    pub path: Option<String>,
    /// A person can pick from a list (a TTY and no `--no-input`).
    pub can_prompt: bool,
    /// Print nothing on stderr (`--quiet`): no "touch your key" line.
    pub quiet: bool,
}

/// The production adapter: a key on USB HID through `ctap-hid-fido2` (→ hidapi → hidraw).
///
/// The library reads the device with blocking, unbounded reads: a key that stops answering (or
/// announces more bytes than it then sends) would hang cosmoscope. So every exchange runs on its own thread under a deadline ([`QUICK_DEADLINE`],
/// [`TOUCH_DEADLINE`]); when it passes, the call fails with "the key stopped answering" and the
/// key is given up for this process (the abandoned read still holds the device).
pub struct HidAuthenticator {
    key: Arc<FidoKeyHid>,
    path: String,
    product: String,
    stalled: Arc<AtomicBool>,
    quick: Duration,
    touch: Duration,
}

impl HidAuthenticator {
    /// Opens the selected key, and switches to PIN/UV auth protocol 2 when the key offers it
    /// (the library defaults to protocol 1).
    pub fn open(selection: &DeviceSelection) -> Result<Self, DeviceError> {
        let (path, product) = match &selection.path {
            Some(p) => (p.clone(), String::new()),
            None => choose_device(selection.can_prompt)?,
        };
        let cfg = LibCfg {
            enable_log: false,
            enable_keep_alive_msg: !selection.quiet,
            keep_alive_msg: "Touch your security key…".to_string(),
            keep_alive_msg_to_stderr: true,
            ..LibCfg::init()
        };
        if selection.path.is_some() && !std::path::Path::new(&path).exists() {
            return Err(DeviceError::Open {
                path,
                detail: "no such file".into(),
            });
        }
        let key = call(|| FidoKeyHid::new(&[HidParam::Path(path.clone())], &cfg)).map_err(|e| {
            DeviceError::Open {
                path: path.clone(),
                detail: e.to_string(),
            }
        })?;
        let mut this = Self {
            key: Arc::new(key),
            path,
            product,
            stalled: Arc::new(AtomicBool::new(false)),
            quick: QUICK_DEADLINE,
            touch: TOUCH_DEADLINE,
        };
        let info = this.get_info()?;
        if info.pin_protocols.contains(&2)
            && let Some(key) = Arc::get_mut(&mut this.key)
        {
            key.pin_protocol_version = 2;
        }
        Ok(this)
    }

    /// Other deadlines than [`QUICK_DEADLINE`] and [`TOUCH_DEADLINE`] (tests of a silent key).
    #[must_use]
    pub fn with_deadlines(mut self, quick: Duration, touch: Duration) -> Self {
        self.quick = quick;
        self.touch = touch;
        self
    }

    /// [`call`] on a thread of its own, given up after `deadline`.
    fn exchange<T: Send + 'static>(
        &self,
        deadline: Duration,
        f: impl FnOnce(&FidoKeyHid) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, DeviceError> {
        let stalled = || {
            DeviceError::Transport(format!(
                "the key at {} stopped answering (no complete answer within {} s)",
                self.path,
                deadline.as_secs()
            ))
        };
        if self.stalled.load(Ordering::SeqCst) {
            return Err(stalled());
        }
        let key = Arc::clone(&self.key);
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let quiet = Quiet::start();
        let spawned = std::thread::Builder::new()
            .name("fido2-hid".into())
            .spawn(move || {
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(&key)));
                // Our handle goes before the answer does, so that the caller holds the only one
                // again when it reads the answer (`open` then sets the PIN protocol through it).
                drop(key);
                // The receiver is gone only after a timeout: nobody waits for this answer.
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return Err(DeviceError::Transport(format!(
                "cannot start a thread: {e}"
            )));
        }
        let received = rx.recv_timeout(deadline);
        drop(quiet);
        match received {
            Ok(result) => library_result(result),
            Err(RecvTimeoutError::Timeout) => {
                self.stalled.store(true, Ordering::SeqCst);
                Err(stalled())
            }
            Err(RecvTimeoutError::Disconnected) => Err(DeviceError::Transport(
                "the FIDO library's thread ended without an answer".into(),
            )),
        }
    }
}

/// Lists FIDO keys through udev; one is taken, several are chosen from (or refused without a TTY).
fn choose_device(can_prompt: bool) -> Result<(String, String), DeviceError> {
    let devices = call(|| Ok(ctap_hid_fido2::get_fidokey_devices()))?;
    let mut found: Vec<(String, String)> = devices
        .into_iter()
        .filter_map(|d| match d.param {
            HidParam::Path(p) => Some((p, d.product_string)),
            HidParam::VidPid { .. } => None,
        })
        .collect();
    found.dedup_by(|a, b| a.0 == b.0);
    match found.len() {
        0 => Err(DeviceError::NoDevice),
        1 => Ok(found.remove(0)),
        _ if can_prompt => {
            let items: Vec<String> = found
                .iter()
                .map(|(p, name)| {
                    if name.is_empty() {
                        p.clone()
                    } else {
                        format!("{name} ({p})")
                    }
                })
                .collect();
            let choice = dialoguer::Select::new()
                .with_prompt("Several security keys are connected; which one?")
                .items(&items)
                .default(0)
                .interact()
                .map_err(|e| DeviceError::Transport(format!("cannot prompt: {e}")))?;
            Ok(found.remove(choice))
        }
        _ => Err(DeviceError::SeveralDevices {
            devices: found.into_iter().map(|(p, _)| p).collect(),
        }),
    }
}

impl Authenticator for HidAuthenticator {
    fn describe(&self) -> String {
        if self.product.is_empty() {
            self.path.clone()
        } else {
            format!("{} ({})", self.product, self.path)
        }
    }

    fn get_info(&self) -> Result<DeviceInfo, DeviceError> {
        let info = self.exchange(self.quick, FidoKeyHid::get_info)?;
        Ok(DeviceInfo {
            versions: info.versions,
            extensions: info.extensions,
            options: info.options,
            pin_protocols: info.pin_uv_auth_protocols,
            aaguid: info.aaguid,
        })
    }

    fn pin_retries(&self) -> Result<u32, DeviceError> {
        let n = self.exchange(self.quick, FidoKeyHid::get_pin_retries)?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    fn make_credential(
        &self,
        req: &MakeCredentialRequest<'_>,
    ) -> Result<AttestationResponse, DeviceError> {
        let pin = match req.verification {
            Verification::Pin(p) => Some(Zeroizing::new(p.expose_secret().to_string())),
            _ => None,
        };
        let user =
            ctap_hid_fido2::public_key_credential_user_entity::PublicKeyCredentialUserEntity::new(
                Some(req.user_id),
                Some(req.user_name),
                Some(req.user_name),
            );
        let mut builder = MakeCredentialArgsBuilder::new(req.rp_id, req.challenge)
            .key_type(match req.alg {
                Algorithm::Es256 => CredentialSupportedKeyType::Ecdsa256,
                Algorithm::Ed25519 => CredentialSupportedKeyType::Ed25519,
            })
            .user_entity(&user)
            .extensions(&[CredExt::HmacSecret(Some(true))]);
        for id in req.exclude {
            builder = builder.exclude_authenticator(id);
        }
        // No PIN borrowed into the arguments yet: they move to the exchange's thread, the PIN with
        // them (`.pin()` differs from `without_pin_and_uv()` only by setting it).
        if !matches!(req.verification, Verification::BuiltIn) {
            builder = builder.without_pin_and_uv();
        }
        let args = builder.build();
        let result = self.exchange(self.touch, move |key| {
            let mut args: MakeCredentialArgs<'_> = args;
            args.pin = pin.as_deref().map(String::as_str);
            key.make_credential_with_args(&args)
        });
        let att = self.with_retries(result)?;
        Ok(AttestationResponse {
            fmt: att.fmt,
            auth_data: att.auth_data,
            att_alg: i64::from(att.attstmt_alg),
            att_sig: att.attstmt_sig,
            att_x5c: att.attstmt_x5c,
        })
    }

    fn get_assertion(
        &self,
        req: &GetAssertionRequest<'_>,
    ) -> Result<AssertionResponse, DeviceError> {
        let pin = match req.verification {
            Verification::Pin(p) => Some(Zeroizing::new(p.expose_secret().to_string())),
            _ => None,
        };
        let mut builder = GetAssertionArgsBuilder::new(req.rp_id, req.challenge);
        for id in req.credential_ids {
            builder = builder.add_credential_id(id);
        }
        let extensions;
        if let Some(salt) = req.salt {
            extensions = [AssertionExt::HmacSecret(Some(*salt))];
            builder = builder.extensions(&extensions);
        }
        if !matches!(req.verification, Verification::BuiltIn) {
            builder = builder.without_pin_and_uv();
        }
        let args = builder.build();
        let result = self.exchange(self.touch, move |key| {
            let mut args: GetAssertionArgs<'_> = args;
            args.pin = pin.as_deref().map(String::as_str);
            key.get_assertion_with_args(&args)
        });
        let mut assertions = self.with_retries(result)?;
        if assertions.is_empty() {
            return Err(DeviceError::NoCredentials);
        }
        let a = assertions.swap_remove(0);
        let hmac_output = a.extensions.iter().find_map(|e| match e {
            AssertionExt::HmacSecret(Some(out)) | AssertionExt::HmacSecret2(Some((out, _))) => {
                Some(Zeroizing::new(out.to_owned()))
            }
            _ => None,
        });
        Ok(AssertionResponse {
            credential_id: a.credential_id,
            auth_data: a.auth_data,
            signature: a.signature,
            hmac_output,
        })
    }
}

impl HidAuthenticator {
    /// A wrong PIN is reported with the attempts left, which the key knows.
    fn with_retries<T>(&self, r: Result<T, DeviceError>) -> Result<T, DeviceError> {
        match r {
            Err(DeviceError::PinInvalid { retries: None }) => Err(DeviceError::PinInvalid {
                retries: self.pin_retries().ok(),
            }),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_ctap_codes_are_named() {
        assert_eq!(
            DeviceError::from_ctap(0x06).to_string(),
            "the key answered with CTAP error 0x06 (CTAP1_ERR_CHANNEL_BUSY)"
        );
        assert_eq!(
            DeviceError::from_ctap(0xEE).to_string(),
            "the key answered with CTAP error 0xEE"
        );
    }

    #[test]
    fn ctap_codes_are_read_from_the_library_text() {
        assert_eq!(
            ctap_code("response_status err = 0x31 CTAP2_ERR_PIN_INVALID   PIN Invalid."),
            Some(0x31)
        );
        assert_eq!(ctap_code("response_status err = 0x2F"), Some(0x2F));
        assert_eq!(ctap_code("Failed to open device."), None);
        assert!(matches!(DeviceError::from_ctap(0x27), DeviceError::Denied));
        assert!(matches!(
            DeviceError::from_ctap(0x2E),
            DeviceError::NoCredentials
        ));
    }
}
