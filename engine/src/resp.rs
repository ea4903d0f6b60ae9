//! RESP request framing and reply encoding in RESP2 and RESP3.
//!
//! A connection frames the bytes it has read with a [`RequestParser`], which finds
//! each whole request (a multibulk array of bulk strings, or an inline command line)
//! and appends its arguments to a [`Framed`] batch: ranges into the read buffer, one
//! flat vector for the whole batch, reused from batch to batch. The caller then
//! freezes the framed bytes once and slices every argument out of them without
//! copying (`Bytes::slice`), straight into each request's [`Args`]. Only inline
//! arguments with escapes are owned. [`parse`] frames one request on its own, for
//! callers that read few and small requests.
//!
//! An incomplete request is `Ok(None)`: the caller reads more and calls again, so a
//! request may be split across reads at any byte. A malformed one is a
//! [`ProtocolError`] whose text is Redis's own; the caller replies with it and closes
//! that connection.
//!
//! Replies are written straight into the connection's output buffer, a [`ReplyBuf`]
//! that carries the connection's [`Protocol`], through [`Reply`]: handlers ask for a
//! typed reply (`map`, `set`, `double`, `null`, `verbatim`, `push`, `bool`) and the
//! buffer writes the RESP2 or RESP3 form the client negotiated with `HELLO`. The
//! buffer travels with a batch to the shard that runs it, so a handler never knows
//! which protocol it answers in.

use std::ops::Range;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::limits::PROTO_INLINE_MAX_BYTES;

mod framing;
pub use framing::{
    release_batch, second_argument, FrameLimits, Framed, RequestParser,
    UNAUTHENTICATED_BULK_LEN_MAX, UNAUTHENTICATED_MULTIBULK_ARGS_MAX,
};

/// A request that cannot be framed. The connection answers `-ERR Protocol error: <text>`
/// and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    InvalidMultibulkLength,
    InvalidBulkLength,
    ExpectedDollar(u8),
    UnbalancedQuotes,
    TooBigInline,
    TooBigMultibulkCount,
    TooBigBulkCount,
    UnauthenticatedMultibulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The full error line Redis sends, without the trailing CRLF.
    pub fn message(&self) -> String {
        let what = match self {
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length".to_string(),
            ProtocolError::InvalidBulkLength => "invalid bulk length".to_string(),
            ProtocolError::ExpectedDollar(got) => format!("expected '$', got '{}'", *got as char),
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request".to_string(),
            ProtocolError::TooBigInline => "too big inline request".to_string(),
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string".to_string(),
            ProtocolError::TooBigBulkCount => "too big bulk count string".to_string(),
            ProtocolError::UnauthenticatedMultibulkLength => {
                "unauthenticated multibulk length".to_string()
            }
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length".to_string(),
        };
        format!("ERR Protocol error: {what}")
    }
}

/// Where one argument of a parsed request lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgRef {
    /// A slice of the input buffer.
    Range(Range<usize>),
    /// An inline argument whose escapes were decoded.
    Owned(Bytes),
}

impl ArgRef {
    /// The argument's length in bytes.
    pub fn len(&self) -> usize {
        match self {
            ArgRef::Range(r) => r.len(),
            ArgRef::Owned(b) => b.len(),
        }
    }

    /// Whether the argument is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The same argument, its range moved `base` bytes further into the buffer.
    fn offset(self, base: usize) -> ArgRef {
        match self {
            ArgRef::Range(r) => ArgRef::Range(r.start + base..r.end + base),
            owned => owned,
        }
    }

    /// The argument's bytes, sliced out of the buffer its range indexes.
    #[inline(always)]
    fn materialise(self, buf: &mut bytes::Slicer<'_>) -> Bytes {
        match self {
            ArgRef::Range(r) => buf.slice(r),
            ArgRef::Owned(b) => b,
        }
    }
}

/// One framed request: its arguments and the bytes it took from the buffer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Frame {
    pub args: SmallVec<[ArgRef; 4]>,
    pub consumed: usize,
}

impl Frame {
    /// Materialises the arguments as `Bytes` sliced out of `buf`, the frozen input
    /// whose offset 0 is the offset `base` of the buffer this frame was parsed from.
    pub fn to_args(&self, buf: &Bytes, base: usize) -> Args {
        self.args
            .iter()
            .map(|a| match a {
                ArgRef::Range(r) => buf.slice(r.start + base..r.end + base),
                ArgRef::Owned(b) => b.clone(),
            })
            .collect()
    }
}

/// The arguments of one request, command name first.
pub type Args = SmallVec<[Bytes; 4]>;

/// Parses at most one request from the start of `input`, from scratch: for callers
/// that read small requests (replication acknowledgements, tests). A connection keeps
/// a [`RequestParser`] instead, so a request arriving in many reads is framed once.
///
/// Returns `Ok(None)` when `input` holds no complete request yet. A request with zero
/// arguments (an empty line, `*0`) is returned with no arguments and must be skipped.
pub fn parse(input: &[u8], max_bulk_len: u64) -> Result<Option<Frame>, ProtocolError> {
    let limits = FrameLimits {
        bulk_len_max: max_bulk_len,
        authenticated: true,
    };
    RequestParser::default().parse(input, limits)
}

pub(crate) fn find_crlf(input: &[u8], from: usize) -> Option<usize> {
    let rest = input.get(from..)?;
    let mut i = 0;
    while let Some(off) = rest[i..].iter().position(|&b| b == b'\r') {
        let at = i + off;
        if rest.get(at + 1) == Some(&b'\n') {
            return Some(from + at);
        }
        if at + 1 >= rest.len() {
            return None;
        }
        i = at + 1;
    }
    None
}

/// Frames the inline command line at the start of `input` into `out`, its ranges
/// offset by `base`; returns the bytes it took.
fn parse_inline(
    input: &[u8],
    base: usize,
    out: &mut Framed,
) -> Result<Option<usize>, ProtocolError> {
    let Some(nl) = input.iter().position(|&b| b == b'\n') else {
        if input.len() > PROTO_INLINE_MAX_BYTES {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(None);
    };
    let line_end = if nl > 0 && input[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    let args = split_inline(&input[..line_end]).ok_or(ProtocolError::UnbalancedQuotes)?;
    out.push_request(args.into_iter().map(|a| a.offset(base)));
    Ok(Some(nl + 1))
}

/// Splits an inline command line the way Redis's `sdssplitargs` does: blanks separate
/// arguments, `"..."` takes C-like escapes (`\n`, `\xHH`, ...), `'...'` takes `\'`.
/// A closing quote must be followed by a blank or the end. `None` on unbalanced quotes.
pub fn split_inline(line: &[u8]) -> Option<SmallVec<[ArgRef; 4]>> {
    let mut out = SmallVec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(out);
        }
        let start = i;
        let mut owned: Option<Vec<u8>> = None;
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                let buf = owned.get_or_insert_with(|| line[start..i].to_vec());
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && is_hex_pair(line[i + 2], line[i + 3])
                {
                    buf.push(hex_val(line[i + 2]) * 16 + hex_val(line[i + 3]));
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    buf.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if !closing_quote_ends_arg(line, i) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    buf.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                let buf = owned.get_or_insert_with(|| line[start..i].to_vec());
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    buf.push(b'\'');
                } else if c == b'\'' {
                    if !closing_quote_ends_arg(line, i) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    buf.push(c);
                }
            } else {
                if i >= n || line[i].is_ascii_whitespace() {
                    break;
                }
                let c = line[i];
                if c == b'"' || c == b'\'' {
                    owned.get_or_insert_with(|| line[start..i].to_vec());
                    if c == b'"' {
                        in_dq = true;
                    } else {
                        in_sq = true;
                    }
                } else if let Some(buf) = owned.as_mut() {
                    buf.push(c);
                }
            }
            i += 1;
        }
        match owned {
            Some(v) => out.push(ArgRef::Owned(Bytes::from(v))),
            None => out.push(ArgRef::Range(start..i)),
        }
    }
}

/// A closing quote at `i` must end the argument: followed by a blank or the line's end.
fn closing_quote_ends_arg(line: &[u8], i: usize) -> bool {
    line.get(i + 1).is_none_or(|c| c.is_ascii_whitespace())
}

fn is_hex_pair(a: u8, b: u8) -> bool {
    a.is_ascii_hexdigit() && b.is_ascii_hexdigit()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Parses a signed decimal integer exactly as Redis's `string2ll`: optional `-`, no
/// `+`, no blanks, no leading zeros (except `0` itself), no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Parses an unsigned 64-bit decimal (cursors).
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Parses a float the way Redis's `string2ld`/`strtold` accepts it: no blanks, not NaN.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        t => {
            if t.contains("nan") || t.starts_with("0x") || t.starts_with("-0x") {
                return None;
            }
            t.parse().ok()?
        }
    };
    Some(v)
}

/// Formats a float as Redis does for human-facing replies (`INCRBYFLOAT`): shortest
/// form that reads back to the same value, integers without a fraction.
pub fn format_f64(v: f64, out: &mut Vec<u8>) {
    if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"inf" } else { b"-inf" });
    } else if v == 0.0 {
        out.push(b'0');
    } else {
        use std::io::Write;
        let _ = write!(out, "{v}");
    }
}

/// The protocol a connection's replies are encoded in: RESP2 until the client
/// switches with `HELLO 3` (and back with `HELLO 2` or `RESET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

impl Protocol {
    /// The protocol `HELLO <version>` asks for, if corekv speaks it.
    pub fn from_version(version: i64) -> Option<Protocol> {
        match version {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => None,
        }
    }

    /// The version number `HELLO` and `CLIENT LIST` (`resp=`) show.
    pub fn version(self) -> u8 {
        match self {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }
}

/// An output buffer that knows its connection's protocol: the one type replies are
/// written to. It derefs to its bytes, so callers measure, truncate and copy it as a
/// `Vec<u8>`; encoding goes through [`Reply`], which picks each type's RESP2 or RESP3
/// form.
///
/// A big string's reply ([`bulk_shared`](Self::bulk_shared)) is written by
/// reference: the buffer keeps the string's shared `Bytes` and where it goes, and
/// [`into_chunks`](Self::into_chunks) hands the bytes around it and the string itself
/// to the outbox, so a 100 MB `GET` writes a header and the stored buffer, not a
/// copy. [`len`](Self::len) and [`truncate`](Self::truncate) count those strings;
/// [`into_bytes`](Self::into_bytes) copies them in, for the callers that need one
/// `Vec`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplyBuf {
    bytes: Vec<u8>,
    protocol: Protocol,
    /// Strings written by reference: where each goes in `bytes` (it comes before
    /// the byte at that offset), in order.
    shared: Vec<(usize, Bytes)>,
    /// The bytes of the `shared` strings.
    shared_bytes: usize,
}

impl ReplyBuf {
    pub fn new(protocol: Protocol) -> Self {
        Self::with_capacity(protocol, 0)
    }

    pub fn with_capacity(protocol: Protocol, capacity: usize) -> Self {
        ReplyBuf {
            bytes: Vec::with_capacity(capacity),
            protocol,
            shared: Vec::new(),
            shared_bytes: 0,
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Switches the encoding of every reply written from now on (`HELLO`, `RESET`).
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// Bytes of the replies written, strings written by reference included.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.shared_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a string was written by reference: the replies are then more than
    /// the buffer's bytes ([`into_chunks`](Self::into_chunks)).
    pub fn has_shared(&self) -> bool {
        !self.shared.is_empty()
    }

    /// The replies as one `Vec`, strings written by reference copied in.
    pub fn into_bytes(self) -> Vec<u8> {
        if self.shared.is_empty() {
            return self.bytes;
        }
        self.joined()
    }

    /// Reuses `bytes` (cleared) as the buffer for further replies.
    pub fn from_vec(mut bytes: Vec<u8>, protocol: Protocol) -> Self {
        bytes.clear();
        ReplyBuf {
            bytes,
            ..ReplyBuf::new(protocol)
        }
    }

    /// Appends replies encoded elsewhere (another shard's), taking `bytes` itself
    /// as the buffer when it holds more than this buffer could without growing: a
    /// large reply is then not copied again.
    pub fn append_vec(&mut self, bytes: Vec<u8>) {
        if self.bytes.is_empty() && self.shared.is_empty() && bytes.len() > self.bytes.capacity() {
            self.bytes = bytes;
        } else {
            self.bytes.extend_from_slice(&bytes);
        }
    }
}

mod shared;
#[cfg(test)]
mod shared_tests;
pub use shared::{ReplyChunk, SHARED_REPLY_MIN_BYTES};

impl std::ops::Deref for ReplyBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.bytes
    }
}

impl std::ops::DerefMut for ReplyBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

/// The reply encoder: typed replies written straight into an output buffer, each in
/// the form its protocol has for it. RESP3 types a RESP2 client cannot see fall back
/// the way Redis's do: a map is a flat array of key, value, key, value; a set, a push
/// and a verbatim string are an array and a bulk string; a double is a bulk string;
/// a boolean is `:1`/`:0`; both nulls keep their RESP2 spellings.
pub trait Reply {
    /// The protocol replies are encoded in.
    fn protocol(&self) -> Protocol;
    /// Where the encoded bytes go.
    fn bytes(&mut self) -> &mut Vec<u8>;

    fn simple(&mut self, s: &[u8]) {
        self.bytes().line(b'+', s);
    }
    /// An error line. Line breaks in it (from a client's arguments quoted in the
    /// message) become blanks, as Redis's `addReplyErrorFormat` makes them: the
    /// reply would not parse otherwise.
    fn error(&mut self, s: &str) {
        if s.contains(['\r', '\n']) {
            let flat = s.replace(['\r', '\n'], " ");
            return self.bytes().line(b'-', flat.as_bytes());
        }
        self.bytes().line(b'-', s.as_bytes());
    }
    fn int(&mut self, v: i64) {
        self.bytes()
            .line(b':', itoa::Buffer::new().format(v).as_bytes());
    }
    fn bulk(&mut self, b: &[u8]) {
        let out = self.bytes();
        out.line(b'$', itoa::Buffer::new().format(b.len()).as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    }
    /// A missing value (`GET` of a missing key): `$-1` or `_`.
    fn null(&mut self) {
        let spelling: &[u8] = match self.protocol() {
            Protocol::Resp2 => b"$-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        };
        self.bytes().extend_from_slice(spelling);
    }
    /// A missing array (`COMMAND INFO` of an unknown command): `*-1` or `_`.
    fn null_array(&mut self) {
        let spelling: &[u8] = match self.protocol() {
            Protocol::Resp2 => b"*-1\r\n",
            Protocol::Resp3 => b"_\r\n",
        };
        self.bytes().extend_from_slice(spelling);
    }
    fn array(&mut self, len: usize) {
        self.aggregate(b'*', b'*', len);
    }
    /// A map header of `len` pairs; the caller writes key, value, key, value, ...
    fn map(&mut self, len: usize) {
        match self.protocol() {
            Protocol::Resp2 => self.array(2 * len),
            Protocol::Resp3 => self.aggregate(b'%', b'%', len),
        }
    }
    /// A set header of `len` members.
    fn set(&mut self, len: usize) {
        self.aggregate(b'*', b'~', len);
    }
    /// An out-of-band push header of `len` items (pub/sub messages); its first item
    /// names the kind (`message`, ...).
    fn push(&mut self, len: usize) {
        self.aggregate(b'*', b'>', len);
    }
    /// A double, formatted as Redis 7.0 does (`%.17g`; `inf`, `-inf`).
    fn double(&mut self, v: f64) {
        let mut text = DoubleText::default();
        text.format(v);
        match self.protocol() {
            Protocol::Resp2 => self.bulk(text.as_bytes()),
            Protocol::Resp3 => self.bytes().line(b',', text.as_bytes()),
        }
    }
    fn bool(&mut self, v: bool) {
        match self.protocol() {
            Protocol::Resp2 => self.int(v as i64),
            Protocol::Resp3 => self.bytes().line(b'#', if v { b"t" } else { b"f" }),
        }
    }
    /// Text meant for people (`INFO`, `CLIENT LIST`) with its three-letter format
    /// (`txt`, `mkd`): a verbatim string, or a bulk string in RESP2.
    fn verbatim(&mut self, format: &[u8; 3], text: &[u8]) {
        if self.protocol() == Protocol::Resp2 {
            return self.bulk(text);
        }
        let out = self.bytes();
        let len = format.len() + 1 + text.len();
        out.line(b'=', itoa::Buffer::new().format(len).as_bytes());
        out.extend_from_slice(format);
        out.push(b':');
        out.extend_from_slice(text);
        out.extend_from_slice(b"\r\n");
    }
    /// An aggregate header: `resp2` or `resp3` type byte, then the length.
    fn aggregate(&mut self, resp2: u8, resp3: u8, len: usize) {
        let kind = match self.protocol() {
            Protocol::Resp2 => resp2,
            Protocol::Resp3 => resp3,
        };
        self.bytes()
            .line(kind, itoa::Buffer::new().format(len).as_bytes());
    }
    fn ok(&mut self) {
        self.simple(b"OK");
    }
    fn bulk_int(&mut self, v: i64) {
        let mut b = itoa::Buffer::new();
        self.bulk(b.format(v).as_bytes());
    }
    fn bulk_opt(&mut self, b: Option<&[u8]>) {
        match b {
            Some(b) => self.bulk(b),
            None => self.null(),
        }
    }
}

impl Reply for ReplyBuf {
    fn protocol(&self) -> Protocol {
        self.protocol
    }
    fn bytes(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

/// One RESP line: a type byte, the body, CRLF.
trait Line {
    fn line(&mut self, kind: u8, body: &[u8]);
}

impl Line for Vec<u8> {
    fn line(&mut self, kind: u8, body: &[u8]) {
        self.push(kind);
        self.extend_from_slice(body);
        self.extend_from_slice(b"\r\n");
    }
}

/// A request to another server (replication's handshake): an array of bulk strings,
/// the same in every protocol.
pub trait Request {
    fn array(&mut self, len: usize);
    fn bulk(&mut self, b: &[u8]);
}

impl Request for Vec<u8> {
    fn array(&mut self, len: usize) {
        self.line(b'*', itoa::Buffer::new().format(len).as_bytes());
    }
    fn bulk(&mut self, b: &[u8]) {
        self.line(b'$', itoa::Buffer::new().format(b.len()).as_bytes());
        self.extend_from_slice(b);
        self.extend_from_slice(b"\r\n");
    }
}

/// Longest `%.17g` text: sign, 17 digits, point, `e-308`.
const DOUBLE_TEXT_MAX_BYTES: usize = 32;

/// A double as C's `printf("%.17g")` writes it, which is what Redis 7.0 replies
/// with, built on the stack.
#[derive(Default)]
struct DoubleText {
    buf: [u8; DOUBLE_TEXT_MAX_BYTES],
    len: usize,
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl DoubleText {
    /// Significant digits of `%.17g`.
    const PRECISION: i32 = 17;

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn format(&mut self, v: f64) {
        use std::fmt::Write;
        debug_assert_eq!(self.len, 0);
        if v.is_nan() {
            let _ = self.write_str("nan");
        } else if v.is_infinite() {
            let _ = self.write_str(if v > 0.0 { "inf" } else { "-inf" });
        } else if v == 0.0 {
            let _ = self.write_str(if v.is_sign_negative() { "-0" } else { "0" });
        } else if v.fract() == 0.0 && v.abs() < Self::INTEGRAL_FIXED_BELOW {
            // An integer of at most 17 digits: `%.17g` prints it exactly, as an
            // integer (Redis's `d2string` takes the same shortcut). The general path
            // costs a bignum division for these (the exact digits' fallback).
            let _ = self.write_str(itoa::Buffer::new().format(v as i64));
        } else {
            self.format_finite(v);
        }
    }

    /// Integral values below this (in magnitude) have at most 17 digits, which
    /// `%.17g` prints in fixed notation, exactly.
    const INTEGRAL_FIXED_BELOW: f64 = 1e17;

    /// `%g`: the digits of `%.16e`, laid out fixed when the exponent is in
    /// [-4, 17), scientific otherwise; trailing zeros of the fraction dropped.
    fn format_finite(&mut self, v: f64) {
        use std::fmt::Write;
        let mut sci = DoubleText::default();
        let _ = write!(sci, "{:.*e}", (Self::PRECISION - 1) as usize, v.abs());
        let text = sci.as_bytes();
        let e_at = text.iter().position(|&b| b == b'e').expect("exponent");
        let exp: i32 = std::str::from_utf8(&text[e_at + 1..])
            .ok()
            .and_then(|e| e.parse().ok())
            .expect("exponent digits");
        // The 17 significant digits, without the point.
        let mut digits = [0u8; Self::PRECISION as usize];
        digits[0] = text[0];
        digits[1..].copy_from_slice(&text[2..e_at]);
        let mut last = digits.len();
        if v < 0.0 {
            self.push(b'-');
        }
        if (-4..Self::PRECISION).contains(&exp) {
            let int_digits = (exp + 1).max(0) as usize;
            while last > int_digits.max(1) && digits[last - 1] == b'0' {
                last -= 1;
            }
            if exp < 0 {
                let _ = self.write_str("0.");
                (0..(-exp - 1)).for_each(|_| self.push(b'0'));
                digits[..last].iter().for_each(|&d| self.push(d));
            } else {
                digits[..int_digits].iter().for_each(|&d| self.push(d));
                if last > int_digits {
                    self.push(b'.');
                    digits[int_digits..last].iter().for_each(|&d| self.push(d));
                }
            }
        } else {
            while last > 1 && digits[last - 1] == b'0' {
                last -= 1;
            }
            self.push(digits[0]);
            if last > 1 {
                self.push(b'.');
                digits[1..last].iter().for_each(|&d| self.push(d));
            }
            let _ = write!(self, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u64 = 512 * 1024 * 1024;

    fn args(input: &[u8]) -> Vec<Vec<u8>> {
        let f = parse(input, MAX).unwrap().unwrap();
        f.args
            .iter()
            .map(|a| match a {
                ArgRef::Range(r) => input[r.clone()].to_vec(),
                ArgRef::Owned(b) => b.to_vec(),
            })
            .collect()
    }

    #[test]
    fn multibulk_whole_and_split_at_every_byte() {
        let req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        assert_eq!(
            args(req),
            vec![b"SET".to_vec(), b"k".to_vec(), b"hello".to_vec()]
        );
        for cut in 0..req.len() {
            assert_eq!(parse(&req[..cut], MAX).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(parse(req, MAX).unwrap().unwrap().consumed, req.len());
    }

    #[test]
    fn pipelined_requests_consume_one_at_a_time() {
        let req = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        let f = parse(req, MAX).unwrap().unwrap();
        assert_eq!(f.consumed, 14);
        assert_eq!(parse(&req[14..], MAX).unwrap().unwrap().consumed, 14);
    }

    #[test]
    fn protocol_errors_use_redis_texts() {
        let e = |i: &[u8]| parse(i, MAX).unwrap_err().message();
        assert_eq!(e(b"*x\r\n"), "ERR Protocol error: invalid multibulk length");
        assert_eq!(
            e(b"*2000000\r\n"),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            e(b"*1\r\n$-2\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            e(b"*1\r\n$999999999999\r\n"),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            e(b"*1\r\nx3\r\n"),
            "ERR Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            e(b"SET \"a b\r\n"),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            e(&vec![b'a'; 70_000]),
            "ERR Protocol error: too big inline request"
        );
    }

    #[test]
    fn bulk_len_limit_is_configurable() {
        assert_eq!(
            parse(b"*1\r\n$11\r\n", 10).unwrap_err(),
            ProtocolError::InvalidBulkLength
        );
        assert_eq!(parse(b"*1\r\n$10\r\n", 10).unwrap(), None);
    }

    #[test]
    fn inline_commands_split_like_sdssplitargs() {
        assert_eq!(
            args(b"set k v\r\n"),
            vec![b"set".to_vec(), b"k".to_vec(), b"v".to_vec()]
        );
        assert_eq!(args(b"  ping  \n"), vec![b"ping".to_vec()]);
        assert_eq!(
            args(b"set \"a\\x41\\n\" 'it\\'s'\r\n"),
            vec![b"set".to_vec(), b"aA\n".to_vec(), b"it's".to_vec()]
        );
        assert!(parse(b"\r\n", MAX).unwrap().unwrap().args.is_empty());
        assert_eq!(
            parse(b"set \"a\"b\r\n", MAX).unwrap_err(),
            ProtocolError::UnbalancedQuotes
        );
    }

    #[test]
    fn integers_parse_strictly() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"+1"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-0"), None);
    }

    /// Writes one of each reply type in `protocol`.
    fn every_type(protocol: Protocol) -> Vec<u8> {
        let mut out = ReplyBuf::new(protocol);
        out.ok();
        out.int(-5);
        out.bulk(b"hi");
        out.null();
        out.null_array();
        out.array(1);
        out.error("ERR x");
        out.map(1);
        out.bulk(b"k");
        out.double(1.5);
        out.set(2);
        out.bool(true);
        out.bool(false);
        out.verbatim(b"txt", b"a\r\nb");
        out.push(2);
        out.bulk(b"message");
        out.bulk_opt(None);
        out.into_bytes()
    }

    #[test]
    fn replies_encode_resp2() {
        assert_eq!(
            String::from_utf8(every_type(Protocol::Resp2)).unwrap(),
            "+OK\r\n:-5\r\n$2\r\nhi\r\n$-1\r\n*-1\r\n*1\r\n-ERR x\r\n\
             *2\r\n$1\r\nk\r\n$3\r\n1.5\r\n*2\r\n:1\r\n:0\r\n$4\r\na\r\nb\r\n\
             *2\r\n$7\r\nmessage\r\n$-1\r\n"
        );
    }

    #[test]
    fn replies_encode_resp3() {
        assert_eq!(
            String::from_utf8(every_type(Protocol::Resp3)).unwrap(),
            "+OK\r\n:-5\r\n$2\r\nhi\r\n_\r\n_\r\n*1\r\n-ERR x\r\n\
             %1\r\n$1\r\nk\r\n,1.5\r\n~2\r\n#t\r\n#f\r\n=8\r\ntxt:a\r\nb\r\n\
             >2\r\n$7\r\nmessage\r\n_\r\n"
        );
    }

    #[test]
    fn requests_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        Request::array(&mut out, 2);
        Request::bulk(&mut out, b"PING");
        Request::bulk(&mut out, b"");
        assert_eq!(out, b"*2\r\n$4\r\nPING\r\n$0\r\n\r\n");
    }

    #[test]
    fn doubles_format_as_printf_17g() {
        let text = |v: f64| {
            let mut t = DoubleText::default();
            t.format(v);
            String::from_utf8(t.as_bytes().to_vec()).unwrap()
        };
        // Each expectation is what glibc's printf("%.17g") prints.
        for (v, want) in [
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (-2.0, "-2"),
            (123.0, "123"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (1.25e-5, "1.2500000000000001e-05"),
            (0.0001, "0.0001"),
            (3.0e-4, "0.00029999999999999997"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (-5e-324, "-4.9406564584124654e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (9_007_199_254_740_993.0, "9007199254740992"),
            (-99_999_999_999_999_984.0, "-99999999999999984"),
            (99_999_999_999_999_999.0, "1e+17"),
            (-1e17, "-1e+17"),
        ] {
            assert_eq!(text(v), want, "{v:e}");
        }
    }

    /// Integral values take a shortcut; the general path (checked against glibc
    /// above) must print the same for each.
    #[test]
    fn integral_doubles_print_as_the_general_path_does() {
        let general = |v: f64| {
            let mut t = DoubleText::default();
            t.format_finite(v);
            String::from_utf8(t.as_bytes().to_vec()).unwrap()
        };
        let shortcut = |v: f64| {
            let mut t = DoubleText::default();
            t.format(v);
            String::from_utf8(t.as_bytes().to_vec()).unwrap()
        };
        let mut values: Vec<f64> = (1..=2000).map(f64::from).collect();
        for p in 0..=17 {
            let x = 10f64.powi(p);
            values.extend([x, x - 1.0, x + 1.0, 2f64.powi(p * 3) - 1.0]);
        }
        values.extend([
            9_007_199_254_740_992.0,
            9_007_199_254_740_993.0,
            99_999_999_999_999_984.0,
        ]);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            values.push((seed % 100_000_000_000_000_000) as f64);
        }
        for v in values.into_iter().filter(|v| *v != 0.0) {
            for v in [v, -v] {
                assert_eq!(shortcut(v), general(v), "{v:e}");
            }
        }
    }
}
