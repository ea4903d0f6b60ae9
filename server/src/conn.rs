//! A client connection: read, frame every complete request in the buffer, run them as
//! one batch, write all replies with one write.
//!
//! The connection logic sees bytes in and bytes out; the socket layer is glommio's
//! `TcpStream` and can be swapped for a raw io_uring driver without touching it.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::BytesMut;
use corekv_engine::command::CommandSpec;
use corekv_engine::resp::{parse, Args, Frame, Protocol, ProtocolError, Reply, ReplyBuf};
use futures::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use crate::clients::ClientInfo;
use crate::core::Core;

/// Bytes read from the socket per read call.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Most requests framed into one batch before running it.
const BATCH_COMMANDS_MAX: usize = 1024;
/// Output buffer capacity kept between batches; a larger one is released.
const OUTPUT_RETAIN_BYTES: usize = 64 * 1024;

/// Per-connection state the command handlers see.
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub authenticated: bool,
    /// Set by `QUIT`: stop after writing this batch's replies.
    pub closing: bool,
    pub info: Rc<RefCell<ClientInfo>>,
    /// What a replica announced with `REPLCONF listening-port` / `ip-address`.
    pub replica_port: u16,
    pub replica_ip: Option<String>,
    /// Set by `CKV.SYNC`: the connection becomes a replication stream.
    pub handover: Option<crate::repl_master::HandOver>,
}

impl Client {
    pub fn note_command(&mut self, spec: &'static CommandSpec) {
        let mut info = self.info.borrow_mut();
        info.last_cmd = spec.name;
        info.last_active = Instant::now();
    }

    pub fn set_db(&mut self, db: usize) {
        self.db = db;
        self.info.borrow_mut().db = db;
    }
}

/// Serves one accepted connection until it closes.
pub async fn serve(core: Rc<Core>, stream: TcpStream) {
    let global = core.global.clone();
    let (Ok(addr), Ok(laddr)) = (stream.peer_addr(), stream.local_addr()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut stream = stream;
    if let Some(reject) = admission_error(&core, &addr) {
        let _ = stream.write_all(reject.as_bytes()).await;
        global.rejected_connections.fetch_add(1, Ordering::Relaxed);
        return;
    }
    global.connected_clients.fetch_add(1, Ordering::Relaxed);
    global.total_connections.fetch_add(1, Ordering::Relaxed);
    let id = global.next_client_id.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    let info = Rc::new(RefCell::new(ClientInfo {
        id,
        addr,
        laddr,
        fd: std::os::fd::AsRawFd::as_raw_fd(&stream),
        name: String::new(),
        lib_name: String::new(),
        lib_ver: String::new(),
        created: now,
        last_active: now,
        db: 0,
        last_cmd: "NULL",
        resp: 2,
        qbuf: 0,
        pubsub: false,
    }));
    core.clients.borrow_mut().add(info.clone());
    let mut client = Client {
        id,
        db: 0,
        authenticated: false,
        closing: false,
        info,
        replica_port: 0,
        replica_ip: None,
        handover: None,
    };
    let result = session(&core, &mut client, &mut stream).await;
    if let Err(e) = &result {
        log::debug!("client {id} ({addr}) closed: {e}");
    }
    core.clients.borrow_mut().remove(id);
    global.connected_clients.fetch_sub(1, Ordering::Relaxed);
    if let (Ok(()), Some(handover)) = (result, client.handover.take()) {
        crate::repl_master::hand_over(&core, stream, handover).await;
    }
}

/// Protected mode and `maxclients`: Redis's refusal texts, or `None` to admit.
fn admission_error(core: &Core, addr: &std::net::SocketAddr) -> Option<String> {
    let hot = &core.global.config.hot;
    if hot.protected_mode.load(Ordering::Relaxed)
        && !hot.auth_required.load(Ordering::Relaxed)
        && !addr.ip().is_loopback()
    {
        return Some("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n".into());
    }
    if core.global.connected_clients.load(Ordering::Relaxed)
        >= hot.maxclients.load(Ordering::Relaxed)
    {
        return Some("-ERR max number of clients reached\r\n".into());
    }
    None
}

/// Why a session ended other than by the client closing it.
#[derive(Debug)]
enum End {
    Io(std::io::Error),
    Protocol,
    QueryBufferLimit,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Io(e) => write!(f, "{e}"),
            End::Protocol => write!(f, "protocol error"),
            End::QueryBufferLimit => write!(f, "query buffer limit reached"),
        }
    }
}

async fn session(core: &Rc<Core>, client: &mut Client, stream: &mut TcpStream) -> Result<(), End> {
    let hot = &core.global.config.hot;
    let mut scratch = vec![0u8; READ_CHUNK_BYTES];
    let mut input = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out = ReplyBuf::with_capacity(Protocol::Resp2, READ_CHUNK_BYTES);
    let mut frames: Vec<(usize, Frame)> = Vec::new();
    loop {
        let n = stream.read(&mut scratch).await.map_err(End::Io)?;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&scratch[..n]);
        core.stats.borrow_mut().net_input_bytes += n as u64;
        let max_bulk = hot.proto_max_bulk_len.load(Ordering::Relaxed);
        loop {
            let (consumed, error) = frame_batch(&input, max_bulk, &mut frames);
            let batch = take_batch(&mut input, consumed, &mut frames);
            if !batch.is_empty() {
                crate::dispatch::run_batch(core, client, batch, &mut out).await;
            }
            if let Some(e) = &error {
                out.error(&e.message());
                core.stats.borrow_mut().protocol_errors += 1;
                log::debug!("client {}: {}", client.id, e.message());
            }
            if !out.is_empty() {
                stream.write_all(&out).await.map_err(End::Io)?;
                core.stats.borrow_mut().net_output_bytes += out.len() as u64;
                out.clear();
                if out.capacity() > OUTPUT_RETAIN_BYTES {
                    out = ReplyBuf::with_capacity(out.protocol(), READ_CHUNK_BYTES);
                }
            }
            if error.is_some() {
                return Err(End::Protocol);
            }
            if client.closing {
                return Ok(());
            }
            // A full batch may have left more complete requests in the buffer.
            if consumed == 0 || input.is_empty() {
                break;
            }
        }
        client.info.borrow_mut().qbuf = input.len();
        if input.len() as u64 > hot.query_buffer_limit.load(Ordering::Relaxed) {
            log::warn!(
                "closing client {} that reached max query buffer length",
                client.id
            );
            return Err(End::QueryBufferLimit);
        }
    }
}

/// Frames complete requests from the start of `input`, up to a batch's worth.
/// Returns the bytes they span and the protocol error that stopped framing, if any.
fn frame_batch(
    input: &[u8],
    max_bulk: u64,
    frames: &mut Vec<(usize, Frame)>,
) -> (usize, Option<ProtocolError>) {
    let mut consumed = 0;
    while frames.len() < BATCH_COMMANDS_MAX {
        match parse(&input[consumed..], max_bulk) {
            Ok(Some(frame)) => {
                let start = consumed;
                consumed += frame.consumed;
                frames.push((start, frame));
            }
            Ok(None) => break,
            Err(e) => return (consumed, Some(e)),
        }
    }
    (consumed, None)
}

/// Splits the framed bytes off `input` and slices each request's arguments out of
/// them without copying. Empty requests are dropped, as Redis does.
fn take_batch(
    input: &mut BytesMut,
    consumed: usize,
    frames: &mut Vec<(usize, Frame)>,
) -> Vec<Args> {
    if consumed == 0 {
        frames.clear();
        return Vec::new();
    }
    let bytes = input.split_to(consumed).freeze();
    frames
        .drain(..)
        .filter(|(_, f)| !f.args.is_empty())
        .map(|(start, f)| f.to_args(&bytes, start))
        .collect()
}
