//! A small software CTAP2 authenticator for tests: real P-256 / Ed25519 credential keys, real
//! hmac-secret (CTAP 2.1 §12.5) and real PIN/UV auth protocol 2 (ECDH P-256, HKDF-SHA-256,
//! AES-256-CBC, HMAC-SHA-256). Not a security product: everything lives in memory.
//!
//! It serves two front ends: [`SoftAuthenticator::handle`] speaks the CTAP2 CBOR wire format (the
//! FUSE HID node in `fido2_fuse.rs` puts CTAPHID framing in front of it, so the production
//! `ctap-hid-fido2` adapter talks to it), and the typed methods serve the in-process
//! `Authenticator` adapter of the unit tests (this file is also compiled into `src/fido2` tests).
//!
//! Faults a real key produces on its own — a refused touch, a touch timeout, a wrong PIN, a blocked
//! PIN, a cloned key's counter — are switched on through [`Behaviour`].
#![allow(dead_code)] // two front ends use different halves

use std::collections::BTreeMap;

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::NoPadding};
use ciborium::value::{Integer, Value};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const CTAP2_OK: u8 = 0x00;
pub const ERR_INVALID_COMMAND: u8 = 0x01;
pub const ERR_INVALID_PARAMETER: u8 = 0x02;
pub const ERR_INVALID_CBOR: u8 = 0x12;
pub const ERR_MISSING_PARAMETER: u8 = 0x14;
pub const ERR_UNSUPPORTED_EXTENSION: u8 = 0x16;
pub const ERR_UNSUPPORTED_ALGORITHM: u8 = 0x26;
pub const ERR_OPERATION_DENIED: u8 = 0x27;
pub const ERR_INVALID_OPTION: u8 = 0x2C;
pub const ERR_NO_CREDENTIALS: u8 = 0x2E;
pub const ERR_USER_ACTION_TIMEOUT: u8 = 0x2F;
pub const ERR_PIN_INVALID: u8 = 0x31;
pub const ERR_PIN_BLOCKED: u8 = 0x32;
pub const ERR_PIN_AUTH_INVALID: u8 = 0x33;
pub const ERR_PIN_REQUIRED: u8 = 0x36;

pub const AAGUID: [u8; 16] = *b"cosmoscope-soft!";
const PIN_RETRIES: u8 = 8;

/// What the person at the key does, and how the key misbehaves.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub touch: Touch,
    pub counter: Counter,
    /// Flip a bit of every assertion signature.
    pub tamper_signature: bool,
    /// Put SHA-256 of this RP id into authenticator data instead of the requested one.
    pub rp_id_override: Option<String>,
    /// Advertise and honour the hmac-secret extension.
    pub hmac_secret: bool,
    /// A built-in user verification method (fingerprint) that always succeeds.
    pub builtin_uv: bool,
    /// Never set the UV flag, even after a PIN or built-in UV (a broken key).
    pub drop_uv_flag: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            touch: Touch::Approve,
            counter: Counter::Increment,
            tamper_signature: false,
            rp_id_override: None,
            hmac_secret: true,
            builtin_uv: false,
            drop_uv_flag: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    Approve,
    /// The person presses "no" / the key refuses: CTAP2_ERR_OPERATION_DENIED.
    Deny,
    /// Nobody touches: CTAP2_ERR_USER_ACTION_TIMEOUT.
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    Increment,
    /// Always report this value (a clone whose counter lags behind, or a replay).
    Fixed(u32),
    /// Never count (allowed by the spec: a zero counter is not checked).
    Zero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Es256,
    EdDsa,
}

impl Alg {
    pub fn cose(self) -> i64 {
        match self {
            Alg::Es256 => -7,
            Alg::EdDsa => -8,
        }
    }
}

enum CredKey {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

struct Credential {
    rp_id: String,
    key: CredKey,
    counter: u32,
    cred_random_uv: [u8; 32],
    cred_random_no_uv: [u8; 32],
    hmac_secret: bool,
}

/// Make-credential input, decoded.
#[derive(Debug, Clone)]
pub struct MakeCredentialParams {
    pub client_data_hash: [u8; 32],
    pub rp_id: String,
    pub algs: Vec<i64>,
    pub hmac_secret: bool,
    pub uv: bool,
    /// (pinUvAuthParam, pinUvAuthProtocol)
    pub pin_auth: Option<(Vec<u8>, u64)>,
}

#[derive(Debug, Clone)]
pub struct MakeCredentialOut {
    pub fmt: String,
    pub auth_data: Vec<u8>,
    pub alg: i64,
    pub sig: Vec<u8>,
    pub credential_id: Vec<u8>,
}

/// The hmac-secret input: plain salts (in process) or the wire form (encrypted to the key).
#[derive(Debug, Clone)]
pub enum SaltIn {
    Plain(Vec<u8>),
    Wire {
        platform_key: p256::PublicKey,
        salt_enc: Vec<u8>,
        salt_auth: Vec<u8>,
        protocol: u64,
    },
}

#[derive(Debug, Clone)]
pub struct GetAssertionParams {
    pub rp_id: String,
    pub client_data_hash: [u8; 32],
    pub allow_list: Vec<Vec<u8>>,
    pub up: bool,
    pub uv: bool,
    pub pin_auth: Option<(Vec<u8>, u64)>,
    pub salt: Option<SaltIn>,
}

#[derive(Debug, Clone)]
pub struct GetAssertionOut {
    pub credential_id: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
    /// Plain output for [`SaltIn::Plain`], encrypted for [`SaltIn::Wire`].
    pub hmac_output: Option<Vec<u8>>,
}

pub struct SoftAuthenticator {
    pub behaviour: Behaviour,
    credentials: BTreeMap<Vec<u8>, Credential>,
    pin_hash: Option<[u8; 16]>,
    pin_retries: u8,
    pin_token: [u8; 32],
    key_agreement: p256::SecretKey,
    /// Every CTAP2 command byte received, in order (tests assert on the conversation).
    pub log: Vec<u8>,
    /// Every PIN/UV auth protocol version a client used.
    pub protocols_seen: Vec<u64>,
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new(Behaviour::default())
    }
}

impl SoftAuthenticator {
    pub fn new(behaviour: Behaviour) -> Self {
        let mut pin_token = [0u8; 32];
        OsRng.fill_bytes(&mut pin_token);
        Self {
            behaviour,
            credentials: BTreeMap::new(),
            pin_hash: None,
            pin_retries: PIN_RETRIES,
            pin_token,
            key_agreement: p256::SecretKey::random(&mut OsRng),
            log: Vec::new(),
            protocols_seen: Vec::new(),
        }
    }

    pub fn with_pin(mut self, pin: &str) -> Self {
        self.set_pin(pin);
        self
    }

    pub fn set_pin(&mut self, pin: &str) {
        self.pin_hash = Some(left16(&Sha256::digest(pin.as_bytes())));
        self.pin_retries = PIN_RETRIES;
    }

    pub fn set_pin_retries(&mut self, n: u8) {
        self.pin_retries = n;
    }

    pub fn pin_retries(&self) -> u8 {
        self.pin_retries
    }

    pub fn credential_count(&self) -> usize {
        self.credentials.len()
    }

    /// Forgets every credential (a reset key, or another key of the same model).
    pub fn forget_credentials(&mut self) {
        self.credentials.clear();
    }

    // ---- typed API ----------------------------------------------------------------------------

    pub fn info(&self) -> Value {
        let mut extensions = Vec::new();
        if self.behaviour.hmac_secret {
            extensions.push(text("hmac-secret"));
        }
        let mut options = vec![
            (text("rk"), Value::Bool(true)),
            (text("up"), Value::Bool(true)),
            (text("clientPin"), Value::Bool(self.pin_hash.is_some())),
        ];
        if self.behaviour.builtin_uv {
            options.push((text("uv"), Value::Bool(true)));
        }
        Value::Map(vec![
            (
                int(1),
                Value::Array(vec![text("FIDO_2_0"), text("FIDO_2_1")]),
            ),
            (int(2), Value::Array(extensions)),
            (int(3), Value::Bytes(AAGUID.to_vec())),
            (int(4), Value::Map(options)),
            (int(5), int(1200)),
            // Protocol 1 is offered but refused below: a client that prefers 2 never notices.
            (int(6), Value::Array(vec![int(2), int(1)])),
        ])
    }

    pub fn has_pin(&self) -> bool {
        self.pin_hash.is_some()
    }

    pub fn has_builtin_uv(&self) -> bool {
        self.behaviour.builtin_uv
    }

    /// The in-process shortcut of getPinToken: the same retry rules, no transport encryption.
    pub fn pin_token_for(&mut self, pin: &str) -> Result<[u8; 32], u8> {
        self.check_pin_hash(&left16(&Sha256::digest(pin.as_bytes())))?;
        Ok(self.pin_token)
    }

    /// pinUvAuthParam = HMAC-SHA-256(pinToken, clientDataHash) (protocol 2: untruncated).
    pub fn pin_auth_param(token: &[u8; 32], client_data_hash: &[u8]) -> Vec<u8> {
        hmac(token, client_data_hash).to_vec()
    }

    fn check_pin_hash(&mut self, hash: &[u8]) -> Result<(), u8> {
        let Some(expected) = self.pin_hash else {
            return Err(ERR_PIN_INVALID);
        };
        if self.pin_retries == 0 {
            return Err(ERR_PIN_BLOCKED);
        }
        if hash == expected {
            self.pin_retries = PIN_RETRIES;
            Ok(())
        } else {
            self.pin_retries -= 1;
            if self.pin_retries == 0 {
                Err(ERR_PIN_BLOCKED)
            } else {
                Err(ERR_PIN_INVALID)
            }
        }
    }

    /// Checks user verification; returns whether UV was performed.
    fn verify_user(
        &mut self,
        uv_option: bool,
        pin_auth: Option<&(Vec<u8>, u64)>,
        cdh: &[u8],
    ) -> Result<bool, u8> {
        if let Some((param, protocol)) = pin_auth {
            self.protocols_seen.push(*protocol);
            if *protocol != 2 {
                return Err(ERR_INVALID_PARAMETER);
            }
            if self.pin_hash.is_none() {
                return Err(ERR_PIN_AUTH_INVALID);
            }
            if hmac(&self.pin_token, cdh).as_slice() != param.as_slice() {
                return Err(ERR_PIN_AUTH_INVALID);
            }
            return Ok(true);
        }
        if uv_option {
            if !self.behaviour.builtin_uv {
                return Err(ERR_INVALID_OPTION);
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn user_presence(&self) -> Result<(), u8> {
        match self.behaviour.touch {
            Touch::Approve => Ok(()),
            Touch::Deny => Err(ERR_OPERATION_DENIED),
            Touch::Timeout => Err(ERR_USER_ACTION_TIMEOUT),
        }
    }

    /// Flags of a new credential: UP, UV (unless the key is told to drop it), AT, and ED.
    fn make_credential_flags(&self, uv: bool, ed: bool) -> u8 {
        0x01 | (u8::from(uv && !self.behaviour.drop_uv_flag) << 2) | 0x40 | (u8::from(ed) << 7)
    }

    fn rp_id_hash(&self, rp_id: &str) -> [u8; 32] {
        let rp = self.behaviour.rp_id_override.as_deref().unwrap_or(rp_id);
        Sha256::digest(rp.as_bytes()).into()
    }

    pub fn make_credential(&mut self, p: &MakeCredentialParams) -> Result<MakeCredentialOut, u8> {
        let alg = p
            .algs
            .iter()
            .find_map(|a| match a {
                -7 => Some(Alg::Es256),
                -8 => Some(Alg::EdDsa),
                _ => None,
            })
            .ok_or(ERR_UNSUPPORTED_ALGORITHM)?;
        if p.pin_auth.is_none() && self.pin_hash.is_some() && !(p.uv && self.behaviour.builtin_uv) {
            return Err(ERR_PIN_REQUIRED);
        }
        let uv = self.verify_user(p.uv, p.pin_auth.as_ref(), &p.client_data_hash)?;
        if p.hmac_secret && !self.behaviour.hmac_secret {
            return Err(ERR_UNSUPPORTED_EXTENSION);
        }
        self.user_presence()?;

        let key = match alg {
            Alg::Es256 => CredKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            Alg::EdDsa => {
                let mut seed = [0u8; 32];
                OsRng.fill_bytes(&mut seed);
                CredKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        };
        let mut id = vec![0u8; 32];
        OsRng.fill_bytes(&mut id);
        let mut cred = Credential {
            rp_id: p.rp_id.clone(),
            key,
            counter: 0,
            cred_random_uv: [0; 32],
            cred_random_no_uv: [0; 32],
            hmac_secret: p.hmac_secret,
        };
        OsRng.fill_bytes(&mut cred.cred_random_uv);
        OsRng.fill_bytes(&mut cred.cred_random_no_uv);
        let counter = self.next_counter(&mut cred);

        let mut auth_data = Vec::new();
        auth_data.extend_from_slice(&self.rp_id_hash(&p.rp_id));
        auth_data.push(self.make_credential_flags(uv, p.hmac_secret));
        auth_data.extend_from_slice(&counter.to_be_bytes());
        auth_data.extend_from_slice(&AAGUID);
        auth_data.extend_from_slice(&u16::try_from(id.len()).expect("short id").to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cbor(&cose_key(&cred.key)));
        if p.hmac_secret {
            auth_data.extend_from_slice(&cbor(&Value::Map(vec![(
                text("hmac-secret"),
                Value::Bool(true),
            )])));
        }
        // Packed self attestation: signed by the credential key itself.
        let sig = sign(
            &cred.key,
            &[&auth_data[..], &p.client_data_hash[..]].concat(),
        );
        self.credentials.insert(id.clone(), cred);
        Ok(MakeCredentialOut {
            fmt: "packed".into(),
            auth_data,
            alg: alg.cose(),
            sig,
            credential_id: id,
        })
    }

    fn next_counter(&self, cred: &mut Credential) -> u32 {
        match self.behaviour.counter {
            Counter::Increment => {
                cred.counter += 1;
                cred.counter
            }
            Counter::Fixed(n) => n,
            Counter::Zero => 0,
        }
    }

    pub fn get_assertion(&mut self, p: &GetAssertionParams) -> Result<GetAssertionOut, u8> {
        let id = if p.allow_list.is_empty() {
            self.credentials
                .iter()
                .find(|(_, c)| c.rp_id == p.rp_id)
                .map(|(id, _)| id.clone())
        } else {
            p.allow_list
                .iter()
                .find(|id| {
                    self.credentials
                        .get(*id)
                        .is_some_and(|c| c.rp_id == p.rp_id)
                })
                .cloned()
        }
        .ok_or(ERR_NO_CREDENTIALS)?;
        if p.pin_auth.is_none() && self.pin_hash.is_some() && p.uv && !self.behaviour.builtin_uv {
            return Err(ERR_PIN_REQUIRED);
        }
        let uv = self.verify_user(p.uv, p.pin_auth.as_ref(), &p.client_data_hash)?;
        if p.up {
            self.user_presence()?;
        }
        // The hmac-secret input is checked before anything is signed.
        let salt_plain = match &p.salt {
            None => None,
            Some(SaltIn::Plain(s)) => Some((s.clone(), None)),
            Some(SaltIn::Wire {
                platform_key,
                salt_enc,
                salt_auth,
                protocol,
            }) => {
                self.protocols_seen.push(*protocol);
                if *protocol != 2 {
                    return Err(ERR_INVALID_PARAMETER);
                }
                let (hmac_key, aes_key) = self.shared_secret(platform_key);
                if hmac(&hmac_key, salt_enc).as_slice() != salt_auth.as_slice() {
                    return Err(ERR_INVALID_PARAMETER);
                }
                let salt = aes_cbc_decrypt(&aes_key, salt_enc).ok_or(ERR_INVALID_PARAMETER)?;
                Some((salt, Some(aes_key)))
            }
        };
        let hmac_enabled = self.behaviour.hmac_secret;
        let rp_hash = self.rp_id_hash(&p.rp_id);
        let counter_mode = self.behaviour.counter;
        let cred = self.credentials.get_mut(&id).ok_or(ERR_NO_CREDENTIALS)?;
        let hmac_output = match salt_plain {
            Some((salt, transport)) => {
                if !(hmac_enabled && cred.hmac_secret) || !(salt.len() == 32 || salt.len() == 64) {
                    return Err(ERR_INVALID_PARAMETER);
                }
                let cred_random = if uv {
                    cred.cred_random_uv
                } else {
                    cred.cred_random_no_uv
                };
                let mut out = hmac(&cred_random, &salt[..32]).to_vec();
                if salt.len() == 64 {
                    out.extend_from_slice(&hmac(&cred_random, &salt[32..]));
                }
                Some(match transport {
                    Some(aes_key) => aes_cbc_encrypt(&aes_key, &out),
                    None => out,
                })
            }
            None => None,
        };
        let counter = match counter_mode {
            Counter::Increment => {
                cred.counter += 1;
                cred.counter
            }
            Counter::Fixed(n) => n,
            Counter::Zero => 0,
        };
        let mut auth_data = Vec::new();
        auth_data.extend_from_slice(&rp_hash);
        let flags = u8::from(p.up)
            | (u8::from(uv && !self.behaviour.drop_uv_flag) << 2)
            | (u8::from(hmac_output.is_some()) << 7);
        auth_data.push(flags);
        auth_data.extend_from_slice(&counter.to_be_bytes());
        if let (Some(out), Some(SaltIn::Wire { .. })) = (&hmac_output, &p.salt) {
            auth_data.extend_from_slice(&cbor(&Value::Map(vec![(
                text("hmac-secret"),
                Value::Bytes(out.clone()),
            )])));
        } else if let Some(out) = &hmac_output {
            // In process the output travels beside the authenticator data; the extension map
            // still carries something of the right shape so the ED flag stays truthful.
            auth_data.extend_from_slice(&cbor(&Value::Map(vec![(
                text("hmac-secret"),
                Value::Bytes(vec![0; out.len()]),
            )])));
        }
        let mut signature = sign(
            &cred.key,
            &[&auth_data[..], &p.client_data_hash[..]].concat(),
        );
        if self.behaviour.tamper_signature {
            let last = signature.len() - 1;
            signature[last] ^= 0x01;
        }
        Ok(GetAssertionOut {
            credential_id: id,
            auth_data,
            signature,
            hmac_output,
        })
    }

    /// PIN/UV auth protocol 2: Z = ECDH x-coordinate; HKDF-SHA-256 with a zero salt into an HMAC
    /// key and an AES key.
    fn shared_secret(&self, platform_key: &p256::PublicKey) -> ([u8; 32], [u8; 32]) {
        let z = p256::ecdh::diffie_hellman(
            self.key_agreement.to_nonzero_scalar(),
            platform_key.as_affine(),
        );
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z.raw_secret_bytes());
        let mut hmac_key = [0u8; 32];
        let mut aes_key = [0u8; 32];
        hk.expand(b"CTAP2 HMAC key", &mut hmac_key)
            .expect("32 bytes");
        hk.expand(b"CTAP2 AES key", &mut aes_key).expect("32 bytes");
        (hmac_key, aes_key)
    }

    // ---- CBOR wire format -----------------------------------------------------------------------

    /// Handles one CTAP2 message (command byte + CBOR); returns status byte + CBOR.
    pub fn handle(&mut self, msg: &[u8]) -> Vec<u8> {
        let Some((&cmd, body)) = msg.split_first() else {
            return vec![ERR_INVALID_COMMAND];
        };
        self.log.push(cmd);
        let request = if body.is_empty() {
            Ok(Value::Map(Vec::new()))
        } else {
            ciborium::de::from_reader::<Value, _>(body).map_err(|_| ERR_INVALID_CBOR)
        };
        let result = request.and_then(|req| match cmd {
            0x01 => self.wire_make_credential(&req),
            0x02 => self.wire_get_assertion(&req),
            0x04 => Ok(self.info()),
            0x06 => self.wire_client_pin(&req),
            _ => Err(ERR_INVALID_COMMAND),
        });
        match result {
            Ok(v) => {
                let mut out = vec![CTAP2_OK];
                out.extend_from_slice(&cbor(&v));
                out
            }
            Err(code) => vec![code],
        }
    }

    fn wire_make_credential(&mut self, req: &Value) -> Result<Value, u8> {
        let cdh = bytes32(get(req, 1).ok_or(ERR_MISSING_PARAMETER)?)?;
        let rp_id = get_text(get(req, 2).ok_or(ERR_MISSING_PARAMETER)?, "id")
            .ok_or(ERR_MISSING_PARAMETER)?;
        let algs = match get(req, 4) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|p| get_by_text(p, "alg").and_then(as_i64))
                .collect(),
            _ => return Err(ERR_MISSING_PARAMETER),
        };
        let hmac_secret = get(req, 6)
            .and_then(|e| get_by_text(e, "hmac-secret"))
            .is_some_and(|v| matches!(v, Value::Bool(true)));
        let uv = get(req, 7)
            .and_then(|o| get_by_text(o, "uv"))
            .is_some_and(|v| matches!(v, Value::Bool(true)));
        let pin_auth = pin_auth(req, 8, 9)?;
        let out = self.make_credential(&MakeCredentialParams {
            client_data_hash: cdh,
            rp_id,
            algs,
            hmac_secret,
            uv,
            pin_auth,
        })?;
        Ok(Value::Map(vec![
            (int(1), text(&out.fmt)),
            (int(2), Value::Bytes(out.auth_data)),
            (
                int(3),
                Value::Map(vec![
                    (text("alg"), int(out.alg)),
                    (text("sig"), Value::Bytes(out.sig)),
                ]),
            ),
        ]))
    }

    fn wire_get_assertion(&mut self, req: &Value) -> Result<Value, u8> {
        let rp_id = match get(req, 1) {
            Some(Value::Text(t)) => t.clone(),
            _ => return Err(ERR_MISSING_PARAMETER),
        };
        let cdh = bytes32(get(req, 2).ok_or(ERR_MISSING_PARAMETER)?)?;
        let allow_list = match get(req, 3) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|d| match get_by_text(d, "id") {
                    Some(Value::Bytes(b)) => Some(b.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let salt = match get(req, 4).and_then(|e| get_by_text(e, "hmac-secret")) {
            Some(h) => {
                let key = get(h, 1).ok_or(ERR_MISSING_PARAMETER)?;
                let platform_key = cose_to_p256(key).ok_or(ERR_INVALID_PARAMETER)?;
                let salt_enc = match get(h, 2) {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => return Err(ERR_MISSING_PARAMETER),
                };
                let salt_auth = match get(h, 3) {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => return Err(ERR_MISSING_PARAMETER),
                };
                let protocol = get(h, 4).and_then(as_i64).unwrap_or(1);
                Some(SaltIn::Wire {
                    platform_key,
                    salt_enc,
                    salt_auth,
                    protocol: u64::try_from(protocol).map_err(|_| ERR_INVALID_PARAMETER)?,
                })
            }
            None => None,
        };
        let options = get(req, 5);
        let up = options
            .and_then(|o| get_by_text(o, "up"))
            .is_none_or(|v| matches!(v, Value::Bool(true)));
        let uv = options
            .and_then(|o| get_by_text(o, "uv"))
            .is_some_and(|v| matches!(v, Value::Bool(true)));
        let pin_auth = pin_auth(req, 6, 7)?;
        let out = self.get_assertion(&GetAssertionParams {
            rp_id,
            client_data_hash: cdh,
            allow_list,
            up,
            uv,
            pin_auth,
            salt,
        })?;
        Ok(Value::Map(vec![
            (
                int(1),
                Value::Map(vec![
                    (text("id"), Value::Bytes(out.credential_id)),
                    (text("type"), text("public-key")),
                ]),
            ),
            (int(2), Value::Bytes(out.auth_data)),
            (int(3), Value::Bytes(out.signature)),
        ]))
    }

    fn wire_client_pin(&mut self, req: &Value) -> Result<Value, u8> {
        let protocol = get(req, 1).and_then(as_i64).unwrap_or(0);
        let sub = get(req, 2).and_then(as_i64).ok_or(ERR_MISSING_PARAMETER)?;
        match sub {
            0x01 => Ok(Value::Map(vec![(int(3), int(i64::from(self.pin_retries)))])),
            0x02 => {
                self.protocols_seen
                    .push(u64::try_from(protocol).unwrap_or(0));
                if protocol != 2 {
                    return Err(ERR_INVALID_PARAMETER);
                }
                Ok(Value::Map(vec![(
                    int(1),
                    p256_cose(&self.key_agreement.public_key(), -25),
                )]))
            }
            0x05 | 0x09 => {
                self.protocols_seen
                    .push(u64::try_from(protocol).unwrap_or(0));
                if protocol != 2 {
                    return Err(ERR_INVALID_PARAMETER);
                }
                if self.pin_hash.is_none() {
                    return Err(ERR_PIN_INVALID);
                }
                if self.pin_retries == 0 {
                    return Err(ERR_PIN_BLOCKED);
                }
                let platform_key = get(req, 3)
                    .and_then(cose_to_p256)
                    .ok_or(ERR_MISSING_PARAMETER)?;
                let pin_hash_enc = match get(req, 6) {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => return Err(ERR_MISSING_PARAMETER),
                };
                let (_, aes_key) = self.shared_secret(&platform_key);
                let hash = aes_cbc_decrypt(&aes_key, &pin_hash_enc).ok_or(ERR_PIN_INVALID)?;
                self.check_pin_hash(&hash)?;
                let token = self.pin_token;
                Ok(Value::Map(vec![(
                    int(2),
                    Value::Bytes(aes_cbc_encrypt(&aes_key, &token)),
                )]))
            }
            _ => Err(ERR_INVALID_PARAMETER),
        }
    }
}

// ---- helpers ------------------------------------------------------------------------------------

fn left16(d: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&d[..16]);
    out
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn aes_cbc_encrypt(key: &[u8; 32], plain: &[u8]) -> Vec<u8> {
    let mut iv = [0u8; 16];
    OsRng.fill_bytes(&mut iv);
    let mut buf = plain.to_vec();
    let len = buf.len();
    let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(key, &iv)
        .expect("key and iv sizes")
        .encrypt_padded::<NoPadding>(&mut buf, len)
        .expect("block multiple")
        .to_vec();
    [iv.to_vec(), ct].concat()
}

fn aes_cbc_decrypt(key: &[u8; 32], data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 32 || !data.len().is_multiple_of(16) {
        return None;
    }
    let (iv, ct) = data.split_at(16);
    let mut buf = ct.to_vec();
    cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
        .ok()?
        .decrypt_padded::<NoPadding>(&mut buf)
        .ok()
        .map(<[u8]>::to_vec)
}

fn sign(key: &CredKey, msg: &[u8]) -> Vec<u8> {
    match key {
        CredKey::P256(k) => {
            let sig: p256::ecdsa::Signature = k.sign(msg);
            sig.to_der().as_bytes().to_vec()
        }
        CredKey::Ed25519(k) => {
            use ed25519_dalek::Signer as _;
            k.sign(msg).to_bytes().to_vec()
        }
    }
}

fn cose_key(key: &CredKey) -> Value {
    match key {
        CredKey::P256(k) => p256_cose(&p256::PublicKey::from(k.verifying_key()), -7),
        CredKey::Ed25519(k) => Value::Map(vec![
            (int(1), int(1)),
            (int(3), int(-8)),
            (int(-1), int(6)),
            (int(-2), Value::Bytes(k.verifying_key().to_bytes().to_vec())),
        ]),
    }
}

fn p256_cose(key: &p256::PublicKey, alg: i64) -> Value {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    let point = key.to_encoded_point(false);
    Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(alg)),
        (int(-1), int(1)),
        (
            int(-2),
            Value::Bytes(point.x().expect("uncompressed").to_vec()),
        ),
        (
            int(-3),
            Value::Bytes(point.y().expect("uncompressed").to_vec()),
        ),
    ])
}

fn cose_to_p256(v: &Value) -> Option<p256::PublicKey> {
    let Value::Bytes(x) = get(v, -2)? else {
        return None;
    };
    let Value::Bytes(y) = get(v, -3)? else {
        return None;
    };
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    p256::PublicKey::from_sec1_bytes(&sec1).ok()
}

fn pin_auth(req: &Value, param_key: i64, protocol_key: i64) -> Result<Option<(Vec<u8>, u64)>, u8> {
    match get(req, param_key) {
        Some(Value::Bytes(p)) => {
            let protocol = get(req, protocol_key)
                .and_then(as_i64)
                .ok_or(ERR_MISSING_PARAMETER)?;
            Ok(Some((
                p.clone(),
                u64::try_from(protocol).map_err(|_| ERR_INVALID_PARAMETER)?,
            )))
        }
        Some(_) => Err(ERR_INVALID_PARAMETER),
        None => Ok(None),
    }
}

pub fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("CBOR to memory");
    out
}

fn int(i: i64) -> Value {
    Value::Integer(Integer::from(i))
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => i64::try_from(*i).ok(),
        _ => None,
    }
}

fn get(map: &Value, key: i64) -> Option<&Value> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| as_i64(k) == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn get_by_text<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn get_text(map: &Value, key: &str) -> Option<String> {
    match get_by_text(map, key)? {
        Value::Text(t) => Some(t.clone()),
        _ => None,
    }
}

fn bytes32(v: &Value) -> Result<[u8; 32], u8> {
    match v {
        Value::Bytes(b) => b.as_slice().try_into().map_err(|_| ERR_INVALID_PARAMETER),
        _ => Err(ERR_INVALID_PARAMETER),
    }
}
