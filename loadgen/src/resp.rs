//! RESP2 on the wire: the request encoder and the reply framer.
//!
//! Requests are always RESP arrays of bulk strings, written straight into a
//! connection's output buffer. Replies are framed in one pass: [`check`] looks at the
//! bytes received so far and says whether a whole reply is there, how long it is and
//! what kind it is. The load generator never needs the reply's value, only its end
//! and whether it is an error, so there is no second "parse" phase building a value.
//! A reply cut short by the network yields [`FrameError::Incomplete`]; the caller
//! reads more and asks again from the same offset.

use crate::limits::{REPLY_BYTES_MAX, REPLY_DEPTH_MAX, REPLY_LINE_BYTES_MAX};
use std::fmt;

/// The type of a complete reply, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// `+OK`
    Simple,
    /// `-ERR ...`: counted as a failed request.
    Error,
    /// `:42`
    Integer,
    /// `$3\r\nfoo`
    Bulk,
    /// `$-1` or `*-1`
    Null,
    /// `*2\r\n...`, nested replies included in its length.
    Array,
}

/// One complete reply at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: ReplyKind,
    /// Bytes of the buffer the reply occupies, trailing CRLF included.
    pub len_bytes: usize,
}

/// Why no complete reply could be framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The buffer holds the start of a reply but not yet all of it.
    Incomplete,
    /// The bytes cannot be a RESP2 reply; the connection is unusable.
    Protocol(ProtocolError),
}

/// What was wrong with a malformed reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// First byte is not one of `+ - : $ *`.
    UnknownType(u8),
    /// A length or integer line is not a decimal number.
    BadNumber,
    /// A bulk or array length below -1 or above the limits.
    BadLength,
    /// A line or bulk string not terminated by CRLF.
    MissingCrlf,
    /// A line longer than `REPLY_LINE_BYTES_MAX`.
    LineTooLong,
    /// Arrays nested deeper than `REPLY_DEPTH_MAX`.
    TooDeep,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::UnknownType(byte) => write!(f, "unknown reply type byte 0x{byte:02x}"),
            ProtocolError::BadNumber => f.write_str("malformed number in reply"),
            ProtocolError::BadLength => f.write_str("reply length out of range"),
            ProtocolError::MissingCrlf => f.write_str("reply not terminated by CRLF"),
            ProtocolError::LineTooLong => f.write_str("reply line too long"),
            ProtocolError::TooDeep => f.write_str("reply arrays nested too deep"),
        }
    }
}

/// Frames the reply at the start of `buf`.
pub fn check(buf: &[u8]) -> Result<Frame, FrameError> {
    let (kind, end) = check_at(buf, 0, 0)?;
    debug_assert!(end <= buf.len());
    Ok(Frame {
        kind,
        len_bytes: end,
    })
}

/// The message of an error reply, without the leading `-` and trailing CRLF.
pub fn error_text(reply: &[u8]) -> &[u8] {
    assert!(reply.len() >= 3 && reply[0] == b'-');
    &reply[1..reply.len() - 2]
}

fn check_at(buf: &[u8], pos: usize, depth: usize) -> Result<(ReplyKind, usize), FrameError> {
    if depth > REPLY_DEPTH_MAX {
        return Err(FrameError::Protocol(ProtocolError::TooDeep));
    }
    let Some(&type_byte) = buf.get(pos) else {
        return Err(FrameError::Incomplete);
    };
    let line_end = find_line_end(buf, pos + 1)?;
    let line = &buf[pos + 1..line_end];
    let after_line = line_end + 2;
    match type_byte {
        b'+' => Ok((ReplyKind::Simple, after_line)),
        b'-' => Ok((ReplyKind::Error, after_line)),
        b':' => parse_integer(line).map(|_| (ReplyKind::Integer, after_line)),
        b'$' => check_bulk(buf, parse_length(line)?, after_line),
        b'*' => check_array(buf, parse_length(line)?, after_line, depth),
        other => Err(FrameError::Protocol(ProtocolError::UnknownType(other))),
    }
}

fn check_bulk(
    buf: &[u8],
    len: Option<usize>,
    start: usize,
) -> Result<(ReplyKind, usize), FrameError> {
    let Some(len) = len else {
        return Ok((ReplyKind::Null, start));
    };
    let end = start + len + 2;
    if buf.len() < end {
        return Err(FrameError::Incomplete);
    }
    if &buf[end - 2..end] != b"\r\n" {
        return Err(FrameError::Protocol(ProtocolError::MissingCrlf));
    }
    Ok((ReplyKind::Bulk, end))
}

fn check_array(
    buf: &[u8],
    len: Option<usize>,
    start: usize,
    depth: usize,
) -> Result<(ReplyKind, usize), FrameError> {
    let Some(len) = len else {
        return Ok((ReplyKind::Null, start));
    };
    let mut pos = start;
    for _ in 0..len {
        let (_, end) = check_at(buf, pos, depth + 1)?;
        pos = end;
    }
    Ok((ReplyKind::Array, pos))
}

/// Index of the `\r` ending the line that starts at `from`.
fn find_line_end(buf: &[u8], from: usize) -> Result<usize, FrameError> {
    let window_end = buf.len().min(from + REPLY_LINE_BYTES_MAX);
    let window = buf.get(from..window_end).unwrap_or_default();
    match window.iter().position(|&b| b == b'\r') {
        Some(offset) => {
            let cr = from + offset;
            match buf.get(cr + 1) {
                None => Err(FrameError::Incomplete),
                Some(b'\n') => Ok(cr),
                Some(_) => Err(FrameError::Protocol(ProtocolError::MissingCrlf)),
            }
        }
        None if window_end.saturating_sub(from) >= REPLY_LINE_BYTES_MAX => {
            Err(FrameError::Protocol(ProtocolError::LineTooLong))
        }
        None => Err(FrameError::Incomplete),
    }
}

/// A bulk or array length: `None` for the null length -1.
fn parse_length(line: &[u8]) -> Result<Option<usize>, FrameError> {
    let value = parse_integer(line)?;
    match value {
        -1 => Ok(None),
        n if n < -1 || n as u64 > REPLY_BYTES_MAX as u64 => {
            Err(FrameError::Protocol(ProtocolError::BadLength))
        }
        n => Ok(Some(n as usize)),
    }
}

fn parse_integer(line: &[u8]) -> Result<i64, FrameError> {
    let bad = FrameError::Protocol(ProtocolError::BadNumber);
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(bad);
    }
    let mut value: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(bad);
        }
        value = value.checked_mul(10).ok_or(bad)?;
        value = value.checked_add(i64::from(b - b'0')).ok_or(bad)?;
    }
    Ok(if negative { -value } else { value })
}

/// Appends `*<count>\r\n`, the header of a request with `count` arguments.
pub fn encode_array_header(out: &mut Vec<u8>, count: usize) {
    out.push(b'*');
    encode_decimal(out, count as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends `$<len>\r\n`; the caller appends the `len` argument bytes and then CRLF.
pub fn encode_bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    encode_decimal(out, len as u64);
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole request made of `args`.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    encode_array_header(out, args.len());
    for arg in args {
        encode_bulk_header(out, arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends `value` in decimal without going through `fmt`, which would be slower on
/// the hot path.
pub fn encode_decimal(out: &mut Vec<u8>, value: u64) {
    let mut digits = [0u8; 20];
    let start = format_decimal(value, &mut digits);
    out.extend_from_slice(&digits[start..]);
}

/// Writes `value` right-aligned into `digits`; returns the index of its first digit.
pub fn format_decimal(mut value: u64, digits: &mut [u8; 20]) -> usize {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return start;
        }
    }
}

/// Number of decimal digits of `value`.
pub fn decimal_len(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(bytes: &[u8]) -> Result<Frame, FrameError> {
        check(bytes)
    }

    #[test]
    fn frames_every_reply_type() {
        let cases: &[(&[u8], ReplyKind)] = &[
            (b"+OK\r\n", ReplyKind::Simple),
            (b"-ERR wrong\r\n", ReplyKind::Error),
            (b":-42\r\n", ReplyKind::Integer),
            (b"$3\r\nfoo\r\n", ReplyKind::Bulk),
            (b"$0\r\n\r\n", ReplyKind::Bulk),
            (b"$-1\r\n", ReplyKind::Null),
            (b"*-1\r\n", ReplyKind::Null),
            (b"*0\r\n", ReplyKind::Array),
            (b"*2\r\n$1\r\na\r\n$-1\r\n", ReplyKind::Array),
            (b"*2\r\n*2\r\n:1\r\n+x\r\n*1\r\n-E\r\n", ReplyKind::Array),
        ];
        for &(bytes, kind) in cases {
            let got = frame(bytes).unwrap_or_else(|e| panic!("{bytes:?}: {e:?}"));
            assert_eq!(got.kind, kind, "{bytes:?}");
            assert_eq!(got.len_bytes, bytes.len(), "{bytes:?}");
        }
    }

    #[test]
    fn frames_only_the_first_of_several_replies() {
        let bytes = b"$2\r\nab\r\n+OK\r\n";
        assert_eq!(frame(bytes).unwrap().len_bytes, 8);
        assert_eq!(frame(&bytes[8..]).unwrap().kind, ReplyKind::Simple);
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let replies: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":12345\r\n",
            b"$5\r\nhello\r\n",
            b"$-1\r\n",
            b"*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+done\r\n",
        ];
        for reply in replies {
            for cut in 0..reply.len() {
                assert_eq!(
                    frame(&reply[..cut]),
                    Err(FrameError::Incomplete),
                    "{reply:?} cut at {cut}"
                );
            }
            assert_eq!(frame(reply).unwrap().len_bytes, reply.len());
        }
    }

    #[test]
    fn replies_fed_a_byte_at_a_time_come_out_whole_and_in_order() {
        let stream = b"+OK\r\n$3\r\nbar\r\n-ERR no\r\n*2\r\n:1\r\n:2\r\n$-1\r\n";
        let mut received = Vec::new();
        let mut kinds = Vec::new();
        for &byte in stream.iter() {
            received.push(byte);
            loop {
                match frame(&received) {
                    Ok(f) => {
                        kinds.push(f.kind);
                        received.drain(..f.len_bytes);
                    }
                    Err(FrameError::Incomplete) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        use ReplyKind::*;
        assert_eq!(kinds, [Simple, Bulk, Error, Array, Null]);
        assert!(received.is_empty());
    }

    #[test]
    fn rejects_malformed_replies() {
        use ProtocolError::*;
        let cases: &[(&[u8], ProtocolError)] = &[
            (b"?x\r\n", UnknownType(b'?')),
            (b":12a\r\n", BadNumber),
            (b":\r\n", BadNumber),
            (b"$-2\r\n", BadLength),
            (b"$3\r\nfooXY", MissingCrlf),
            (b"+OK\rX", MissingCrlf),
        ];
        for &(bytes, expected) in cases {
            assert_eq!(
                frame(bytes),
                Err(FrameError::Protocol(expected)),
                "{bytes:?}"
            );
        }
        let long_line = [b'+']
            .iter()
            .chain([b'a'; REPLY_LINE_BYTES_MAX + 1].iter())
            .copied();
        let long_line: Vec<u8> = long_line.collect();
        assert_eq!(frame(&long_line), Err(FrameError::Protocol(LineTooLong)));
    }

    #[test]
    fn rejects_nesting_beyond_the_limit() {
        let deep = b"*1\r\n".repeat(REPLY_DEPTH_MAX + 2);
        assert_eq!(
            frame(&deep),
            Err(FrameError::Protocol(ProtocolError::TooDeep))
        );
    }

    #[test]
    fn encodes_commands_as_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b""]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }

    #[test]
    fn decimal_helpers_agree_with_std() {
        for value in [0, 1, 9, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            encode_decimal(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
            assert_eq!(decimal_len(value), value.to_string().len());
        }
    }

    #[test]
    fn error_text_strips_the_framing() {
        assert_eq!(error_text(b"-ERR bad\r\n"), b"ERR bad");
    }
}
