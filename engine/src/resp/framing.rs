//! Framing a connection's requests as they arrive: a [`RequestParser`] keeps a
//! partly received multibulk between reads, so a request costs time linear in its
//! size however many reads deliver it, and applies the limits of the client that
//! sends it ([`FrameLimits`]): `proto-max-bulk-len`, and Redis's small limits for a
//! client that owes a password.
//!
//! Once a big bulk's header has arrived, the parser knows how long the input must
//! grow before the request can advance ([`RequestParser::input_wanted`]): the
//! connection sizes its input buffer for it once, as Redis allocates a big bulk's
//! full length when it reads its `$len`, instead of regrowing (and copying) the
//! buffer a doubling at a time while a 100 MB value arrives.

use std::ops::Range;

use super::{find_crlf, parse_i64, parse_inline, ArgRef, Frame, ProtocolError};
use crate::limits::{PROTO_INLINE_MAX_BYTES, PROTO_MAX_MULTIBULK_ARGS};

/// Redis's limits on a client that has not authenticated while a password is required:
/// a longer bulk or a larger multibulk closes the connection.
pub const UNAUTHENTICATED_BULK_LEN_MAX: i64 = 16 * 1024;
/// See [`UNAUTHENTICATED_BULK_LEN_MAX`].
pub const UNAUTHENTICATED_MULTIBULK_ARGS_MAX: i64 = 10;
/// Argument slots reserved up front for a multibulk, whatever count it announces
/// (Redis's cap too): a huge announced count costs memory only as arguments arrive.
const MULTIBULK_PREALLOC_ARGS_MAX: usize = 1024;
/// Bulks at least this long have their input room announced ahead
/// ([`RequestParser::input_wanted`]); Redis's `PROTO_MBULK_BIG_ARG`.
const BIG_BULK_BYTES: usize = 32 * 1024;

/// What one request may be.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// `proto-max-bulk-len`.
    pub bulk_len_max: u64,
    /// False while the client owes a password: Redis's unauthenticated limits apply.
    pub authenticated: bool,
}

/// Frames requests from a connection's input, keeping a partly received multibulk
/// between calls, so framing a request costs time linear in its size however many
/// reads deliver it.
///
/// Protocol: after `Ok(None)`, the next call must get the same input from the same
/// start (the incomplete request's first byte), possibly extended.
#[derive(Debug, Default)]
pub struct RequestParser {
    partial: Option<Partial>,
}

/// A multibulk framed up to some argument.
#[derive(Debug)]
struct Partial {
    frame: Frame,
    /// Where the next argument's `$` header starts.
    pos: usize,
    /// Arguments still to come.
    left: usize,
    /// The input length the next argument needs, once its header announced a big
    /// bulk.
    wanted: Option<usize>,
}

impl RequestParser {
    /// Parses at most one request from the start of `input`; see [`parse`].
    pub fn parse(
        &mut self,
        input: &[u8],
        limits: FrameLimits,
    ) -> Result<Option<Frame>, ProtocolError> {
        if let Some(partial) = self.partial.take() {
            return self.resume(input, partial, limits);
        }
        match input.first() {
            None => Ok(None),
            Some(b'*') => self.start_multibulk(input, limits),
            Some(_) => parse_inline(input),
        }
    }

    /// Forgets a partly framed request (the connection's input was dropped).
    pub fn reset(&mut self) {
        self.partial = None;
    }

    /// How long the input (from the pending request's first byte, the start of the
    /// next call's input) must be before the request can advance, when that is
    /// known and big: a bulk of at least [`BIG_BULK_BYTES`] whose header arrived.
    /// The caller reserves that much once rather than growing its buffer by steps.
    pub fn input_wanted(&self) -> Option<usize> {
        self.partial.as_ref()?.wanted
    }

    fn start_multibulk(
        &mut self,
        input: &[u8],
        limits: FrameLimits,
    ) -> Result<Option<Frame>, ProtocolError> {
        let Some(eol) = find_crlf(input, 0) else {
            if input.len() > PROTO_INLINE_MAX_BYTES {
                return Err(ProtocolError::TooBigMultibulkCount);
            }
            return Ok(None);
        };
        let count = parse_i64(&input[1..eol]).ok_or(ProtocolError::InvalidMultibulkLength)?;
        if count > PROTO_MAX_MULTIBULK_ARGS {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        if !limits.authenticated && count > UNAUTHENTICATED_MULTIBULK_ARGS_MAX {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        let left = count.max(0) as usize;
        let mut frame = Frame::default();
        frame.args.reserve(left.min(MULTIBULK_PREALLOC_ARGS_MAX));
        let partial = Partial {
            frame,
            pos: eol + 2,
            left,
            wanted: None,
        };
        self.resume(input, partial, limits)
    }

    fn resume(
        &mut self,
        input: &[u8],
        mut partial: Partial,
        limits: FrameLimits,
    ) -> Result<Option<Frame>, ProtocolError> {
        while partial.left > 0 {
            match next_bulk(input, partial.pos, limits)? {
                Bulk::Whole(arg, next) => {
                    partial.frame.args.push(ArgRef::Range(arg));
                    partial.pos = next;
                    partial.left -= 1;
                    partial.wanted = None;
                }
                Bulk::Partial(wanted) => {
                    partial.wanted = wanted;
                    self.partial = Some(partial);
                    return Ok(None);
                }
            }
        }
        partial.frame.consumed = partial.pos;
        Ok(Some(partial.frame))
    }
}

/// What the input holds of the bulk whose `$` header starts at a position.
enum Bulk {
    /// All of it: its bytes, and where the next header starts.
    Whole(Range<usize>, usize),
    /// Not all of it yet; for a big bulk whose header arrived, the input length
    /// that completes it.
    Partial(Option<usize>),
}

/// The bulk whose `$` header starts at `pos`.
fn next_bulk(input: &[u8], pos: usize, limits: FrameLimits) -> Result<Bulk, ProtocolError> {
    let Some(eol) = find_crlf(input, pos) else {
        if input.len() - pos > PROTO_INLINE_MAX_BYTES {
            return Err(ProtocolError::TooBigBulkCount);
        }
        return Ok(Bulk::Partial(None));
    };
    if input[pos] != b'$' {
        return Err(ProtocolError::ExpectedDollar(input[pos]));
    }
    let len = parse_i64(&input[pos + 1..eol]).ok_or(ProtocolError::InvalidBulkLength)?;
    if len < 0 || len as u64 > limits.bulk_len_max {
        return Err(ProtocolError::InvalidBulkLength);
    }
    if !limits.authenticated && len > UNAUTHENTICATED_BULK_LEN_MAX {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    let start = eol + 2;
    let end = start + len as usize;
    if input.len() < end + 2 {
        let big = len as usize >= BIG_BULK_BYTES;
        return Ok(Bulk::Partial(big.then_some(end + 2)));
    }
    Ok(Bulk::Whole(start..end, end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::parse;

    const MAX: u64 = 512 * 1024 * 1024;

    #[test]
    fn a_request_fed_a_byte_at_a_time_is_framed_once() {
        let limits = FrameLimits {
            bulk_len_max: MAX,
            authenticated: true,
        };
        let req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n";
        let mut parser = RequestParser::default();
        for cut in 0..req.len() {
            assert_eq!(
                parser.parse(&req[..cut], limits).unwrap(),
                None,
                "cut at {cut}"
            );
        }
        let whole = parser.parse(req, limits).unwrap().unwrap();
        assert_eq!(whole, parse(req, MAX).unwrap().unwrap());
        assert!(
            parser.partial.is_none(),
            "a whole request leaves nothing pending"
        );
    }

    #[test]
    fn a_big_bulk_announces_the_input_it_needs() {
        let limits = FrameLimits {
            bulk_len_max: MAX,
            authenticated: true,
        };
        let mut parser = RequestParser::default();
        let value = vec![b'v'; BIG_BULK_BYTES];
        let mut req = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len()).into_bytes();
        let header = req.len();
        req.extend_from_slice(&value);
        req.extend_from_slice(b"\r\n");
        assert_eq!(parser.parse(&req[..header - 1], limits).unwrap(), None);
        assert_eq!(parser.input_wanted(), None, "the length is not known yet");
        for cut in [header, header + 10, req.len() - 1] {
            assert_eq!(parser.parse(&req[..cut], limits).unwrap(), None);
            assert_eq!(parser.input_wanted(), Some(req.len()), "cut at {cut}");
        }
        assert!(parser.parse(&req, limits).unwrap().is_some());
        assert_eq!(parser.input_wanted(), None);

        let small = b"*2\r\n$3\r\nGET\r\n$5\r\nab";
        assert_eq!(parser.parse(small, limits).unwrap(), None);
        assert_eq!(
            parser.input_wanted(),
            None,
            "a small bulk grows the usual way"
        );
    }

    #[test]
    fn unauthenticated_clients_send_small_requests() {
        let limits = FrameLimits {
            bulk_len_max: MAX,
            authenticated: false,
        };
        let e = |i: &[u8]| {
            RequestParser::default()
                .parse(i, limits)
                .unwrap_err()
                .message()
        };
        assert_eq!(
            e(b"*11\r\n"),
            "ERR Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(
            e(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n"),
            "ERR Protocol error: unauthenticated bulk length"
        );
        let ok = b"*2\r\n$4\r\nAUTH\r\n$16384\r\n";
        assert_eq!(RequestParser::default().parse(ok, limits).unwrap(), None);
        let ten = b"*10\r\n";
        assert_eq!(RequestParser::default().parse(ten, limits).unwrap(), None);
    }
}
