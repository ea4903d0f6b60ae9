//! The handshake a replica sends on each shard stream, and the master's replies, as
//! RESP: each command is a type that encodes itself (replica side) and parses itself
//! from a request's arguments (master side), so both sides share one definition.
//!
//! ```text
//!  replica                                          master
//!  AUTH [<masteruser>] <masterauth>   (optional) ─► +OK
//!  REPLCONF listening-port <port>                ─► +OK
//!  REPLCONF ip-address <ip>           (optional) ─► +OK
//!  CKV.SYNC <shard> <shards> <replid> <next_lsn> 2
//!                                                ─► +CONTINUE <replid> <next_lsn>
//!                                                   | +FULLRESYNC <replid> <snapshot_lsn>
//!                                                   | -ERR ...
//!  ... later, on the same stream:
//!  REPLCONF ACK <shard> <lsn> <run> <checkpoint> ─► (no reply)
//! ```
//!
//! The last word of `CKV.SYNC` is the protocol version ([`PROTOCOL_VERSION`]). A
//! master refuses any other, and a request without one (protocol 1, before
//! checkpoints, whose replicas would not know the `CHECKPOINT` frame), with an
//! error that names both versions, so mixed versions fail at the handshake.
//!
//! The replica pipelines the whole handshake in one write ([`Handshake::start`]) and
//! reads the replies in order ([`Handshake::read`]); the first error ends it. A
//! replica with no history sends replid `?` and `next_lsn` 1. Right after the
//! `CKV.SYNC` reply's CRLF the stream switches to binary frames ([`crate::frame`]).
//!
//! `AUTH` is the server's ordinary command. `REPLCONF` and `CKV.SYNC` belong in the
//! server's command table (`REPLCONF` arity -3, `CKV.SYNC` arity -5, both `admin`,
//! `noscript`, `loading-ok`, `stale-ok`); their handlers call [`Replconf::parse`] and
//! [`SyncRequest::parse`], and errors become replies through
//! [`RequestError::message`].

use std::fmt;

use bytes::Bytes;
use corekv_engine::cursor::ArgCursor;
use corekv_engine::resp::{parse_u64, Request};

use crate::id::ReplId;

/// Most shards a node may have: transaction parts name shards as `u16`.
pub const SHARDS_MAX: usize = 1 << 16;
/// Longest `REPLCONF ip-address` value (Redis's `NET_HOST_STR_LEN` less its NUL).
pub const IP_ADDRESS_BYTES_MAX: usize = 255;
/// Longest reply line the replica reads during the handshake.
pub const HANDSHAKE_LINE_BYTES_MAX: usize = 4096;
/// The replication protocol this build speaks, the last word of `CKV.SYNC`:
/// 2 added the `CHECKPOINT` frame and the checkpoint in `REPLCONF ACK`.
pub const PROTOCOL_VERSION: u64 = 2;
/// The version of a `CKV.SYNC` without one.
const PROTOCOL_UNVERSIONED: u64 = 1;

/// `CKV.SYNC <shard> <shards> <replid> <next_lsn> <protocol>`: stream shard `shard` of a node
/// with `shards` shards, continuing history `replid` (`None`: `?`, nothing yet) from
/// `next_lsn`, the first LSN the replica does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRequest {
    pub shard: usize,
    pub shards: usize,
    pub replid: Option<ReplId>,
    pub next_lsn: u64,
}

impl SyncRequest {
    /// The request of a replica shard that has nothing yet.
    pub fn fresh(shard: usize, shards: usize) -> SyncRequest {
        SyncRequest {
            shard,
            shards,
            replid: None,
            next_lsn: 1,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut shard = itoa::Buffer::new();
        let mut shards = itoa::Buffer::new();
        let mut next = itoa::Buffer::new();
        let mut version = itoa::Buffer::new();
        out.array(6);
        out.bulk(b"CKV.SYNC");
        out.bulk(shard.format(self.shard).as_bytes());
        out.bulk(shards.format(self.shards).as_bytes());
        out.bulk(self.replid.as_ref().map_or(b"?", ReplId::as_bytes));
        out.bulk(next.format(self.next_lsn).as_bytes());
        out.bulk(version.format(PROTOCOL_VERSION).as_bytes());
    }

    /// Parses the arguments of a `CKV.SYNC` request, command name first.
    pub fn parse(args: &[Bytes]) -> Result<SyncRequest, RequestError<'_>> {
        let mut c = ArgCursor::new(args);
        let version = match c.remaining() {
            4 => PROTOCOL_UNVERSIONED,
            5 => number(args.get(5).ok_or(()))?,
            _ => return Err(RequestError::WrongArgs("ckv.sync")),
        };
        if version != PROTOCOL_VERSION {
            return Err(RequestError::Protocol(version));
        }
        let shard = number(c.arg())?;
        let shards = number(c.arg())?;
        if shards == 0 || shards > SHARDS_MAX as u64 || shard >= SHARDS_MAX as u64 {
            return Err(RequestError::InvalidShards);
        }
        let replid = match c.arg().map_err(|_| RequestError::InvalidReplId)? {
            id if id.as_ref() == b"?" => None,
            id => Some(ReplId::parse(id).ok_or(RequestError::InvalidReplId)?),
        };
        let next_lsn = number(c.arg())?;
        // One past the last LSN held, which is 0 (none) or a valid LSN.
        if next_lsn == 0 {
            return Err(RequestError::InvalidLsn);
        }
        Ok(SyncRequest {
            shard: shard as usize,
            shards: shards as usize,
            replid,
            next_lsn,
        })
    }
}

fn number<E>(arg: Result<&Bytes, E>) -> Result<u64, RequestError<'static>> {
    arg.ok()
        .and_then(|a| parse_u64(a))
        .ok_or(RequestError::NotInteger)
}

/// A `REPLCONF` the replica sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replconf<'a> {
    /// The replica's client port, for `INFO` (`slave0:...,port=`) and Sentinel.
    ListeningPort(u16),
    /// The address the replica announces instead of the one its stream comes from.
    IpAddress(&'a [u8]),
    /// The replica has applied shard `shard` up to `lsn`, and holds whole the
    /// checkpoint `checkpoint` of the master's run `run` (0, 0: none yet; see
    /// [`crate::checkpoint`]). Never answered.
    Ack {
        shard: usize,
        lsn: u64,
        run: u64,
        checkpoint: u64,
    },
}

impl Replconf<'_> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut a = itoa::Buffer::new();
        let mut b = itoa::Buffer::new();
        let mut c = itoa::Buffer::new();
        let mut d = itoa::Buffer::new();
        match *self {
            Replconf::ListeningPort(port) => {
                out.array(3);
                out.bulk(b"REPLCONF");
                out.bulk(b"listening-port");
                out.bulk(a.format(port).as_bytes());
            }
            Replconf::IpAddress(ip) => {
                assert!(ip_address_ok(ip));
                out.array(3);
                out.bulk(b"REPLCONF");
                out.bulk(b"ip-address");
                out.bulk(ip);
            }
            Replconf::Ack {
                shard,
                lsn,
                run,
                checkpoint,
            } => {
                out.array(6);
                out.bulk(b"REPLCONF");
                out.bulk(b"ACK");
                out.bulk(a.format(shard).as_bytes());
                out.bulk(b.format(lsn).as_bytes());
                out.bulk(c.format(run).as_bytes());
                out.bulk(d.format(checkpoint).as_bytes());
            }
        }
    }

    /// Whether the master answers this `REPLCONF` (`+OK`); an `ACK` gets no reply.
    pub fn answered(&self) -> bool {
        !matches!(self, Replconf::Ack { .. })
    }
}

impl<'a> Replconf<'a> {
    /// Parses the arguments of a `REPLCONF` request, command name first.
    pub fn parse(args: &'a [Bytes]) -> Result<Replconf<'a>, RequestError<'a>> {
        let mut c = ArgCursor::new(args);
        let wrong = RequestError::WrongArgs("replconf");
        let option = c.arg().map_err(|_| wrong)?;
        let replconf = if option.eq_ignore_ascii_case(b"listening-port") {
            let port = number(c.arg())?;
            match u16::try_from(port) {
                Ok(port) if port > 0 => Replconf::ListeningPort(port),
                _ => return Err(RequestError::NotInteger),
            }
        } else if option.eq_ignore_ascii_case(b"ip-address") {
            let ip = c.arg().map_err(|_| wrong)?;
            if !ip_address_ok(ip) {
                return Err(RequestError::InvalidIpAddress);
            }
            Replconf::IpAddress(ip)
        } else if option.eq_ignore_ascii_case(b"ack") {
            let shard = number(c.arg())?;
            let lsn = number(c.arg())?;
            let run = number(c.arg())?;
            let checkpoint = number(c.arg())?;
            if shard >= SHARDS_MAX as u64 {
                return Err(RequestError::InvalidShards);
            }
            Replconf::Ack {
                shard: shard as usize,
                lsn,
                run,
                checkpoint,
            }
        } else {
            return Err(RequestError::UnknownReplconfOption(option));
        };
        // One option per command: Redis takes several, this replica never sends them.
        c.finish().map_err(|_| RequestError::Syntax)?;
        Ok(replconf)
    }
}

/// An announced address goes into `INFO` lines (`slave0:ip=...,port=...`) that
/// Sentinel splits on commas, `=` and blanks: printable, none of those.
pub fn ip_address_ok(ip: &[u8]) -> bool {
    let printable = |c: &u8| c.is_ascii_graphic() && !matches!(c, b',' | b'=' | b':');
    (1..=IP_ADDRESS_BYTES_MAX).contains(&ip.len()) && ip.iter().all(printable)
}

/// `AUTH [<masteruser>] <masterauth>`, the replica's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    pub user: Option<&'a [u8]>,
    pub password: &'a [u8],
}

impl Auth<'_> {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.array(if self.user.is_some() { 3 } else { 2 });
        out.bulk(b"AUTH");
        if let Some(user) = self.user {
            out.bulk(user);
        }
        out.bulk(self.password);
    }
}

/// Why the master cannot take a `REPLCONF` or `CKV.SYNC` request; the bad bytes are
/// borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError<'a> {
    /// The command, in lower case as Redis quotes it.
    WrongArgs(&'static str),
    Syntax,
    NotInteger,
    InvalidShards,
    InvalidReplId,
    InvalidLsn,
    InvalidIpAddress,
    UnknownReplconfOption(&'a [u8]),
    /// A replica speaking another replication protocol version.
    Protocol(u64),
}

impl RequestError<'_> {
    /// The error reply, without `-` and CRLF.
    pub fn message(&self) -> String {
        match self {
            RequestError::WrongArgs(cmd) => {
                format!("ERR wrong number of arguments for '{cmd}' command")
            }
            RequestError::Syntax => "ERR syntax error".into(),
            RequestError::NotInteger => "ERR value is not an integer or out of range".into(),
            RequestError::InvalidShards => "ERR invalid shard or shard count".into(),
            RequestError::InvalidReplId => {
                "ERR invalid replication id: 40 hex characters or ?".into()
            }
            RequestError::InvalidLsn => "ERR invalid LSN".into(),
            RequestError::InvalidIpAddress => "ERR invalid ip-address".into(),
            RequestError::Protocol(version) => format!(
                "ERR replica speaks replication protocol {version}, this master speaks {PROTOCOL_VERSION}: run one corekv version on both"
            ),
            RequestError::UnknownReplconfOption(option) => format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(option)
            ),
        }
    }
}

/// The master's positive answer to `CKV.SYNC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncReply {
    /// `+CONTINUE <replid> <next_lsn>`: records from `next_lsn` follow.
    Continue { replid: ReplId, next_lsn: u64 },
    /// `+FULLRESYNC <replid> <snapshot_lsn>`: a snapshot at `snapshot_lsn` follows,
    /// then records from `snapshot_lsn + 1`.
    FullResync { replid: ReplId, snapshot_lsn: u64 },
}

impl SyncReply {
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (word, replid, lsn): (&[u8], _, _) = match *self {
            SyncReply::Continue { replid, next_lsn } => (b"+CONTINUE ", replid, next_lsn),
            SyncReply::FullResync {
                replid,
                snapshot_lsn,
            } => (b"+FULLRESYNC ", replid, snapshot_lsn),
        };
        out.extend_from_slice(word);
        out.extend_from_slice(replid.as_bytes());
        out.push(b' ');
        out.extend_from_slice(itoa::Buffer::new().format(lsn).as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// Parses a status line's text (after `+`, before CRLF).
    pub fn parse(status: &[u8]) -> Option<SyncReply> {
        let mut words = status.split(|&c| c == b' ');
        let (word, replid, lsn) = (words.next()?, words.next()?, words.next()?);
        if words.next().is_some() {
            return None;
        }
        let replid = ReplId::parse(replid)?;
        let lsn = parse_u64(lsn)?;
        match word {
            b"CONTINUE" if lsn >= 1 => Some(SyncReply::Continue {
                replid,
                next_lsn: lsn,
            }),
            b"FULLRESYNC" if lsn != u64::MAX => Some(SyncReply::FullResync {
                replid,
                snapshot_lsn: lsn,
            }),
            _ => None,
        }
    }

    pub fn replid(&self) -> ReplId {
        match *self {
            SyncReply::Continue { replid, .. } | SyncReply::FullResync { replid, .. } => replid,
        }
    }
}

/// What the replica sends on one stream before it syncs.
#[derive(Debug, Clone, Copy)]
pub struct HandshakeConfig<'a> {
    pub auth: Option<Auth<'a>>,
    pub listening_port: u16,
    pub ip_address: Option<&'a [u8]>,
    pub request: SyncRequest,
}

/// The replica's side of the handshake: the commands it sent, in order, and the
/// replies still due.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The commands whose replies are due, in the order sent; the last is `CKV.SYNC`.
    awaiting: Vec<&'static str>,
    next: usize,
    request: SyncRequest,
}

impl Handshake {
    /// Encodes the whole handshake into `out`, to be sent in one write.
    pub fn start(config: &HandshakeConfig, out: &mut Vec<u8>) -> Handshake {
        let mut awaiting = Vec::with_capacity(4);
        if let Some(auth) = config.auth {
            auth.encode(out);
            awaiting.push("AUTH");
        }
        Replconf::ListeningPort(config.listening_port).encode(out);
        awaiting.push("REPLCONF listening-port");
        if let Some(ip) = config.ip_address {
            Replconf::IpAddress(ip).encode(out);
            awaiting.push("REPLCONF ip-address");
        }
        config.request.encode(out);
        awaiting.push("CKV.SYNC");
        Handshake {
            awaiting,
            next: 0,
            request: config.request,
        }
    }

    pub fn request(&self) -> &SyncRequest {
        &self.request
    }

    /// Reads the replies at the start of `buf`. Returns the bytes used and, once
    /// the `CKV.SYNC` reply is in, that reply: the bytes after it are frames. Call
    /// again with more bytes while it returns `None`.
    pub fn read(&mut self, buf: &[u8]) -> Result<(usize, Option<SyncReply>), HandshakeError> {
        let mut used = 0;
        while let Some((line, n)) = reply_line(&buf[used..])? {
            used += n;
            let command = self.awaiting[self.next];
            self.next += 1;
            let text = match line {
                Line::Error(message) => {
                    return Err(HandshakeError::Refused {
                        command,
                        message: lossy(message),
                    })
                }
                Line::Status(text) => text,
            };
            let last = self.next == self.awaiting.len();
            if !last {
                if text != b"OK" {
                    return Err(HandshakeError::UnexpectedReply {
                        command,
                        reply: lossy(text),
                    });
                }
                continue;
            }
            let reply = SyncReply::parse(text).ok_or_else(|| HandshakeError::UnexpectedReply {
                command,
                reply: lossy(text),
            })?;
            return Ok((used, Some(reply)));
        }
        Ok((used, None))
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

enum Line<'a> {
    Status(&'a [u8]),
    Error(&'a [u8]),
}

/// One `+...` or `-...` line from the start of `buf`, and the bytes it took.
fn reply_line(buf: &[u8]) -> Result<Option<(Line<'_>, usize)>, HandshakeError> {
    let Some(first) = buf.first() else {
        return Ok(None);
    };
    let window = &buf[..buf.len().min(HANDSHAKE_LINE_BYTES_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        if window.len() == HANDSHAKE_LINE_BYTES_MAX {
            return Err(HandshakeError::LineTooLong);
        }
        return Ok(None);
    };
    let text = &buf[1..end];
    let line = match first {
        b'+' => Line::Status(text),
        b'-' => Line::Error(text),
        other => return Err(HandshakeError::NotAStatusLine(*other)),
    };
    Ok(Some((line, end + 2)))
}

/// Why the handshake failed, on the replica's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The master answered `command` with an error: wrong password, shard counts
    /// that differ, a master too old to know `CKV.SYNC`.
    Refused {
        command: &'static str,
        message: String,
    },
    /// A status reply that is not the one `command` expects.
    UnexpectedReply {
        command: &'static str,
        reply: String,
    },
    /// A reply that is neither `+` nor `-`.
    NotAStatusLine(u8),
    /// No CRLF within [`HANDSHAKE_LINE_BYTES_MAX`] bytes.
    LineTooLong,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Refused { command, message } => {
                write!(f, "master refused {command}: {message}")
            }
            HandshakeError::UnexpectedReply { command, reply } => {
                write!(f, "unexpected reply to {command}: +{reply}")
            }
            HandshakeError::NotAStatusLine(c) => {
                write!(f, "handshake reply starts with byte {c}, not + or -")
            }
            HandshakeError::LineTooLong => write!(f, "handshake reply line too long"),
        }
    }
}

impl std::error::Error for HandshakeError {}

#[cfg(test)]
mod tests {
    use super::*;
    use corekv_engine::resp::parse;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn id(seed: u64) -> ReplId {
        ReplId::generate(&mut SmallRng::seed_from_u64(seed))
    }

    /// Frames one encoded request with the server's own parser.
    fn args_of(encoded: &[u8]) -> Vec<Bytes> {
        let frame = parse(encoded, 1 << 20).unwrap().expect("a whole request");
        assert_eq!(frame.consumed, encoded.len());
        let buf = Bytes::copy_from_slice(encoded);
        frame.to_args(&buf, 0).to_vec()
    }

    fn args(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn sync_requests_round_trip() {
        let requests = [
            SyncRequest::fresh(0, 1),
            SyncRequest {
                shard: 3,
                shards: 4,
                replid: Some(id(1)),
                next_lsn: 12345,
            },
            SyncRequest {
                shard: 65535,
                shards: 65536,
                replid: Some(id(2)),
                next_lsn: u64::MAX,
            },
        ];
        for request in requests {
            let mut out = Vec::new();
            request.encode(&mut out);
            assert_eq!(SyncRequest::parse(&args_of(&out)), Ok(request));
        }
        let mut out = Vec::new();
        SyncRequest::fresh(1, 2).encode(&mut out);
        assert_eq!(
            out,
            b"*6\r\n$8\r\nCKV.SYNC\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n?\r\n$1\r\n1\r\n$1\r\n2\r\n"
        );
    }

    #[test]
    fn bad_sync_requests_are_named() {
        let good = id(3).to_string();
        let cases: &[(&[&str], &str)] = &[
            (
                &["CKV.SYNC", "0", "1", "?"],
                "ERR wrong number of arguments for 'ckv.sync' command",
            ),
            (
                &["CKV.SYNC", "0", "1", "?", "1", "2", "x"],
                "ERR wrong number of arguments for 'ckv.sync' command",
            ),
            (
                &["CKV.SYNC", "0", "1", "?", "1"],
                "ERR replica speaks replication protocol 1, this master speaks 2: run one corekv version on both",
            ),
            (
                &["CKV.SYNC", "0", "1", "?", "1", "3"],
                "ERR replica speaks replication protocol 3, this master speaks 2: run one corekv version on both",
            ),
            (
                &["CKV.SYNC", "0", "1", "?", "1", "x"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["CKV.SYNC", "-1", "1", "?", "1", "2"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["CKV.SYNC", "0", "0", "?", "1", "2"],
                "ERR invalid shard or shard count",
            ),
            (
                &["CKV.SYNC", "0", "65537", "?", "1", "2"],
                "ERR invalid shard or shard count",
            ),
            (
                &["CKV.SYNC", "0", "1", "abc", "1", "2"],
                "ERR invalid replication id: 40 hex characters or ?",
            ),
            (&["CKV.SYNC", "0", "1", &good, "0", "2"], "ERR invalid LSN"),
            (
                &["CKV.SYNC", "0", "1", &good, "1x", "2"],
                "ERR value is not an integer or out of range",
            ),
        ];
        for (words, message) in cases {
            let args = args(words);
            let error = SyncRequest::parse(&args).expect_err("refused");
            assert_eq!(error.message(), *message, "{words:?}");
        }
    }

    #[test]
    fn replconf_round_trips_and_refuses_what_it_does_not_know() {
        for replconf in [
            Replconf::ListeningPort(6380),
            Replconf::IpAddress(b"10.0.0.7"),
            Replconf::Ack {
                shard: 7,
                lsn: u64::MAX,
                run: u64::MAX,
                checkpoint: 3,
            },
        ] {
            let mut out = Vec::new();
            replconf.encode(&mut out);
            let args = args_of(&out);
            assert_eq!(Replconf::parse(&args), Ok(replconf));
            assert_eq!(
                replconf.answered(),
                !matches!(replconf, Replconf::Ack { .. })
            );
        }
        let mut ack = Vec::new();
        Replconf::Ack {
            shard: 2,
            lsn: 99,
            run: 4,
            checkpoint: 0,
        }
        .encode(&mut ack);
        assert_eq!(
            ack,
            b"*6\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n2\r\n$2\r\n99\r\n$1\r\n4\r\n$1\r\n0\r\n"
        );
        let lower = args(&["replconf", "ack", "1", "5", "6", "7"]);
        assert_eq!(
            Replconf::parse(&lower),
            Ok(Replconf::Ack {
                shard: 1,
                lsn: 5,
                run: 6,
                checkpoint: 7
            })
        );
        let cases: &[(&[&str], &str)] = &[
            (
                &["REPLCONF"],
                "ERR wrong number of arguments for 'replconf' command",
            ),
            (
                &["REPLCONF", "capa", "eof"],
                "ERR Unrecognized REPLCONF option: capa",
            ),
            (
                &["REPLCONF", "listening-port", "0"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["REPLCONF", "listening-port", "65536"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["REPLCONF", "listening-port", "1", "ip-address", "x"],
                "ERR syntax error",
            ),
            (&["REPLCONF", "ip-address", "a,b"], "ERR invalid ip-address"),
            (&["REPLCONF", "ip-address", ""], "ERR invalid ip-address"),
            (
                &["REPLCONF", "ACK", "1"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["REPLCONF", "ACK", "1", "5"],
                "ERR value is not an integer or out of range",
            ),
        ];
        for (words, message) in cases {
            let args = args(words);
            let error = Replconf::parse(&args).expect_err("refused");
            assert_eq!(error.message(), *message, "{words:?}");
        }
    }

    #[test]
    fn auth_encodes_with_and_without_a_user() {
        let mut out = Vec::new();
        Auth {
            user: None,
            password: b"pw",
        }
        .encode(&mut out);
        assert_eq!(args_of(&out), args(&["AUTH", "pw"]));
        out.clear();
        Auth {
            user: Some(b"repl"),
            password: b"pw",
        }
        .encode(&mut out);
        assert_eq!(args_of(&out), args(&["AUTH", "repl", "pw"]));
    }

    #[test]
    fn sync_replies_round_trip() {
        for reply in [
            SyncReply::Continue {
                replid: id(4),
                next_lsn: 1,
            },
            SyncReply::FullResync {
                replid: id(5),
                snapshot_lsn: 0,
            },
            SyncReply::FullResync {
                replid: id(6),
                snapshot_lsn: u64::MAX - 1,
            },
        ] {
            let mut out = Vec::new();
            reply.encode(&mut out);
            assert!(out.ends_with(b"\r\n"));
            assert_eq!(SyncReply::parse(&out[1..out.len() - 2]), Some(reply));
        }
        let good = id(7).to_string();
        for bad in [
            format!("CONTINUE {good} 0"),
            format!("CONTINUE {good}"),
            format!("CONTINUE {good} 1 2"),
            format!("FULLRESYNC {good} {}", u64::MAX),
            "FULLRESYNC ? 1".to_string(),
            format!("OK {good} 1"),
        ] {
            assert_eq!(SyncReply::parse(bad.as_bytes()), None, "{bad}");
        }
    }

    fn config(auth: Option<Auth<'static>>, ip: Option<&'static [u8]>) -> HandshakeConfig<'static> {
        HandshakeConfig {
            auth,
            listening_port: 6380,
            ip_address: ip,
            request: SyncRequest {
                shard: 1,
                shards: 2,
                replid: Some(id(8)),
                next_lsn: 40,
            },
        }
    }

    /// Every request the handshake sent, framed by the server's parser.
    fn sent_commands(mut sent: &[u8]) -> Vec<Vec<Bytes>> {
        let mut commands = Vec::new();
        while !sent.is_empty() {
            let frame = parse(sent, 1 << 20).unwrap().expect("whole");
            commands.push(args_of(&sent[..frame.consumed]));
            sent = &sent[frame.consumed..];
        }
        commands
    }

    #[test]
    fn the_handshake_pipelines_its_commands_and_reads_replies_byte_by_byte() {
        let auth = Auth {
            user: Some(b"u"),
            password: b"p",
        };
        let mut sent = Vec::new();
        let mut handshake = Handshake::start(&config(Some(auth), Some(b"10.1.1.1")), &mut sent);
        let commands = sent_commands(&sent);
        assert_eq!(commands.len(), 4);
        assert_eq!(commands[0], args(&["AUTH", "u", "p"]));
        assert_eq!(
            Replconf::parse(&commands[1]),
            Ok(Replconf::ListeningPort(6380))
        );
        assert_eq!(
            Replconf::parse(&commands[2]),
            Ok(Replconf::IpAddress(b"10.1.1.1"))
        );
        assert_eq!(SyncRequest::parse(&commands[3]), Ok(*handshake.request()));
        let reply = SyncReply::Continue {
            replid: id(8),
            next_lsn: 40,
        };
        let mut replies = b"+OK\r\n+OK\r\n+OK\r\n".to_vec();
        reply.encode(&mut replies);
        let frames_at = replies.len();
        replies.extend_from_slice(b"\x03frames");
        // Fed one byte more at a time, as reads might deliver it.
        let mut used = 0;
        let mut got = None;
        for end in 0..=replies.len() {
            let (n, r) = handshake.read(&replies[used..end]).expect("fine");
            used += n;
            if r.is_some() {
                got = r;
                break;
            }
        }
        assert_eq!(got, Some(reply));
        assert_eq!(used, frames_at);
    }

    #[test]
    fn handshake_errors_name_the_command_and_the_master_message() {
        let mut sent = Vec::new();
        let mut handshake = Handshake::start(&config(None, None), &mut sent);
        assert_eq!(sent_commands(&sent).len(), 2);
        let refused = b"+OK\r\n-ERR shard count differs: master has 4 shards, replica has 2\r\n";
        let error = handshake.read(refused).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "master refused CKV.SYNC: ERR shard count differs: master has 4 shards, replica has 2"
        );
        let mut h = Handshake::start(
            &config(
                Some(Auth {
                    user: None,
                    password: b"x",
                }),
                None,
            ),
            &mut Vec::new(),
        );
        assert_eq!(
            h.read(b"-WRONGPASS invalid username-password pair\r\n"),
            Err(HandshakeError::Refused {
                command: "AUTH",
                message: "WRONGPASS invalid username-password pair".into()
            })
        );
        let mut h = Handshake::start(&config(None, None), &mut Vec::new());
        assert_eq!(
            h.read(b"+PONG\r\n"),
            Err(HandshakeError::UnexpectedReply {
                command: "REPLCONF listening-port",
                reply: "PONG".into()
            })
        );
        let mut h = Handshake::start(&config(None, None), &mut Vec::new());
        assert_eq!(
            h.read(b"+OK\r\n+CONTINUE nope 3\r\n"),
            Err(HandshakeError::UnexpectedReply {
                command: "CKV.SYNC",
                reply: "CONTINUE nope 3".into()
            })
        );
        let mut h = Handshake::start(&config(None, None), &mut Vec::new());
        assert_eq!(h.read(b":1\r\n"), Err(HandshakeError::NotAStatusLine(b':')));
        let mut h = Handshake::start(&config(None, None), &mut Vec::new());
        let endless = vec![b'+'; HANDSHAKE_LINE_BYTES_MAX];
        assert_eq!(h.read(&endless), Err(HandshakeError::LineTooLong));
        assert_eq!(h.read(&endless[..10]), Ok((0, None)));
    }
}
