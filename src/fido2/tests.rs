//! Ceremony, verification and sealing against the software authenticator, in process, through the
//! `Authenticator` trait. (The same authenticator behind a FUSE HID node drives the production
//! adapter in `tests/it/fido2.rs`.)

use std::sync::Mutex;

use ciborium::value::Value;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::device::{
    AssertionResponse, AttestationResponse, DeviceInfo, GetAssertionRequest, MakeCredentialRequest,
    Verification,
};
use super::soft::{self, Behaviour, Counter, SoftAuthenticator, Touch};
use super::*;
use crate::settings::DEFAULT_RP_ID;
use seal::Slot;

struct SoftDevice(Mutex<SoftAuthenticator>);

/// (pinUvAuthParam with its protocol, built-in UV asked for)
type UserVerification = (Option<(Vec<u8>, u64)>, bool);

impl SoftDevice {
    fn new(a: SoftAuthenticator) -> Self {
        Self(Mutex::new(a))
    }
    fn with<T>(&self, f: impl FnOnce(&mut SoftAuthenticator) -> T) -> T {
        f(&mut self.0.lock().expect("lock"))
    }
    fn pin_param(&self, v: &Verification, cdh: &[u8; 32]) -> Result<UserVerification, DeviceError> {
        match v {
            Verification::Pin(pin) => {
                let token = self
                    .with(|a| a.pin_token_for(pin.expose_secret()))
                    .map_err(|c| self.error(c))?;
                Ok((
                    Some((SoftAuthenticator::pin_auth_param(&token, cdh), 2)),
                    false,
                ))
            }
            Verification::BuiltIn => Ok((None, true)),
            Verification::None => Ok((None, false)),
        }
    }
    fn error(&self, code: u8) -> DeviceError {
        match DeviceError::from_ctap(code) {
            DeviceError::PinInvalid { .. } => DeviceError::PinInvalid {
                retries: Some(u32::from(self.with(|a| a.pin_retries()))),
            },
            e => e,
        }
    }
}

fn text_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_text().map(ToString::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn field(map: &Value, key: i64) -> Option<&Value> {
    map.as_map()?.iter().find_map(|(k, v)| {
        (k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key)).then_some(v)
    })
}

impl Authenticator for SoftDevice {
    fn describe(&self) -> String {
        "soft key".into()
    }
    fn get_info(&self) -> Result<DeviceInfo, DeviceError> {
        let info = self.with(|a| a.info());
        Ok(DeviceInfo {
            versions: text_list(field(&info, 1)),
            extensions: text_list(field(&info, 2)),
            options: field(&info, 4)
                .and_then(Value::as_map)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.as_text()?.to_string(), v.as_bool()?)))
                        .collect()
                })
                .unwrap_or_default(),
            pin_protocols: vec![2, 1],
            aaguid: soft::AAGUID.to_vec(),
        })
    }
    fn pin_retries(&self) -> Result<u32, DeviceError> {
        Ok(u32::from(self.with(|a| a.pin_retries())))
    }
    fn make_credential(
        &self,
        req: &MakeCredentialRequest<'_>,
    ) -> Result<AttestationResponse, DeviceError> {
        let cdh = verify::client_data_hash(req.challenge);
        let (pin_auth, uv) = self.pin_param(req.verification, &cdh)?;
        let out = self
            .with(|a| {
                a.make_credential(&soft::MakeCredentialParams {
                    client_data_hash: cdh,
                    rp_id: req.rp_id.to_string(),
                    algs: vec![req.alg.cose()],
                    hmac_secret: true,
                    uv,
                    pin_auth,
                })
            })
            .map_err(|c| self.error(c))?;
        Ok(AttestationResponse {
            fmt: out.fmt,
            auth_data: out.auth_data,
            att_alg: out.alg,
            att_sig: out.sig,
            att_x5c: Vec::new(),
        })
    }
    fn get_assertion(
        &self,
        req: &GetAssertionRequest<'_>,
    ) -> Result<AssertionResponse, DeviceError> {
        let cdh = verify::client_data_hash(req.challenge);
        let (pin_auth, uv) = self.pin_param(req.verification, &cdh)?;
        let out = self
            .with(|a| {
                a.get_assertion(&soft::GetAssertionParams {
                    rp_id: req.rp_id.to_string(),
                    client_data_hash: cdh,
                    allow_list: req.credential_ids.to_vec(),
                    up: true,
                    uv,
                    pin_auth,
                    salt: req.salt.map(|s| soft::SaltIn::Plain(s.to_vec())),
                })
            })
            .map_err(|c| self.error(c))?;
        Ok(AssertionResponse {
            credential_id: out.credential_id,
            auth_data: out.auth_data,
            signature: out.signature,
            hmac_output: out
                .hmac_output
                .and_then(|o| <[u8; 32]>::try_from(&o[..32]).ok())
                .map(Zeroizing::new),
        })
    }
}

struct FixedPin(&'static str);
impl PinPrompt for FixedPin {
    fn pin(&self, _device: &str) -> Result<SecretString, Fido2Error> {
        Ok(SecretString::from(self.0))
    }
}
struct NoPin;
impl PinPrompt for NoPin {
    fn pin(&self, _device: &str) -> Result<SecretString, Fido2Error> {
        Err(Fido2Error::PinNeeded)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: KeyStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = KeyStore::load(&KeyStore::path_for(dir.path(), "dev"), "dev", DEFAULT_RP_ID)
        .expect("store");
    Fixture { _dir: dir, store }
}

fn enrolled(dev: &SoftDevice, pin: &dyn PinPrompt, alg: Algorithm) -> Fixture {
    let mut f = fixture();
    let c = Ceremony { auth: dev, pin };
    ceremony::enroll(&c, &mut f.store, "blue", alg).expect("enroll");
    f
}

#[test]
fn fido2_enroll_step_up_and_seal_round_trip_for_both_algorithms() {
    for alg in [Algorithm::Es256, Algorithm::Ed25519] {
        let dev = SoftDevice::new(SoftAuthenticator::default());
        let mut f = enrolled(&dev, &NoPin, alg);
        let rec = f.store.file.credentials[0].clone();
        assert_eq!(rec.algorithm, alg);
        assert_eq!(rec.attestation, "packed (self)");
        assert_eq!(rec.sign_count, 1);
        let c = Ceremony {
            auth: &dev,
            pin: &NoPin,
        };
        let up = step_up_with(&c, &mut f.store).expect("step up");
        assert_eq!(up.label, "blue");
        assert_eq!(f.store.file.credentials[0].sign_count, 2);

        let secret = SecretString::from("a-refresh-token-0123456789abcdef");
        let sealed = seal_with(&c, &mut f.store, "dev", Slot::Refresh, &secret).expect("seal");
        assert!(!sealed.contains("refresh"));
        let opened = unseal_with(&c, &mut f.store, "dev", Slot::Refresh, &sealed).expect("unseal");
        assert_eq!(opened.expose_secret(), secret.expose_secret());
        // The counter was persisted after each verified touch.
        let again = KeyStore::load(&f.store.path, "dev", DEFAULT_RP_ID).expect("reload");
        assert_eq!(again.file.credentials[0].sign_count, 4);
    }
}

#[test]
fn fido2_pin_is_used_and_the_uv_flag_required() {
    let dev = SoftDevice::new(SoftAuthenticator::default().with_pin("1234"));
    let mut f = enrolled(&dev, &FixedPin("1234"), Algorithm::Es256);
    assert!(f.store.file.credentials[0].user_verified);
    let c = Ceremony {
        auth: &dev,
        pin: &FixedPin("1234"),
    };
    let sealed = seal_with(
        &c,
        &mut f.store,
        "dev",
        Slot::Refresh,
        &SecretString::from("k".repeat(40)),
    )
    .expect("seal");
    assert!(seal::header(&sealed).expect("header").user_verified);
    unseal_with(&c, &mut f.store, "dev", Slot::Refresh, &sealed).expect("unseal with PIN");

    // A key that drops the UV flag after a PIN is refused.
    dev.with(|a| a.behaviour.drop_uv_flag = true);
    let err = step_up_with(&c, &mut f.store).err();
    assert!(
        matches!(err, Some(Fido2Error::Verify(VerifyError::UserNotVerified))),
        "{err:?}"
    );
}

#[test]
fn fido2_wrong_pin_reports_retries_then_blocks() {
    let dev = SoftDevice::new(SoftAuthenticator::default().with_pin("1234"));
    let mut f = enrolled(&dev, &FixedPin("1234"), Algorithm::Es256);
    let wrong = Ceremony {
        auth: &dev,
        pin: &FixedPin("9999"),
    };
    let err = step_up_with(&wrong, &mut f.store).err();
    assert!(
        matches!(
            err,
            Some(Fido2Error::Device(DeviceError::PinInvalid {
                retries: Some(7)
            }))
        ),
        "{err:?}"
    );
    dev.with(|a| a.set_pin_retries(1));
    let err = step_up_with(&wrong, &mut f.store).err();
    assert!(
        matches!(err, Some(Fido2Error::Device(DeviceError::PinBlocked))),
        "{err:?}"
    );
    // No PIN available (no terminal): a clear error before anything is sent.
    let none = Ceremony {
        auth: &dev,
        pin: &NoPin,
    };
    assert!(matches!(
        step_up_with(&none, &mut f.store).err(),
        Some(Fido2Error::PinNeeded)
    ));
}

#[test]
fn fido2_refused_touch_and_timeout() {
    let dev = SoftDevice::new(SoftAuthenticator::default());
    let mut f = enrolled(&dev, &NoPin, Algorithm::Es256);
    let c = Ceremony {
        auth: &dev,
        pin: &NoPin,
    };
    dev.with(|a| a.behaviour.touch = Touch::Deny);
    assert!(matches!(
        step_up_with(&c, &mut f.store).err(),
        Some(Fido2Error::Device(DeviceError::Denied))
    ));
    dev.with(|a| a.behaviour.touch = Touch::Timeout);
    assert!(matches!(
        step_up_with(&c, &mut f.store).err(),
        Some(Fido2Error::Device(DeviceError::TouchTimeout))
    ));
    // Nothing moved the stored counter.
    assert_eq!(f.store.file.credentials[0].sign_count, 1);
}

#[test]
fn fido2_tampered_signature_wrong_rp_and_counter_regression_are_refused() {
    let dev = SoftDevice::new(SoftAuthenticator::default());
    let mut f = enrolled(&dev, &NoPin, Algorithm::Es256);
    let c = Ceremony {
        auth: &dev,
        pin: &NoPin,
    };
    dev.with(|a| a.behaviour.tamper_signature = true);
    assert!(matches!(
        step_up_with(&c, &mut f.store).err(),
        Some(Fido2Error::Verify(VerifyError::BadSignature))
    ));
    dev.with(|a| {
        a.behaviour.tamper_signature = false;
        a.behaviour.rp_id_override = Some("evil.example".into());
    });
    assert!(matches!(
        step_up_with(&c, &mut f.store).err(),
        Some(Fido2Error::Verify(VerifyError::RpIdMismatch))
    ));
    dev.with(|a| a.behaviour.rp_id_override = None);
    step_up_with(&c, &mut f.store).expect("a good touch");
    let stored = f.store.file.credentials[0].sign_count;
    // A replayed counter (equal) and a clone's lagging counter (lower) are both refused.
    for n in [stored, 1] {
        dev.with(|a| a.behaviour.counter = Counter::Fixed(n));
        let err = step_up_with(&c, &mut f.store).err();
        assert!(
            matches!(
                err,
                Some(Fido2Error::Verify(VerifyError::SignCountRegression { .. }))
            ),
            "{err:?}"
        );
    }
    assert_eq!(f.store.file.credentials[0].sign_count, stored);
}

#[test]
fn fido2_zero_counters_are_accepted() {
    let dev = SoftDevice::new(SoftAuthenticator::new(Behaviour {
        counter: Counter::Zero,
        ..Behaviour::default()
    }));
    let mut f = enrolled(&dev, &NoPin, Algorithm::Ed25519);
    let c = Ceremony {
        auth: &dev,
        pin: &NoPin,
    };
    step_up_with(&c, &mut f.store).expect("first");
    step_up_with(&c, &mut f.store).expect("second");
}

#[test]
fn fido2_key_without_hmac_secret_and_foreign_key() {
    let no_hmac = SoftDevice::new(SoftAuthenticator::new(Behaviour {
        hmac_secret: false,
        ..Behaviour::default()
    }));
    let mut f = fixture();
    let err = ceremony::enroll(
        &Ceremony {
            auth: &no_hmac,
            pin: &NoPin,
        },
        &mut f.store,
        "x",
        Algorithm::Es256,
    )
    .err();
    assert!(
        matches!(err, Some(Fido2Error::NoHmacSecret { .. })),
        "{err:?}"
    );
    assert!(f.store.file.credentials.is_empty());

    let dev = SoftDevice::new(SoftAuthenticator::default());
    let mut f = enrolled(&dev, &NoPin, Algorithm::Es256);
    let c = Ceremony {
        auth: &dev,
        pin: &NoPin,
    };
    let sealed = seal_with(
        &c,
        &mut f.store,
        "dev",
        Slot::Refresh,
        &SecretString::from("s".repeat(40)),
    )
    .expect("seal");
    let other = SoftDevice::new(SoftAuthenticator::default());
    let c2 = Ceremony {
        auth: &other,
        pin: &NoPin,
    };
    assert!(matches!(
        unseal_with(&c2, &mut f.store, "dev", Slot::Refresh, &sealed).err(),
        Some(Fido2Error::Device(DeviceError::NoCredentials))
    ));
    // Another profile cannot open it even with the right key.
    assert!(matches!(
        unseal_with(&c, &mut f.store, "prod", Slot::Refresh, &sealed).err(),
        Some(Fido2Error::Seal(SealError::Open))
    ));
}

#[test]
fn fido2_enrolling_the_same_key_twice_or_a_taken_label_is_refused() {
    let dev = SoftDevice::new(SoftAuthenticator::default());
    let mut f = enrolled(&dev, &NoPin, Algorithm::Es256);
    let c = Ceremony {
        auth: &dev,
        pin: &NoPin,
    };
    assert!(matches!(
        ceremony::enroll(&c, &mut f.store, "blue", Algorithm::Es256).err(),
        Some(Fido2Error::LabelTaken(_))
    ));
}

/// Issue 13, finding 16: the key list is changed under an exclusive lock, so a second command
/// waits for the first instead of writing back an older signature counter.
#[test]
fn the_key_list_is_changed_under_a_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ctx = Fido2Context {
        profile: "dev".into(),
        rp_id: DEFAULT_RP_ID.into(),
        store_path: dir.path().join("fido2/dev.json"),
        selection: DeviceSelection::default(),
        pin: std::sync::Arc::new(TerminalPin {
            can_prompt: false,
            preset: None,
        }),
        integrity: None,
    };
    let first = ctx.lock_store().expect("first lock");
    let (tx, rx) = std::sync::mpsc::channel();
    let other = ctx.clone();
    let waiter = std::thread::spawn(move || {
        let _second = other.lock_store().expect("second lock");
        tx.send(()).expect("send");
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(200))
            .is_err(),
        "the second holder waits"
    );
    drop(first);
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the second holder gets the lock once the first lets go");
    waiter.join().expect("join");
}
