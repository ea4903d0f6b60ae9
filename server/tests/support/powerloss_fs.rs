//! A FUSE filesystem for power-loss tests: it passes every file operation through
//! to a backing directory, and beside that keeps what a disk would still hold if
//! the power went out now.
//!
//! ```text
//!  corekv-server ──► kernel FUSE ──► PowerLossFs (a thread of the test process)
//!                                      │ every op: done on the backing directory
//!                                      │ WRITE / truncate: also kept as pending
//!                                      │ FSYNC:    the file's pending ops become its
//!                                      │           durable content
//!                                      │ FSYNCDIR: the directory's entries become
//!                                      │           its durable entries
//!                                      ▼
//!                      crash_image(Loss, rng) ──► a plain directory holding only
//!                                                 what survives the power loss
//! ```
//!
//! The model, per file: its content is durable up to its last `fsync`/`fdatasync`;
//! what was written since is lost ([`Loss::DropUnsynced`]), or a random prefix of it
//! survives with the last write cut at a random byte ([`Loss::KeepPrefix`]), or all
//! of it survives but the last 4 KiB page is torn at a random 512-byte sector, the
//! rest of that page reading as zeros ([`Loss::TearLastPage`]; sectors are taken to
//! reach the disk in order, and bytes synced before are never torn). Per directory:
//! a create, rename or unlink is durable once the directory is fsynced, and an
//! fsync of a directory makes all of its current entries durable at once (whole
//! directory, as journaling filesystems do); or, in the worst order a filesystem
//! without ordered metadata may write in, the unlinks since the last sync survive
//! and the creates and renames do not ([`Names`]). A file never synced survives,
//! if its name does, with the content synced before (empty for a new one). An
//! image can also be taken at an exact point: right after the first unlink of a
//! matching file ([`PowerLossFs::crash_image_at_unlink`]).
//!
//! The server opens its journal and snapshot files buffered (glommio
//! `BufferedFile`), so no `O_DIRECT` handling is needed; its `fdatasync`s go through
//! io_uring and arrive here as FUSE `FSYNC` requests, which are also counted per
//! file for the tests that check a reply waits for its sync.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, UNIX_EPOCH};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How long the kernel may cache attributes and names: not at all, so every
/// lookup sees the backing directory as it is.
const TTL: Duration = Duration::ZERO;
/// The unit a torn write tears within.
pub const PAGE_BYTES: u64 = 4096;
/// The unit a disk writes whole.
pub const SECTOR_BYTES: u64 = 512;

/// What a power loss does to the bytes written since a file's last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// All of them are lost.
    DropUnsynced,
    /// A random prefix of the writes survives, the last one cut at a random byte.
    KeepPrefix,
    /// All reach the disk, but the file's last page is torn at a random sector:
    /// from there to the end of the file it reads as zeros.
    TearLastPage,
}

impl Loss {
    pub const ALL: [Loss; 3] = [Loss::DropUnsynced, Loss::KeepPrefix, Loss::TearLastPage];
}

/// What a power loss does to a directory's entries changed since its last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Names {
    /// The directory reads as at its last sync.
    Synced,
    /// The worst order a filesystem without ordered metadata may write in: every
    /// unlink since the last sync reached the disk, every create and rename did not.
    UnlinksOnly,
}

/// A crash image to take at the first unlink of a file whose path contains
/// `pattern`, right after that unlink.
struct Freeze {
    pattern: String,
    out: PathBuf,
    loss: Loss,
    names: Names,
    seed: u64,
    taken: bool,
}

/// A change to a file's content not yet synced.
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    Truncate(u64),
}

/// Where an inode lives in the backing directory; `None` once it was unlinked.
struct Node {
    path: Option<PathBuf>,
}

#[derive(Default)]
struct State {
    backing: PathBuf,
    nodes: HashMap<u64, Node>,
    by_path: HashMap<PathBuf, u64>,
    next_ino: u64,
    next_fh: u64,
    files: HashMap<u64, File>,
    /// Content as of each file's last sync.
    durable_data: HashMap<u64, Vec<u8>>,
    /// Changes since each file's last sync, oldest first.
    pending: HashMap<u64, Vec<Pending>>,
    /// Entries as of each directory's last sync.
    durable_dirs: HashMap<u64, BTreeMap<OsString, u64>>,
    /// Names unlinked from each directory since its last sync.
    unlinked: HashMap<u64, Vec<OsString>>,
    freeze: Option<Freeze>,
    /// `FSYNC` requests answered, by the file's path when it was synced.
    fsyncs: HashMap<PathBuf, u64>,
    /// Bytes of each path's durable content after its last sync.
    durable_len: HashMap<PathBuf, u64>,
    /// When each path's syncs were answered, oldest first.
    synced_at: HashMap<PathBuf, Vec<Instant>>,
}

impl State {
    fn full(&self, rel: &Path) -> PathBuf {
        self.backing.join(rel)
    }

    fn path_of(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.nodes
            .get(&ino.0)
            .and_then(|n| n.path.clone())
            .ok_or(Errno::ENOENT)
    }

    /// The inode of `rel`, allocated on first sight.
    fn ino_of(&mut self, rel: &Path) -> u64 {
        if let Some(&ino) = self.by_path.get(rel) {
            return ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.by_path.insert(rel.to_path_buf(), ino);
        self.nodes.insert(
            ino,
            Node {
                path: Some(rel.to_path_buf()),
            },
        );
        ino
    }

    /// Takes what the backing directory holds now as durable (at mount).
    fn adopt(&mut self, rel: &Path) -> std::io::Result<()> {
        let dir_ino = self.ino_of(rel);
        let mut entries = BTreeMap::new();
        for entry in fs::read_dir(self.full(rel))? {
            let entry = entry?;
            let child = rel.join(entry.file_name());
            let ino = self.ino_of(&child);
            entries.insert(entry.file_name(), ino);
            if entry.file_type()?.is_dir() {
                self.adopt(&child)?;
            } else {
                self.durable_data.insert(ino, fs::read(self.full(&child))?);
            }
        }
        self.durable_dirs.insert(dir_ino, entries);
        Ok(())
    }

    fn entry_attr(&mut self, rel: &Path) -> Result<FileAttr, Errno> {
        let meta = fs::symlink_metadata(self.full(rel)).map_err(Errno::from)?;
        let ino = self.ino_of(rel);
        Ok(attr(ino, &meta))
    }

    fn sync_file(&mut self, ino: u64) {
        let ops = self.pending.remove(&ino).unwrap_or_default();
        let data = self.durable_data.entry(ino).or_default();
        for op in &ops {
            apply(data, op);
        }
        let len = data.len() as u64;
        if let Some(path) = self.nodes.get(&ino).and_then(|n| n.path.clone()) {
            *self.fsyncs.entry(path.clone()).or_default() += 1;
            self.synced_at
                .entry(path.clone())
                .or_default()
                .push(Instant::now());
            self.durable_len.insert(path, len);
        }
    }

    fn sync_dir(&mut self, ino: u64) -> Result<(), Errno> {
        let rel = self.path_of(INodeNo(ino))?;
        let mut entries = BTreeMap::new();
        for entry in fs::read_dir(self.full(&rel)).map_err(Errno::from)? {
            let name = entry.map_err(Errno::from)?.file_name();
            let child = self.ino_of(&rel.join(&name));
            entries.insert(name, child);
        }
        self.durable_dirs.insert(ino, entries);
        self.unlinked.remove(&ino);
        Ok(())
    }

    /// Writes what survives under `dir_ino` into `out`.
    fn materialize(
        &self,
        dir_ino: u64,
        out: &Path,
        loss: Loss,
        names: Names,
        rng: &mut impl Rng,
    ) -> std::io::Result<()> {
        fs::create_dir_all(out)?;
        let Some(mut entries) = self.durable_dirs.get(&dir_ino).cloned() else {
            return Ok(());
        };
        if names == Names::UnlinksOnly {
            for name in self.unlinked.get(&dir_ino).into_iter().flatten() {
                entries.remove(name);
            }
        }
        for (name, ino) in entries {
            let target = out.join(name);
            if self.durable_dirs.contains_key(&ino) || self.is_dir(ino) {
                self.materialize(ino, &target, loss, names, rng)?;
            } else {
                fs::write(&target, self.surviving(ino, loss, rng))?;
            }
        }
        Ok(())
    }

    fn is_dir(&self, ino: u64) -> bool {
        self.nodes
            .get(&ino)
            .and_then(|n| n.path.as_ref())
            .is_some_and(|p| self.full(p).is_dir())
    }

    /// A file's content after the power loss.
    fn surviving(&self, ino: u64, loss: Loss, rng: &mut impl Rng) -> Vec<u8> {
        let mut data = self.durable_data.get(&ino).cloned().unwrap_or_default();
        let synced = data.len() as u64;
        let ops = self.pending.get(&ino).map_or(&[][..], Vec::as_slice);
        if ops.is_empty() {
            return data;
        }
        match loss {
            Loss::DropUnsynced => {}
            Loss::KeepPrefix => {
                let kept = rng.gen_range(0..=ops.len());
                for op in &ops[..kept] {
                    apply(&mut data, op);
                }
                if let Some(Pending::Write {
                    offset,
                    data: bytes,
                }) = ops.get(kept)
                {
                    let cut = rng.gen_range(0..=bytes.len());
                    let partial = Pending::Write {
                        offset: *offset,
                        data: bytes[..cut].to_vec(),
                    };
                    apply(&mut data, &partial);
                }
            }
            Loss::TearLastPage => {
                for op in ops {
                    apply(&mut data, op);
                }
                let end = data.len() as u64;
                if end > synced {
                    let page = (end - 1) / PAGE_BYTES * PAGE_BYTES;
                    let sectors = (end - page).div_ceil(SECTOR_BYTES);
                    let cut = page + rng.gen_range(0..=sectors) * SECTOR_BYTES;
                    let from = cut.max(synced).min(end) as usize;
                    data[from..].fill(0);
                }
            }
        }
        data
    }
}

impl State {
    /// Takes the image a [`Freeze`] waits for if `rel` is its file.
    fn freeze_if(&mut self, rel: &Path) -> std::io::Result<()> {
        let Some(f) = &self.freeze else {
            return Ok(());
        };
        if f.taken || !rel.to_string_lossy().contains(&f.pattern) {
            return Ok(());
        }
        let mut rng = StdRng::seed_from_u64(f.seed);
        self.materialize(INodeNo::ROOT.0, &f.out, f.loss, f.names, &mut rng)?;
        if let Some(f) = &mut self.freeze {
            f.taken = true;
        }
        Ok(())
    }
}

fn apply(data: &mut Vec<u8>, op: &Pending) {
    match op {
        Pending::Write {
            offset,
            data: bytes,
        } => {
            let at = *offset as usize;
            if data.len() < at + bytes.len() {
                data.resize(at + bytes.len(), 0);
            }
            data[at..at + bytes.len()].copy_from_slice(bytes);
        }
        Pending::Truncate(len) => data.resize(*len as usize, 0),
    }
}

fn attr(ino: u64, m: &Metadata) -> FileAttr {
    let time = |secs: i64, nanos: i64| {
        UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32)
    };
    FileAttr {
        ino: INodeNo(ino),
        size: m.len(),
        blocks: m.blocks(),
        atime: time(m.atime(), m.atime_nsec()),
        mtime: time(m.mtime(), m.mtime_nsec()),
        ctime: time(m.ctime(), m.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind: if m.is_dir() {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: (m.mode() & 0o7777) as u16,
        nlink: m.nlink() as u32,
        uid: m.uid(),
        gid: m.gid(),
        rdev: 0,
        blksize: PAGE_BYTES as u32,
        flags: 0,
    }
}

/// The filesystem the kernel talks to; shares its state with [`PowerLossFs`].
struct Fs {
    state: Arc<Mutex<State>>,
    /// How long each `FSYNC` takes before it is answered (a slow disk).
    fsync_delay: Duration,
}

impl Fs {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("powerloss fs state")
    }
}

fn open_options(flags: i32) -> fs::OpenOptions {
    let mut o = fs::OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => o.write(true),
        libc::O_RDWR => o.read(true).write(true),
        _ => o.read(true),
    };
    // Writes arrive with their offset; the backing file takes them there.
    o.custom_flags(flags & !(libc::O_APPEND | libc::O_ACCMODE | libc::O_CREAT | libc::O_EXCL));
    o
}

impl Filesystem for Fs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.lock();
        let result = s.path_of(parent).and_then(|p| s.entry_attr(&p.join(name)));
        match result {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let s = self.lock();
        let meta = match fh.and_then(|fh| s.files.get(&fh.0)) {
            Some(f) => f.metadata().map_err(Errno::from),
            None => s
                .path_of(ino)
                .and_then(|p| fs::symlink_metadata(s.full(&p)).map_err(Errno::from)),
        };
        match meta {
            Ok(m) => reply.attr(&TTL, &attr(ino.0, &m)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut s = self.lock();
        let result = (|| {
            let path = s.path_of(ino).ok();
            if let Some(len) = size {
                match fh.and_then(|fh| s.files.get(&fh.0)) {
                    Some(f) => f.set_len(len).map_err(Errno::from)?,
                    None => {
                        let p = path.clone().ok_or(Errno::ENOENT)?;
                        let f = fs::OpenOptions::new()
                            .write(true)
                            .open(s.full(&p))
                            .map_err(Errno::from)?;
                        f.set_len(len).map_err(Errno::from)?;
                    }
                }
                s.pending
                    .entry(ino.0)
                    .or_default()
                    .push(Pending::Truncate(len));
            }
            let p = path.ok_or(Errno::ENOENT)?;
            if let Some(mode) = mode {
                fs::set_permissions(s.full(&p), fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(Errno::from)?;
            }
            fs::symlink_metadata(s.full(&p)).map_err(Errno::from)
        })();
        match result {
            Ok(m) => reply.attr(&TTL, &attr(ino.0, &m)),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.lock();
        let result = s.path_of(parent).and_then(|p| {
            let rel = p.join(name);
            fs::create_dir(s.full(&rel)).map_err(Errno::from)?;
            fs::set_permissions(s.full(&rel), fs::Permissions::from_mode(mode & 0o7777))
                .map_err(Errno::from)?;
            s.entry_attr(&rel)
        });
        match result {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, false, reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove(parent, name, true, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if !flags.is_empty() {
            reply.error(Errno::EINVAL);
            return;
        }
        let mut s = self.lock();
        let result = (|| {
            let from = s.path_of(parent)?.join(name);
            let to = s.path_of(newparent)?.join(newname);
            fs::rename(s.full(&from), s.full(&to)).map_err(Errno::from)?;
            if let Some(replaced) = s.by_path.remove(&to) {
                if let Some(n) = s.nodes.get_mut(&replaced) {
                    n.path = None;
                }
            }
            // The renamed node and everything below it move.
            let moved: Vec<(PathBuf, u64)> = s
                .by_path
                .iter()
                .filter(|(p, _)| p.starts_with(&from))
                .map(|(p, &i)| (p.clone(), i))
                .collect();
            for (old, ino) in moved {
                let new = to.join(old.strip_prefix(&from).expect("under the renamed path"));
                s.by_path.remove(&old);
                s.by_path.insert(new.clone(), ino);
                if let Some(n) = s.nodes.get_mut(&ino) {
                    n.path = Some(new);
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut s = self.lock();
        let result = s
            .path_of(ino)
            .and_then(|p| open_options(flags.0).open(s.full(&p)).map_err(Errno::from));
        match result {
            Ok(f) => {
                let fh = s.next_fh;
                s.next_fh += 1;
                s.files.insert(fh, f);
                reply.opened(FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let s = self.lock();
        let Some(f) = s.files.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        let mut buf = vec![0u8; size as usize];
        let mut done = 0;
        while done < buf.len() {
            match f.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => {
                    reply.error(Errno::from(e));
                    return;
                }
            }
        }
        reply.data(&buf[..done]);
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut s = self.lock();
        let Some(f) = s.files.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        if let Err(e) = f.write_all_at(data, offset) {
            reply.error(Errno::from(e));
            return;
        }
        s.pending.entry(ino.0).or_default().push(Pending::Write {
            offset,
            data: data.to_vec(),
        });
        reply.written(data.len() as u32);
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

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().files.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        if !self.fsync_delay.is_zero() {
            std::thread::sleep(self.fsync_delay);
        }
        self.lock().sync_file(ino.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.lock().path_of(ino) {
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut s = self.lock();
        let listing = s.path_of(ino).and_then(|p| {
            let mut names = Vec::new();
            for entry in fs::read_dir(s.full(&p)).map_err(Errno::from)? {
                let entry = entry.map_err(Errno::from)?;
                let dir = entry.file_type().map_err(Errno::from)?.is_dir();
                names.push((entry.file_name(), dir));
            }
            names.sort();
            Ok((p, names))
        });
        let (p, names) = match listing {
            Ok(l) => l,
            Err(e) => {
                reply.error(e);
                return;
            }
        };
        for (i, (name, dir)) in names.iter().enumerate().skip(offset as usize) {
            let child = s.ino_of(&p.join(name));
            let kind = if *dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            if reply.add(INodeNo(child), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.lock().sync_dir(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.lock();
        let result = s.path_of(parent).and_then(|p| {
            let rel = p.join(name);
            let mut o = open_options(flags);
            o.create(true).mode(mode & 0o7777);
            if flags & libc::O_EXCL != 0 {
                o.create_new(true);
            }
            let f = o.open(s.full(&rel)).map_err(Errno::from)?;
            let a = s.entry_attr(&rel)?;
            Ok((f, a))
        });
        match result {
            Ok((f, a)) => {
                let fh = s.next_fh;
                s.next_fh += 1;
                s.files.insert(fh, f);
                reply.created(&TTL, &a, Generation(0), FileHandle(fh), FopenFlags::empty());
            }
            Err(e) => reply.error(e),
        }
    }
}

impl Fs {
    fn remove(&self, parent: INodeNo, name: &OsStr, dir: bool, reply: ReplyEmpty) {
        let mut s = self.lock();
        let result = s.path_of(parent).and_then(|p| {
            let rel = p.join(name);
            let full = s.full(&rel);
            if dir {
                fs::remove_dir(full)
            } else {
                fs::remove_file(full)
            }
            .map_err(Errno::from)?;
            if let Some(ino) = s.by_path.remove(&rel) {
                if let Some(n) = s.nodes.get_mut(&ino) {
                    n.path = None;
                }
            }
            s.unlinked
                .entry(parent.0)
                .or_default()
                .push(name.to_os_string());
            if !dir {
                s.freeze_if(&rel).map_err(Errno::from)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// A mounted [`Fs`]: the test's handle on what the disk holds.
pub struct PowerLossFs {
    state: Arc<Mutex<State>>,
    session: Option<BackgroundSession>,
    mountpoint: PathBuf,
}

impl PowerLossFs {
    /// Mounts a filesystem over `backing` (whose current content counts as
    /// durable) at `mountpoint`, both existing directories; every `FSYNC` takes
    /// `fsync_delay` before it is answered.
    pub fn mount(
        backing: &Path,
        mountpoint: &Path,
        fsync_delay: Duration,
    ) -> std::io::Result<PowerLossFs> {
        let mut state = State {
            backing: backing.to_path_buf(),
            next_ino: INodeNo::ROOT.0,
            next_fh: 1,
            ..State::default()
        };
        state.adopt(Path::new(""))?;
        let state = Arc::new(Mutex::new(state));
        let fs = Fs {
            state: state.clone(),
            fsync_delay,
        };
        let mut config = Config::default();
        config.mount_options = vec![MountOption::FSName("corekv-powerloss".into())];
        let session = fuser::spawn_mount(fs, mountpoint, &config)?;
        Ok(PowerLossFs {
            state,
            session: Some(session),
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("powerloss fs state")
    }

    /// `FSYNC` requests answered so far for the file at `rel` (relative to the mount).
    pub fn fsyncs(&self, rel: &Path) -> u64 {
        self.lock().fsyncs.get(rel).copied().unwrap_or(0)
    }

    /// When the syncs of the file at `rel` were done, oldest first.
    pub fn sync_times(&self, rel: &Path) -> Vec<Instant> {
        self.lock().synced_at.get(rel).cloned().unwrap_or_default()
    }

    /// Bytes of `rel` that survive a power loss (its length at its last sync).
    pub fn durable_len(&self, rel: &Path) -> u64 {
        self.lock().durable_len.get(rel).copied().unwrap_or(0)
    }

    /// Writes into `out` (created) what the disk holds after a power loss now.
    pub fn crash_image(
        &self,
        out: &Path,
        loss: Loss,
        names: Names,
        rng: &mut impl Rng,
    ) -> std::io::Result<()> {
        self.lock()
            .materialize(INodeNo::ROOT.0, out, loss, names, rng)
    }

    /// Arranges for the power to go out, in effect, right after the first unlink
    /// of a file whose path contains `pattern`: the crash image of that moment is
    /// written into `out` (the filesystem carries on serving).
    pub fn crash_image_at_unlink(
        &self,
        pattern: &str,
        out: &Path,
        loss: Loss,
        names: Names,
        seed: u64,
    ) {
        self.lock().freeze = Some(Freeze {
            pattern: pattern.to_string(),
            out: out.to_path_buf(),
            loss,
            names,
            seed,
            taken: false,
        });
    }

    /// Whether the image [`PowerLossFs::crash_image_at_unlink`] asked for was taken.
    pub fn crash_image_taken(&self) -> bool {
        self.lock().freeze.as_ref().is_some_and(|f| f.taken)
    }

    /// Unmounts; with nothing left open on the mount this returns at once.
    pub fn unmount(mut self) {
        self.detach();
    }

    fn detach(&mut self) {
        if let Some(session) = self.session.take() {
            if session.umount_and_join().is_err() {
                let path = std::ffi::CString::new(self.mountpoint.as_os_str().as_encoded_bytes())
                    .expect("mount point without NUL");
                // SAFETY: a lazy unmount of a path we mounted; the string outlives the call.
                unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

impl Drop for PowerLossFs {
    fn drop(&mut self) {
        self.detach();
    }
}
