//! The floor of a Redis-protocol server on io_uring: one thread, one ring, every
//! request answered `+OK` without being run. `bench/suite.py` measures
//! `corekv-server --canned-reply` (the same answer, through corekv's driver and
//! session) against it, so the CPU per request between the two is what corekv's
//! network path costs above the kernel's.
//!
//! ```text
//!  listener ──multishot accept──► conn ──multishot recv (provided buffers)──► frame
//!                                   ▲                                          │
//!                                   └──────── send `+OK` × requests ◄──────────┘
//! ```
//!
//! The ring is set up as corekv's driver sets up its own (`SINGLE_ISSUER |
//! DEFER_TASKRUN | TASKRUN_FLAG`, entered by its index among the thread's
//! registered rings, each socket in its table of files at the slot of its
//! descriptor's number); received bytes land in a ring of provided buffers, handed
//! back once per loop turn; a request that straddles two buffers
//! waits in its connection's carry-over; the replies a loop turn produced for a
//! connection go out in one send, the next send only after it completed.
//!
//!     cargo run --release -p corekv-loadgen --example raw_uring -- --port 7000
//!
//! Requests are RESP arrays of bulk strings (what redis-benchmark and
//! corekv-loadgen send) or inline lines; a malformed request closes its
//! connection.

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::{cqueue, opcode, squeue, types, IoUring};

/// Submission queue entries of the ring.
const RING_ENTRIES: u32 = 256;
/// Completion queue entries: room for a turn's completions of many connections.
const RING_CQ_ENTRIES: u32 = 4096;
/// The buffer group of the receive buffers.
const BUFFER_GROUP: u16 = 0;
/// Receive buffers (a power of two, as the kernel requires).
const BUFFERS: u16 = 512;
/// Bytes per receive buffer: one page.
const BUFFER_BYTES: usize = 4096;
/// The answer to every request.
const REPLY: &[u8] = b"+OK\r\n";
/// Digits of the longest length a request may give (a bulk of up to 512 MB).
const LENGTH_DIGITS_MAX: usize = 9;
/// Where the operation sits in a completion's user data; the descriptor is below.
const OP_SHIFT: u32 = 32;
const OP_ACCEPT: u64 = 1;
const OP_RECV: u64 = 2;
const OP_SEND: u64 = 3;
/// Slots in the ring's table of files: descriptors up to this are registered.
const FILE_SLOTS: u32 = 4096;
/// `io_uring_enter`'s flags: reap completions; the ring named by its registered
/// index.
const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_REGISTERED_RING: u32 = 16;
/// `io_uring_register`'s opcode registering ring descriptors with the thread.
const IORING_REGISTER_RING_FDS: libc::c_uint = 20;
/// The address served unless `--bind` says otherwise.
const DEFAULT_BIND: &str = "127.0.0.1";

fn main() {
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("raw_uring: {message}\nusage: raw_uring --port PORT [--bind ADDR]");
            std::process::exit(2);
        }
    };
    if let Err(e) = serve(addr) {
        eprintln!("raw_uring: {e}");
        std::process::exit(1);
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let (mut bind, mut port) = (DEFAULT_BIND.to_string(), None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = Some(value.parse::<u16>().map_err(|e| format!("--port: {e}"))?),
            "--bind" => bind = value,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let port = port.ok_or("--port is required")?;
    format!("{bind}:{port}")
        .parse()
        .map_err(|e| format!("--bind: {e}"))
}

/// One client connection.
struct Conn {
    fd: OwnedFd,
    /// The start of a request whose end has not arrived yet.
    carry: Vec<u8>,
    /// Replies not yet handed to a send.
    out: Vec<u8>,
    /// The bytes being sent, and how many of them went.
    inflight: Vec<u8>,
    sent: usize,
    /// A send is in flight.
    sending: bool,
    /// The multishot receive is armed.
    receiving: bool,
    /// The peer closed or reset, or sent what is not RESP: closed once neither a
    /// receive nor a send is in flight.
    done: bool,
}

struct Server {
    ring: IoUring,
    bufs: BufRing,
    listener: TcpListener,
    /// Connections by descriptor.
    conns: Vec<Option<Conn>>,
    /// Connections given replies this turn.
    dirty: Vec<RawFd>,
    /// This turn's completions: user data, result, flags.
    completions: Vec<(u64, i32, u32)>,
}

fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let ring = IoUring::builder()
        .setup_cqsize(RING_CQ_ENTRIES)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .build(RING_ENTRIES)?;
    let bufs = BufRing::register(&ring)?;
    ring.submitter().register_files_sparse(FILE_SLOTS)?;
    let ring_index = register_ring(&ring)?;
    let listener = TcpListener::bind(addr)?;
    eprintln!("raw_uring: answering +OK on {addr}");
    let mut server = Server {
        ring,
        bufs,
        listener,
        conns: Vec::new(),
        dirty: Vec::new(),
        completions: Vec::new(),
    };
    server.accept();
    loop {
        let pending = server.ring.submission().len();
        enter(ring_index, pending, 1)?;
        server.turn();
    }
}

/// Registers the ring with this thread; its index there.
fn register_ring(ring: &IoUring) -> std::io::Result<libc::c_int> {
    // The kernel's `io_uring_rsrc_update`: offset, reserved, data.
    let mut update: [u32; 4] = [u32::MAX, 0, ring.as_raw_fd() as u32, 0];
    // SAFETY: io_uring_register(2) reads and writes back one update that lives
    // across the call.
    let registered = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring.as_raw_fd(),
            IORING_REGISTER_RING_FDS,
            update.as_mut_ptr(),
            1,
        )
    };
    match registered {
        1 => Ok(update[0] as libc::c_int),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Submits `pending` entries and waits for `wait_for` completions, an
/// interrupted wait being no error.
fn enter(ring_index: libc::c_int, pending: usize, wait_for: u32) -> std::io::Result<()> {
    let flags = IORING_ENTER_GETEVENTS | IORING_ENTER_REGISTERED_RING;
    // SAFETY: io_uring_enter(2) with no argument.
    let entered = unsafe {
        libc::syscall(
            libc::SYS_io_uring_enter,
            ring_index,
            pending as libc::c_uint,
            wait_for,
            flags,
            std::ptr::null::<libc::c_void>(),
            0usize,
        )
    };
    match entered {
        n if n >= 0 => Ok(()),
        _ => match std::io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::EINTR) => Ok(()),
            e => Err(e),
        },
    }
}

/// Whether the socket `fd` has a slot in the ring's table (registered in
/// [`Server::accepted`]): its entries then name it by slot, else by descriptor.
fn fixed(fd: RawFd) -> bool {
    (fd as u32) < FILE_SLOTS
}

impl Server {
    /// Runs the completions that arrived, hands the buffers back and sends the
    /// replies the turn produced.
    fn turn(&mut self) {
        let mut completions = std::mem::take(&mut self.completions);
        completions.extend(
            self.ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags())),
        );
        for &(data, res, flags) in &completions {
            let fd = (data & ((1 << OP_SHIFT) - 1)) as RawFd;
            match data >> OP_SHIFT {
                OP_ACCEPT => self.accepted(res, flags),
                OP_RECV => self.received(fd, res, flags),
                OP_SEND => self.sent(fd, res),
                op => unreachable!("completion of unknown operation {op}"),
            }
        }
        completions.clear();
        self.completions = completions;
        self.bufs.publish();
        let dirty = std::mem::take(&mut self.dirty);
        for &fd in &dirty {
            self.flush(fd);
        }
        self.dirty = dirty;
        self.dirty.clear();
    }

    fn push(&mut self, entry: squeue::Entry) {
        // SAFETY: every buffer an entry points to (a connection's `inflight`, the
        // provided buffers) stays in place until the entry's last completion.
        while unsafe { self.ring.submission().push(&entry) }.is_err() {
            self.ring.submit().expect("io_uring_enter failed");
        }
    }

    fn accept(&mut self) {
        let fd = self.listener.as_raw_fd();
        let entry = opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(OP_ACCEPT << OP_SHIFT);
        self.push(entry);
    }

    fn receive(&mut self, fd: RawFd) {
        if let Some(conn) = self.conns[fd as usize].as_mut() {
            conn.receiving = true;
        }
        let entry = match fixed(fd) {
            true => opcode::RecvMulti::new(types::Fixed(fd as u32), BUFFER_GROUP).build(),
            false => opcode::RecvMulti::new(types::Fd(fd), BUFFER_GROUP).build(),
        }
        .user_data(OP_RECV << OP_SHIFT | fd as u64);
        self.push(entry);
    }

    fn accepted(&mut self, res: i32, flags: u32) {
        if res >= 0 {
            // SAFETY: the descriptor of a connection the kernel just accepted.
            let fd = unsafe { OwnedFd::from_raw_fd(res) };
            set_nodelay(&fd);
            if fixed(res) {
                self.ring
                    .submitter()
                    .register_files_update(res as u32, &[res])
                    .expect("register the socket");
            }
            let index = res as usize;
            if self.conns.len() <= index {
                self.conns.resize_with(index + 1, || None);
            }
            self.conns[index] = Some(Conn {
                fd,
                carry: Vec::new(),
                out: Vec::new(),
                inflight: Vec::new(),
                sent: 0,
                sending: false,
                receiving: false,
                done: false,
            });
            self.receive(res);
        } else {
            eprintln!(
                "raw_uring: accept: {}",
                std::io::Error::from_raw_os_error(-res)
            );
        }
        if !cqueue::more(flags) {
            self.accept();
        }
    }

    fn received(&mut self, fd: RawFd, res: i32, flags: u32) {
        let conn = self.conns[fd as usize]
            .as_mut()
            .expect("receive of a closed fd");
        if res > 0 {
            let bid = cqueue::buffer_select(flags).expect("a receive without its buffer");
            let data = self.bufs.filled(bid, res as usize);
            let framed = if conn.carry.is_empty() {
                let framed = frame(data);
                if let Some((_, used)) = framed {
                    conn.carry.extend_from_slice(&data[used..]);
                }
                framed
            } else {
                conn.carry.extend_from_slice(data);
                let framed = frame(&conn.carry);
                if let Some((_, used)) = framed {
                    conn.carry.drain(..used);
                }
                framed
            };
            self.bufs.give_back(bid);
            match framed {
                Some((requests, _)) if requests > 0 => {
                    for _ in 0..requests {
                        conn.out.extend_from_slice(REPLY);
                    }
                    self.dirty.push(fd);
                }
                Some(_) => {}
                None => {
                    conn.done = true;
                    // SAFETY: shuts the connection's own socket down, which ends
                    // its receive.
                    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
                }
            }
        } else if res != -libc::ENOBUFS {
            conn.done = true;
        }
        if !cqueue::more(flags) {
            conn.receiving = false;
            if conn.done {
                self.dirty.push(fd);
            } else {
                self.receive(fd);
            }
        }
    }

    fn sent(&mut self, fd: RawFd, res: i32) {
        let conn = self.conns[fd as usize]
            .as_mut()
            .expect("send on a closed fd");
        conn.sending = false;
        if res < 0 {
            conn.done = true;
            conn.out.clear();
            conn.inflight.clear();
        } else {
            conn.sent += res as usize;
            if conn.sent == conn.inflight.len() {
                conn.inflight.clear();
            }
        }
        self.flush(fd);
    }

    /// Sends what the connection owes unless a send is in flight; closes a
    /// finished connection once nothing is.
    fn flush(&mut self, fd: RawFd) {
        let Some(conn) = self.conns[fd as usize].as_mut() else {
            return;
        };
        if conn.sending {
            return;
        }
        if conn.inflight.is_empty() {
            if conn.out.is_empty() {
                if conn.done && !conn.receiving {
                    debug_assert_eq!(conn.fd.as_raw_fd(), fd);
                    if fixed(fd) {
                        // The table would hold the socket open.
                        let _ = self
                            .ring
                            .submitter()
                            .register_files_update(fd as u32, &[-1]);
                    }
                    self.conns[fd as usize] = None;
                }
                return;
            }
            std::mem::swap(&mut conn.inflight, &mut conn.out);
            conn.sent = 0;
        }
        conn.sending = true;
        let rest = &conn.inflight[conn.sent..];
        let (ptr, len) = (rest.as_ptr(), rest.len() as u32);
        let entry = match fixed(fd) {
            true => opcode::Send::new(types::Fixed(fd as u32), ptr, len),
            false => opcode::Send::new(types::Fd(fd), ptr, len),
        }
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(OP_SEND << OP_SHIFT | fd as u64);
        self.push(entry);
    }
}

/// The number of complete requests at the start of `buf` and the bytes they
/// take; None if the input is not RESP.
fn frame(buf: &[u8]) -> Option<(usize, usize)> {
    let (mut requests, mut used) = (0, 0);
    while let Some(len) = request_len(&buf[used..])? {
        requests += 1;
        used += len;
    }
    Some((requests, used))
}

/// The length of the request at the start of `buf`: Some(None) if it is not all
/// there yet, None if it is malformed.
fn request_len(buf: &[u8]) -> Option<Option<usize>> {
    let Some(&first) = buf.first() else {
        return Some(None);
    };
    if first != b'*' {
        return Some(buf.iter().position(|&b| b == b'\n').map(|end| end + 1));
    }
    let Some((args, mut pos)) = number(buf, 1)? else {
        return Some(None);
    };
    for _ in 0..args {
        match buf.get(pos) {
            None => return Some(None),
            Some(b'$') => {}
            Some(_) => return None,
        }
        let Some((len, after)) = number(buf, pos + 1)? else {
            return Some(None);
        };
        pos = after + len + 2;
        if pos > buf.len() {
            return Some(None);
        }
    }
    Some(Some(pos))
}

/// The decimal number at `start`, ended by CRLF, and the offset after the CRLF:
/// Some(None) if the CRLF has not arrived, None if it is not a number.
fn number(buf: &[u8], start: usize) -> Option<Option<(usize, usize)>> {
    let mut value = 0usize;
    for (i, &b) in buf.iter().enumerate().skip(start) {
        match b {
            b'0'..=b'9' if i - start < LENGTH_DIGITS_MAX => {
                value = value * 10 + usize::from(b - b'0');
            }
            b'\r' if i > start => {
                return match buf.get(i + 1) {
                    None => Some(None),
                    Some(b'\n') => Some(Some((value, i + 2))),
                    Some(_) => None,
                };
            }
            _ => return None,
        }
    }
    Some(None)
}

fn set_nodelay(fd: &OwnedFd) {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value of the size given.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The provided buffers the multishot receives fill, and the ring that lends them
/// to the kernel. Mapped once and never unmapped: the process ends with the loop.
struct BufRing {
    entries: *mut BufRingEntry,
    memory: *mut u8,
    /// The tail with the buffers given back since the last publish.
    tail: u16,
}

impl BufRing {
    fn register(ring: &IoUring) -> std::io::Result<BufRing> {
        let entries =
            map(usize::from(BUFFERS) * std::mem::size_of::<BufRingEntry>())?.cast::<BufRingEntry>();
        let memory = map(usize::from(BUFFERS) * BUFFER_BYTES)?;
        // SAFETY: a page-aligned mapping of BUFFERS entries that lives as long as
        // the process.
        unsafe {
            ring.submitter().register_buf_ring_with_flags(
                entries as u64,
                BUFFERS,
                BUFFER_GROUP,
                0,
            )?;
        }
        let mut bufs = BufRing {
            entries,
            memory,
            tail: 0,
        };
        for bid in 0..BUFFERS {
            bufs.give_back(bid);
        }
        bufs.publish();
        Ok(bufs)
    }

    /// The first `len` bytes of buffer `bid`, which a completion just named.
    fn filled(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < BUFFERS && len <= BUFFER_BYTES);
        // SAFETY: inside the mapping, written by the kernel before the completion
        // naming it; not written again before it is given back, which the caller
        // does after its last use of the slice.
        unsafe { std::slice::from_raw_parts(self.memory.add(usize::from(bid) * BUFFER_BYTES), len) }
    }

    fn give_back(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: a slot of the entries mapping past the tail the kernel has seen.
        let entry = unsafe { &mut *self.entries.add(slot) };
        // SAFETY: the buffer lies inside the mapping.
        let addr = unsafe { self.memory.add(usize::from(bid) * BUFFER_BYTES) };
        entry.set_addr(addr as u64);
        entry.set_len(BUFFER_BYTES as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Lets the kernel see the buffers given back (one release store).
    fn publish(&self) {
        // SAFETY: the tail field shared with the first entry, which the kernel
        // reads with an acquire load.
        let tail = unsafe { &*BufRingEntry::tail(self.entries).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }
}

fn map(bytes: usize) -> std::io::Result<*mut u8> {
    // SAFETY: a fresh anonymous private mapping.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    Ok(p.cast())
}

#[cfg(test)]
mod tests {
    use super::frame;

    #[test]
    fn frames_whole_requests_and_keeps_the_rest() {
        let get = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        assert_eq!(frame(get), Some((1, get.len())));
        let two = [&get[..], &get[..]].concat();
        assert_eq!(frame(&two), Some((2, two.len())));
        for cut in 0..get.len() {
            assert_eq!(
                frame(&two[..get.len() + cut]),
                Some((1, get.len())),
                "cut {cut}"
            );
        }
        assert_eq!(frame(b"PING\r\n*1\r\n$4\r\nPI"), Some((1, 6)));
        assert_eq!(frame(b"*1\r\n+PING\r\n"), None);
        assert_eq!(frame(b"*x\r\n"), None);
    }
}
