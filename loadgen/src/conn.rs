//! One client connection: connect and authenticate, then buffered non-blocking I/O.
//!
//! Set-up is blocking and done before the measurement starts: connect with a timeout,
//! then `AUTH` and `SELECT` as one pipelined batch. After that the socket is switched
//! to non-blocking mode and driven by its worker's event loop. A connection keeps:
//!
//! - an output buffer that requests are encoded into, flushed with one `write` per
//!   batch;
//! - an input buffer replies are framed from in place (it only grows for a reply
//!   larger than itself);
//! - the FIFO of requests in flight with the time each one's latency counts from,
//!   which RESP's in-order replies match one to one.

use crate::error::Error;
use crate::limits::{HANDSHAKE_TIMEOUT_MS, READ_CHUNK_BYTES, REPLY_BYTES_MAX};
use crate::resp::{self, Frame, FrameError, ReplyKind};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Credentials for `AUTH [user] password`.
#[derive(Clone, Debug)]
pub struct Auth {
    pub user: Option<String>,
    pub password: String,
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port` as the user wrote it, for messages.
    pub name: String,
    pub addrs: Vec<SocketAddr>,
    pub connect_timeout: Duration,
    pub auth: Option<Auth>,
    pub db: u32,
}

impl Target {
    pub fn resolve(
        host: &str,
        port: u16,
        connect_timeout: Duration,
        auth: Option<Auth>,
        db: u32,
    ) -> Result<Target, Error> {
        let name = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let resolve_error = |source| Error::Resolve {
            target: name.clone(),
            source,
        };
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(resolve_error)?
            .collect();
        if addrs.is_empty() {
            let source = io::Error::new(io::ErrorKind::NotFound, "no address");
            return Err(resolve_error(source));
        }
        Ok(Target {
            name,
            addrs,
            connect_timeout,
            auth,
            db,
        })
    }

    /// Opens a blocking, authenticated socket with the database selected.
    pub fn connect(&self) -> Result<TcpStream, Error> {
        let mut last_error = None;
        for addr in &self.addrs {
            match TcpStream::connect_timeout(addr, self.connect_timeout) {
                Ok(stream) => {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| self.connect_error(e))?;
                    self.handshake(&stream)?;
                    return Ok(stream);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(self.connect_error(last_error.expect("resolve returns at least one address")))
    }

    fn connect_error(&self, source: io::Error) -> Error {
        Error::Connect {
            target: self.name.clone(),
            source,
        }
    }

    fn handshake(&self, mut stream: &TcpStream) -> Result<(), Error> {
        let mut request = Vec::new();
        let mut commands = Vec::new();
        if let Some(auth) = &self.auth {
            match &auth.user {
                Some(user) => resp::encode_command(
                    &mut request,
                    &[b"AUTH", user.as_bytes(), auth.password.as_bytes()],
                ),
                None => resp::encode_command(&mut request, &[b"AUTH", auth.password.as_bytes()]),
            }
            commands.push("AUTH");
        }
        if self.db != 0 {
            resp::encode_command(&mut request, &[b"SELECT", self.db.to_string().as_bytes()]);
            commands.push("SELECT");
        }
        if commands.is_empty() {
            return Ok(());
        }
        let timeout = Some(Duration::from_millis(HANDSHAKE_TIMEOUT_MS));
        stream
            .set_read_timeout(timeout)
            .map_err(|e| self.connect_error(e))?;
        stream
            .write_all(&request)
            .map_err(|e| self.connect_error(e))?;
        let mut replies = Vec::new();
        for command in commands {
            let reply =
                read_blocking_reply(stream, &mut replies).map_err(|e| self.connect_error(e))?;
            if reply.starts_with(b"-") {
                return Err(Error::Handshake {
                    target: self.name.clone(),
                    command,
                    reply: String::from_utf8_lossy(resp::error_text(&reply)).into_owned(),
                });
            }
        }
        stream
            .set_read_timeout(None)
            .map_err(|e| self.connect_error(e))
    }
}

/// Reads until `buffered` starts with a whole reply; removes and returns it.
fn read_blocking_reply(mut stream: &TcpStream, buffered: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    const HANDSHAKE_READS_MAX: usize = 1_024;
    for _ in 0..HANDSHAKE_READS_MAX {
        match resp::check(buffered) {
            Ok(frame) => return Ok(buffered.drain(..frame.len_bytes).collect()),
            Err(FrameError::Incomplete) => {}
            Err(FrameError::Protocol(e)) => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
            }
        }
        let mut chunk = [0u8; 4_096];
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buffered.extend_from_slice(&chunk[..n]);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "handshake reply too long",
    ))
}

/// A request awaiting its reply.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    /// Index of the request's template in the workload.
    pub template: u32,
    /// Nanoseconds since the run's epoch that latency is measured from: the send time
    /// in closed loop, the scheduled time in open loop.
    pub start_ns: u64,
}

/// What one `read` brought.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    Data,
    WouldBlock,
    Closed,
}

pub struct Connection {
    stream: TcpStream,
    input: Vec<u8>,
    input_start: usize,
    input_end: usize,
    output: Vec<u8>,
    output_start: usize,
    /// The last write stopped at `WouldBlock`; the next write waits for `EPOLLOUT`.
    write_blocked: bool,
    pending: VecDeque<Pending>,
}

impl Connection {
    pub fn new(stream: TcpStream, pending_capacity: usize) -> io::Result<Connection> {
        stream.set_nonblocking(true)?;
        Ok(Connection {
            stream,
            input: vec![0; READ_CHUNK_BYTES],
            input_start: 0,
            input_end: 0,
            output: Vec::with_capacity(READ_CHUNK_BYTES),
            output_start: 0,
            write_blocked: false,
            pending: VecDeque::with_capacity(pending_capacity),
        })
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Buffer to encode the next request into; pair with [`Connection::sent`].
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// Records that a request was appended to the output buffer.
    pub fn sent(&mut self, pending: Pending) {
        self.pending.push_back(pending);
    }

    pub fn has_unflushed_output(&self) -> bool {
        self.output_start < self.output.len()
    }

    pub fn on_writable(&mut self) -> io::Result<()> {
        self.write_blocked = false;
        self.flush()
    }

    /// Writes buffered requests until done or the socket is full.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.write_blocked && self.has_unflushed_output() {
            match (&self.stream).write(&self.output[self.output_start..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.output_start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.write_blocked = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if !self.has_unflushed_output() {
            self.output.clear();
            self.output_start = 0;
        }
        Ok(())
    }

    /// One `read` into the input buffer, making room first.
    pub fn read_some(&mut self) -> io::Result<ReadStatus> {
        self.make_room()?;
        loop {
            match (&self.stream).read(&mut self.input[self.input_end..]) {
                Ok(0) => return Ok(ReadStatus::Closed),
                Ok(n) => {
                    self.input_end += n;
                    return Ok(ReadStatus::Data);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadStatus::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next complete reply and the request it answers, if one has arrived.
    pub fn next_reply(&mut self) -> Result<Option<(Frame, Pending)>, ReplyError> {
        match resp::check(&self.input[self.input_start..self.input_end]) {
            Ok(frame) => {
                let pending = self.pending.pop_front().ok_or(ReplyError::Unexpected)?;
                self.input_start += frame.len_bytes;
                Ok(Some((frame, pending)))
            }
            Err(FrameError::Incomplete) => Ok(None),
            Err(FrameError::Protocol(e)) => Err(ReplyError::Protocol(e)),
        }
    }

    /// The text of the error reply `frame` just returned by `next_reply`.
    pub fn last_error_text(&self, frame: Frame) -> &[u8] {
        assert_eq!(frame.kind, ReplyKind::Error);
        resp::error_text(&self.input[self.input_start - frame.len_bytes..self.input_start])
    }

    /// Moves a partial reply to the front of the input buffer and grows the buffer
    /// when a single reply fills it.
    fn make_room(&mut self) -> io::Result<()> {
        if self.input_start == self.input_end {
            self.input_start = 0;
            self.input_end = 0;
        } else if self.input_start > 0 && self.input.len() - self.input_end < READ_CHUNK_BYTES / 2 {
            self.input.copy_within(self.input_start..self.input_end, 0);
            self.input_end -= self.input_start;
            self.input_start = 0;
        }
        if self.input_end == self.input.len() {
            let grown = self.input.len() * 2;
            if grown > REPLY_BYTES_MAX + READ_CHUNK_BYTES {
                let message = format!("reply larger than {REPLY_BYTES_MAX} bytes");
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            self.input.resize(grown, 0);
        }
        Ok(())
    }
}

/// Why the input could not be matched to a request.
#[derive(Clone, Copy, Debug)]
pub enum ReplyError {
    Protocol(resp::ProtocolError),
    Unexpected,
}
