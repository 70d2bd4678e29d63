//! A USB security key without USB: a FUSE file that hidapi opens as a hidraw node. It answers the
//! `HIDIOCGRDESCSIZE`/`HIDIOCGRDESC` ioctls with the FIDO report descriptor and speaks CTAPHID
//! framing (64-byte reports: INIT, CBOR, MSG, PING, WINK, CANCEL, ERROR, KEEPALIVE) in front of the
//! software authenticator, so `ctap-hid-fido2 → hidapi → this file → SoftAuthenticator` runs for
//! real. No unsafe code: fuser's safe API carries the ioctl.

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
}

struct State {
    auth: Arc<Mutex<SoftAuthenticator>>,
    outgoing: VecDeque<[u8; 64]>,
    waiting_reads: VecDeque<ReplyData>,
    assembly: Option<Assembly>,
    next_cid: u32,
    stats: Stats,
}

impl State {
    fn queue(&mut self, cid: [u8; 4], cmd: u8, payload: &[u8]) {
        let mut first = [0u8; 64];
        first[..4].copy_from_slice(&cid);
        first[4] = cmd;
        first[5..7].copy_from_slice(&u16::try_from(payload.len()).expect("short").to_be_bytes());
        let n = payload.len().min(57);
        first[7..7 + n].copy_from_slice(&payload[..n]);
        self.outgoing.push_back(first);
        let mut rest = &payload[n..];
        let mut seq = 0u8;
        while !rest.is_empty() {
            let mut p = [0u8; 64];
            p[..4].copy_from_slice(&cid);
            p[4] = seq;
            let n = rest.len().min(59);
            p[5..5 + n].copy_from_slice(&rest[..n]);
            self.outgoing.push_back(p);
            rest = &rest[n..];
            seq += 1;
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
                self.queue(cid, CTAPHID_CBOR, &resp);
            }
            _ => self.error(cid, ERR_INVALID_CMD),
        }
    }

    fn serve_reads(&mut self) {
        while !self.waiting_reads.is_empty() && !self.outgoing.is_empty() {
            let (Some(reply), Some(p)) =
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
        _req: &Request,
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
        s.waiting_reads.push_back(reply);
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

/// A mounted security key. Dropping it unmounts.
pub struct HidNode {
    session: Option<fuser::BackgroundSession>,
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
        Ok(Self {
            session: Some(session),
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

    pub fn with<T>(&self, f: impl FnOnce(&mut SoftAuthenticator) -> T) -> T {
        f(&mut self.auth.lock().expect("authenticator"))
    }
}

impl Drop for HidNode {
    fn drop(&mut self) {
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
