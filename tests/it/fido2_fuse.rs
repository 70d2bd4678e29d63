//! A USB security key without USB: a FUSE file that hidapi opens as a hidraw node. It answers the
//! `HIDIOCGRDESCSIZE`/`HIDIOCGRDESC` ioctls with the FIDO report descriptor and speaks CTAPHID
//! framing (64-byte reports: INIT, CBOR, MSG, PING, WINK, CANCEL, ERROR, KEEPALIVE) in front of the
//! software authenticator, so `ctap-hid-fido2 → hidapi → this file → SoftAuthenticator` runs for
//! real. No unsafe code: fuser's safe API carries the ioctl.
//!
//! [`Fault`]s make the "key" answer one CTAP2 command with malformed framing or a malformed reply
//! (`HidNode::inject`), for the tests that prove cosmoscope fails cleanly on them.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, INodeNo, IoctlFlags, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyWrite,
    Request, WriteFlags,
};

use crate::soft_authenticator::SoftAuthenticator;

const CTAPHID_PING: u8 = 0x81;
const CTAPHID_MSG: u8 = 0x83;
const CTAPHID_INIT: u8 = 0x86;
const CTAPHID_WINK: u8 = 0x88;
const CTAPHID_CBOR: u8 = 0x90;
const CTAPHID_CANCEL: u8 = 0x91;
const CTAPHID_KEEPALIVE: u8 = 0xBB;
const CTAPHID_ERROR: u8 = 0xBF;
const ERR_INVALID_CMD: u8 = 0x01;
const ERR_INVALID_SEQ: u8 = 0x04;
const STATUS_UPNEEDED: u8 = 0x02;
const BROADCAST: [u8; 4] = [0xff; 4];

/// `_IOR('H', 0x01, int)` and `_IOR('H', 0x02, struct hidraw_report_descriptor)` (4 + 4096 bytes).
pub const HIDIOCGRDESCSIZE: u32 = (2 << 30) | (4 << 16) | (0x48 << 8) | 0x01;
pub const HIDIOCGRDESC: u32 = (2 << 30) | (4100 << 16) | (0x48 << 8) | 0x02;

/// The FIDO usage page (0xF1D0), 64-byte input and output reports.
const REPORT_DESCRIPTOR: [u8; 34] = [
    0x06, 0xD0, 0xF1, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x20, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08,
    0x95, 0x40, 0x81, 0x02, 0x09, 0x21, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x40, 0x91,
    0x02, 0xC0,
];

const ROOT: INodeNo = INodeNo::ROOT;
const NODE: INodeNo = INodeNo(2);
const NAME: &str = "hidraw";
const TTL: Duration = Duration::from_mins(1);

fn attr(ino: INodeNo, kind: FileType, perm: u16) -> FileAttr {
    FileAttr {
        ino,
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind,
        perm,
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        flags: 0,
        blksize: 64,
    }
}

/// A malformed answer the node gives to a CTAP2 command instead of (or around) the
/// authenticator's real reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The reply's frames carry a channel id that is not the client's. (A conforming host ignores
    /// them and hears nothing; `ctap-hid-fido2` does not look at the channel id and takes them.)
    WrongChannel,
    /// The previous reply to the same command (another exchange's answer), on another channel,
    /// and nothing on the client's: what a host that does not filter channels may pick up.
    StaleOnWrongChannel,
    /// The reply's initialization frame carries this command byte instead of CTAPHID_CBOR.
    WrongCommand(u8),
    /// The first two continuation frames swap places (sequence 1 arrives before 0); a reply with
    /// one continuation frame has it numbered 1.
    BadSequence,
    /// The initialization frame announces more bytes (BCNT) than follow; then the key is silent.
    ShortThenSilence,
    /// Status 0x00 and the reply's CBOR map cut in the middle.
    TruncatedCbor,
    /// Status 0x00 and well-formed CBOR that is not a map.
    NotAMap,
    /// A CTAPHID_ERROR frame with this code instead of the reply.
    HidError(u8),
}

/// CTAPHID_ERROR codes.
pub const ERR_CHANNEL_BUSY: u8 = 0x06;
/// CTAPHID commands a test may put in a reply's header.
pub const HID_PING: u8 = CTAPHID_PING;
pub const HID_MSG: u8 = CTAPHID_MSG;

struct Assembly {
    cid: [u8; 4],
    cmd: u8,
    total: usize,
    data: Vec<u8>,
    next_seq: u8,
}

/// What the node saw, for assertions.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub ioctls: Vec<u32>,
    pub commands: Vec<u8>,
    pub keepalives_sent: usize,
    /// Replies sent malformed ([`Fault`]).
    pub faults_sent: usize,
}

struct State {
    auth: Arc<Mutex<SoftAuthenticator>>,
    outgoing: VecDeque<[u8; 64]>,
    /// Parked reads, with the id of the thread that issued each.
    waiting_reads: VecDeque<(u32, ReplyData)>,
    assembly: Option<Assembly>,
    next_cid: u32,
    stats: Stats,
    /// (CTAP2 command byte, fault) applied to every reply to that command.
    fault: Option<(u8, Fault)>,
    /// The last reply to each CTAP2 command ([`Fault::StaleOnWrongChannel`]).
    last_reply: std::collections::HashMap<u8, Vec<u8>>,
}

/// CTAPHID framing of one message: an initialization frame and its continuation frames.
fn frames(cid: [u8; 4], cmd: u8, payload: &[u8]) -> Vec<[u8; 64]> {
    let mut out = Vec::new();
    let mut first = [0u8; 64];
    first[..4].copy_from_slice(&cid);
    first[4] = cmd;
    first[5..7].copy_from_slice(&u16::try_from(payload.len()).expect("short").to_be_bytes());
    let n = payload.len().min(57);
    first[7..7 + n].copy_from_slice(&payload[..n]);
    out.push(first);
    let mut rest = &payload[n..];
    let mut seq = 0u8;
    while !rest.is_empty() {
        let mut p = [0u8; 64];
        p[..4].copy_from_slice(&cid);
        p[4] = seq;
        let n = rest.len().min(59);
        p[5..5 + n].copy_from_slice(&rest[..n]);
        out.push(p);
        rest = &rest[n..];
        seq += 1;
    }
    out
}

impl State {
    fn queue(&mut self, cid: [u8; 4], cmd: u8, payload: &[u8]) {
        self.outgoing.extend(frames(cid, cmd, payload));
    }

    /// The reply to a CTAP2 command, malformed as `fault` says.
    fn queue_faulty(&mut self, cid: [u8; 4], ctap_cmd: u8, reply: &[u8], fault: Fault) {
        let other = [cid[0] ^ 0x5A, cid[1], cid[2], cid[3] ^ 0xA5];
        match fault {
            Fault::WrongChannel => self.queue(other, CTAPHID_CBOR, reply),
            Fault::StaleOnWrongChannel => {
                let stale = self
                    .last_reply
                    .get(&ctap_cmd)
                    .cloned()
                    .unwrap_or_else(|| reply.to_vec());
                self.queue(other, CTAPHID_CBOR, &stale);
            }
            Fault::WrongCommand(cmd) => {
                let mut f = frames(cid, CTAPHID_CBOR, reply);
                f[0][4] = cmd;
                self.outgoing.extend(f);
            }
            Fault::BadSequence => {
                let mut f = frames(cid, CTAPHID_CBOR, reply);
                if f.len() >= 3 {
                    f.swap(1, 2);
                } else if let Some(cont) = f.get_mut(1) {
                    cont[4] = 1;
                }
                self.outgoing.extend(f);
            }
            Fault::ShortThenSilence => {
                let mut f = frames(cid, CTAPHID_CBOR, reply);
                let claimed = u16::try_from(reply.len() + 200).expect("short");
                f[0][5..7].copy_from_slice(&claimed.to_be_bytes());
                self.outgoing.extend(f);
            }
            Fault::TruncatedCbor => {
                let cut = &reply[..(reply.len() / 2).max(2).min(reply.len())];
                self.queue(cid, CTAPHID_CBOR, cut);
            }
            Fault::NotAMap => {
                // An array of text, as a confused key might send its version list alone.
                self.queue(
                    cid,
                    CTAPHID_CBOR,
                    &[
                        0x00, 0x81, 0x68, b'F', b'I', b'D', b'O', b'_', b'2', b'_', b'0',
                    ],
                );
            }
            Fault::HidError(code) => self.queue(cid, CTAPHID_ERROR, &[code]),
        }
    }

    fn error(&mut self, cid: [u8; 4], code: u8) {
        self.assembly = None;
        self.queue(cid, CTAPHID_ERROR, &[code]);
    }

    /// One 64-byte output report from the host.
    fn packet(&mut self, p: &[u8]) {
        let cid = [p[0], p[1], p[2], p[3]];
        if p[4] & 0x80 != 0 {
            let cmd = p[4];
            if cmd == CTAPHID_CANCEL {
                // Nothing runs asynchronously here; a cancel has no answer.
                self.stats.commands.push(cmd);
                return;
            }
            let total = usize::from(u16::from_be_bytes([p[5], p[6]]));
            let take = total.min(57);
            self.assembly = Some(Assembly {
                cid,
                cmd,
                total,
                data: p[7..7 + take].to_vec(),
                next_seq: 0,
            });
        } else {
            let Some(a) = self.assembly.as_mut() else {
                return self.error(cid, ERR_INVALID_SEQ);
            };
            if a.cid != cid || a.next_seq != p[4] {
                return self.error(cid, ERR_INVALID_SEQ);
            }
            a.next_seq += 1;
            let take = (a.total - a.data.len()).min(59);
            a.data.extend_from_slice(&p[5..5 + take]);
        }
        if self
            .assembly
            .as_ref()
            .is_some_and(|a| a.data.len() >= a.total)
            && let Some(a) = self.assembly.take()
        {
            self.message(a.cid, a.cmd, &a.data);
        }
    }

    fn message(&mut self, cid: [u8; 4], cmd: u8, data: &[u8]) {
        self.stats.commands.push(cmd);
        match cmd {
            CTAPHID_INIT => {
                self.next_cid += 1;
                let mut resp = data[..8.min(data.len())].to_vec();
                resp.extend_from_slice(&self.next_cid.to_be_bytes());
                // CTAPHID protocol 2, device version 1.0.0, capabilities: WINK | CBOR.
                resp.extend_from_slice(&[2, 1, 0, 0, 0x01 | 0x04]);
                self.queue(cid, CTAPHID_INIT, &resp);
            }
            _ if cid == BROADCAST => self.error(cid, 0x0B),
            CTAPHID_PING => self.queue(cid, CTAPHID_PING, data),
            CTAPHID_WINK => self.queue(cid, CTAPHID_WINK, &[]),
            // CTAP1/U2F is not spoken: SW_INS_NOT_SUPPORTED.
            CTAPHID_MSG => self.queue(cid, CTAPHID_MSG, &[0x6D, 0x00]),
            CTAPHID_CBOR => {
                if matches!(data.first(), Some(0x01 | 0x02)) {
                    // A key waiting for a touch says so first.
                    self.queue(cid, CTAPHID_KEEPALIVE, &[STATUS_UPNEEDED]);
                    self.stats.keepalives_sent += 1;
                }
                let resp = self.auth.lock().expect("authenticator").handle(data);
                let ctap_cmd = data.first().copied().unwrap_or_default();
                match self.fault {
                    Some((on, fault)) if ctap_cmd == on => {
                        self.stats.faults_sent += 1;
                        self.queue_faulty(cid, ctap_cmd, &resp, fault);
                    }
                    _ => self.queue(cid, CTAPHID_CBOR, &resp),
                }
                self.last_reply.insert(ctap_cmd, resp);
            }
            _ => self.error(cid, ERR_INVALID_CMD),
        }
    }

    /// A read parked for a thread that is being killed is answered with EINTR. A real hidraw read
    /// ends on a fatal signal; a FUSE read already handed to us does not (the kernel waits for our
    /// answer, and fuser ignores FUSE_INTERRUPT), so a client that gave up on a silent key could
    /// never finish exiting.
    fn release_killed_readers(&mut self) {
        let (dead, alive): (Vec<_>, Vec<_>) = self
            .waiting_reads
            .drain(..)
            .partition(|(tid, _)| being_killed(*tid));
        self.waiting_reads = alive.into();
        for (_, reply) in dead {
            reply.error(Errno::EINTR);
        }
    }

    fn serve_reads(&mut self) {
        while !self.waiting_reads.is_empty() && !self.outgoing.is_empty() {
            let (Some((_, reply)), Some(p)) =
                (self.waiting_reads.pop_front(), self.outgoing.pop_front())
            else {
                break;
            };
            reply.data(&p);
        }
    }
}

struct HidFs {
    state: Arc<Mutex<State>>,
}

impl Filesystem for HidFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if parent == ROOT && name == NAME {
            reply.entry(
                &TTL,
                &attr(NODE, FileType::RegularFile, 0o600),
                fuser::Generation(0),
            );
        } else {
            reply.error(Errno::ENOENT);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match ino {
            ROOT => reply.attr(&TTL, &attr(ROOT, FileType::Directory, 0o755)),
            NODE => reply.attr(&TTL, &attr(NODE, FileType::RegularFile, 0o600)),
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // A device, not a file: no page cache, no seeking — every read and write reaches us.
        reply.opened(
            FileHandle(0),
            FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NONSEEKABLE,
        );
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        // hidraw reads block until a report arrives: park the reply until one is queued.
        let mut s = self.state.lock().expect("state");
        s.waiting_reads.push_back((req.pid(), reply));
        s.serve_reads();
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        // hidapi writes the report number first (0 for an unnumbered report) and 64 bytes.
        let report = if data.len() == 65 { &data[1..] } else { data };
        if report.len() < 64 {
            reply.error(Errno::EINVAL);
            return;
        }
        let mut s = self.state.lock().expect("state");
        s.packet(&report[..64]);
        s.serve_reads();
        reply.written(u32::try_from(data.len()).expect("small"));
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        cmd: u32,
        _in_data: &[u8],
        out_size: u32,
        reply: ReplyIoctl,
    ) {
        self.state.lock().expect("state").stats.ioctls.push(cmd);
        let len = u32::try_from(REPORT_DESCRIPTOR.len()).expect("small");
        match cmd {
            HIDIOCGRDESCSIZE => reply.ioctl(0, &len.to_ne_bytes()),
            HIDIOCGRDESC => {
                let mut out = len.to_ne_bytes().to_vec();
                out.extend_from_slice(&REPORT_DESCRIPTOR);
                out.resize(usize::try_from(out_size).expect("small"), 0);
                reply.ioctl(0, &out);
            }
            _ => reply.error(Errno::ENOTTY),
        }
    }
}

/// Whether thread `tid` is gone or has SIGKILL pending (its process is exiting).
fn being_killed(tid: u32) -> bool {
    const SIGKILL_BIT: u64 = 1 << (9 - 1);
    let Ok(status) = std::fs::read_to_string(format!("/proc/{tid}/status")) else {
        return true;
    };
    status.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            matches!(k, "SigPnd" | "ShdPnd")
                && u64::from_str_radix(v.trim(), 16).is_ok_and(|m| m & SIGKILL_BIT != 0)
        }) || l.starts_with("State:\tZ")
    })
}

/// A mounted security key. Dropping it unmounts.
pub struct HidNode {
    session: Option<fuser::BackgroundSession>,
    /// Stops the thread that answers the parked reads of killed clients.
    watcher: Option<(
        Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<()>,
    )>,
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    pub auth: Arc<Mutex<SoftAuthenticator>>,
    state: Arc<Mutex<State>>,
}

impl HidNode {
    /// Mounts `<tempdir>/hidraw` served by `auth` on a background thread.
    pub fn mount(auth: SoftAuthenticator) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let auth = Arc::new(Mutex::new(auth));
        let state = Arc::new(Mutex::new(State {
            auth: auth.clone(),
            outgoing: VecDeque::new(),
            waiting_reads: VecDeque::new(),
            assembly: None,
            next_cid: 0x0100_0000,
            stats: Stats::default(),
            fault: None,
            last_reply: std::collections::HashMap::new(),
        }));
        let mut cfg = fuser::Config::default();
        cfg.mount_options
            .push(fuser::MountOption::FSName("cosmoscope-test-hid".into()));
        let session = fuser::spawn_mount(
            HidFs {
                state: state.clone(),
            },
            dir.path(),
            &cfg,
        )?;
        let path = dir.path().join(NAME);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let (stop, state) = (stop.clone(), state.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    state.lock().expect("state").release_killed_readers();
                    std::thread::sleep(Duration::from_millis(20)); // poll interval
                }
            })
        };
        Ok(Self {
            session: Some(session),
            watcher: Some((stop, watcher)),
            _dir: dir,
            path,
            auth,
            state,
        })
    }

    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    pub fn stats(&self) -> Stats {
        self.state.lock().expect("state").stats.clone()
    }

    /// With `Some((cmd, fault))`, every reply from now on to CTAP2 command `cmd` (0x01
    /// makeCredential, 0x02 getAssertion, 0x04 getInfo) is malformed as `fault` says; `None` heals
    /// the key. Frames still
    /// queued from an earlier exchange are dropped and parked reads fail with EIO, as replugging
    /// a key would do (a client that gave up on a silent key may still be blocked in one).
    pub fn inject(&self, fault: Option<(u8, Fault)>) {
        let mut s = self.state.lock().expect("state");
        s.fault = fault;
        s.outgoing.clear();
        s.assembly = None;
        for (_, reply) in s.waiting_reads.drain(..) {
            reply.error(Errno::EIO);
        }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut SoftAuthenticator) -> T) -> T {
        f(&mut self.auth.lock().expect("authenticator"))
    }
}

impl Drop for HidNode {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.watcher.take() {
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = thread.join();
        }
        if let Some(s) = self.session.take() {
            let _ = s.umount_and_join();
        }
    }
}

/// Whether this machine can mount FUSE here (needs /dev/fuse and root, as in CI).
pub fn available() -> bool {
    let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    });
    root && std::path::Path::new("/dev/fuse").exists()
}
