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

use bytes::Bytes;

use super::{find_crlf, parse_i64, parse_inline, ArgRef, Args, Frame, ProtocolError};
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
/// A big argument (from [`BIG_BULK_BYTES`]) is copied out of its batch's buffer when
/// the batch is more than this many times its size (see [`Framed::take_into`]).
const BIG_ARG_BATCH_FRACTION: usize = 2;

/// What one request may be.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// `proto-max-bulk-len`.
    pub bulk_len_max: u64,
    /// False while the client owes a password: Redis's unauthenticated limits apply.
    pub authenticated: bool,
}

/// The requests of a batch, framed but not yet sliced out of their buffer: every
/// argument of every request in one flat vector, in order, and where each request's
/// arguments end. A connection keeps one and reuses it from batch to batch, so
/// framing allocates nothing once warm and no per-request structure is built or
/// moved; [`Framed::take_into`] then makes each request's [`Args`] in place.
/// Requests without arguments (an empty line, `*0`) are not kept, as Redis skips
/// them.
#[derive(Debug, Default)]
pub struct Framed {
    args: Vec<ArgRef>,
    /// Per request, the end of its arguments in `args`.
    ends: Vec<usize>,
}

impl Framed {
    /// Requests framed (with arguments).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The argument bytes of the largest framed request.
    pub fn largest_request_bytes(&self) -> usize {
        let mut from = 0;
        let mut largest = 0;
        for &end in &self.ends {
            let bytes = self.args[from..end].iter().map(ArgRef::len).sum();
            largest = largest.max(bytes);
            from = end;
        }
        largest
    }

    /// Forgets every framed request.
    pub fn clear(&mut self) {
        self.args.clear();
        self.ends.clear();
    }

    /// Appends one request's arguments to `batch` per framed request, each sliced
    /// out of `buf` (the frozen bytes the ranges index) without copying, and
    /// forgets them. A big argument that is a small part of the batch is copied
    /// instead: a command may keep an argument as it is (a big string value is
    /// stored as the request's own bytes), and a slice would keep the buffer of the
    /// whole pipeline alive for it. Returns the length of the longest big
    /// argument (a bulk of at least [`BIG_BULK_BYTES`]), 0 if none was big.
    ///
    /// The slices' references to the buffer are taken together, in one atomic
    /// addition ([`Bytes::slicer`]), and the caller can give back those of the
    /// slices still in the batch after it ran in one subtraction
    /// ([`release_batch`]): one per argument each way was a sixth of the CPU of a
    /// canned `GET` at pipeline 16.
    pub fn take_into(&mut self, buf: &Bytes, batch: &mut Vec<Args>) -> usize {
        let mut buf = buf.slicer(self.args.len());
        let buf = &mut buf;
        batch.reserve(self.ends.len());
        let mut args = self.args.drain(..);
        let mut from = 0;
        let mut big = 0;
        for &end in &self.ends {
            // Filled where it lies: an `Args` built aside and pushed was copied
            // twice (136 bytes each time), a tenth of a canned GET's CPU at P16.
            batch.push(Args::new());
            let request = batch.last_mut().expect("pushed above");
            // Each slice made in this loop (`slice_arg` inlined): made in a call
            // of its own, each came back through memory the loop read at once,
            // a stall per argument (canned GET at P16: user CPU per request
            // 0.062-0.075 -> 0.057-0.063 µs).
            for a in args.by_ref().take(end - from) {
                if a.len() >= BIG_BULK_BYTES {
                    big = big.max(a.len());
                }
                request.push(slice_arg(a, buf));
            }
            debug_assert_eq!(request.len(), end - from);
            from = end;
        }
        debug_assert!(args.next().is_none());
        drop(args);
        self.ends.clear();
        big
    }

    /// Appends one request, unless it has no arguments.
    pub(crate) fn push_request(&mut self, args: impl IntoIterator<Item = ArgRef>) {
        self.args.extend(args);
        self.end_request();
    }

    /// Ends the request whose arguments were appended since the last one ended,
    /// unless it has none.
    fn end_request(&mut self) {
        if self.ends.last().copied().unwrap_or(0) < self.args.len() {
            self.ends.push(self.args.len());
        }
    }
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
    /// The arguments framed so far, their ranges from the request's first byte.
    args: Vec<ArgRef>,
    /// Where the next argument's `$` header starts.
    pos: usize,
    /// Arguments still to come.
    left: usize,
    /// The input length the next argument needs, once its header announced a big
    /// bulk.
    wanted: Option<usize>,
}

impl RequestParser {
    /// Frames at most one request from the start of `input` into `out`, its
    /// argument ranges offset by `base` (where `input` starts in the buffer `out`
    /// indexes). Returns the bytes the request took, or `Ok(None)` when `input`
    /// holds no complete request yet. On an error `out` is as it was.
    pub fn frame(
        &mut self,
        input: &[u8],
        limits: FrameLimits,
        base: usize,
        out: &mut Framed,
    ) -> Result<Option<usize>, ProtocolError> {
        if let Some(partial) = self.partial.take() {
            return self.resume(input, partial, limits, base, out);
        }
        match input.first() {
            None => Ok(None),
            Some(b'*') => self.start_multibulk(input, limits, base, out),
            Some(_) => parse_inline(input, base, out),
        }
    }

    /// Parses at most one request from the start of `input`; see [`super::parse`].
    pub fn parse(
        &mut self,
        input: &[u8],
        limits: FrameLimits,
    ) -> Result<Option<Frame>, ProtocolError> {
        let mut framed = Framed::default();
        let consumed = self.frame(input, limits, 0, &mut framed)?;
        Ok(consumed.map(|consumed| Frame {
            args: framed.args.into_iter().collect(),
            consumed,
        }))
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

    /// Frames a multibulk from its `*` header. A whole one (the usual case) goes
    /// straight into `out`; one cut short keeps what arrived in a [`Partial`].
    fn start_multibulk(
        &mut self,
        input: &[u8],
        limits: FrameLimits,
        base: usize,
        out: &mut Framed,
    ) -> Result<Option<usize>, ProtocolError> {
        let header = match decimal_line(input, 1) {
            Some((count, next)) if count <= multibulk_args_max(limits) => {
                Some((count as usize, next))
            }
            _ => multibulk_header(input, limits)?,
        };
        let Some((mut left, mut pos)) = header else {
            return Ok(None);
        };
        let mark = out.args.len();
        out.args.reserve(left.min(MULTIBULK_PREALLOC_ARGS_MAX));
        while left > 0 {
            match next_bulk(input, pos, limits) {
                Ok(Bulk::Whole(arg, next)) => {
                    out.args
                        .push(ArgRef::Range(arg.start + base..arg.end + base));
                    pos = next;
                    left -= 1;
                }
                Ok(Bulk::Partial(wanted)) => {
                    let args = out.args.drain(mark..).map(|a| a.unbase(base)).collect();
                    self.partial = Some(Partial {
                        args,
                        pos,
                        left,
                        wanted,
                    });
                    return Ok(None);
                }
                Err(e) => {
                    out.args.truncate(mark);
                    return Err(e);
                }
            }
        }
        out.end_request();
        Ok(Some(pos))
    }

    /// Continues a multibulk cut short by the end of an earlier input.
    fn resume(
        &mut self,
        input: &[u8],
        mut partial: Partial,
        limits: FrameLimits,
        base: usize,
        out: &mut Framed,
    ) -> Result<Option<usize>, ProtocolError> {
        while partial.left > 0 {
            match next_bulk(input, partial.pos, limits)? {
                Bulk::Whole(arg, next) => {
                    partial.args.push(ArgRef::Range(arg));
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
        out.push_request(partial.args.into_iter().map(|a| a.offset(base)));
        Ok(Some(partial.pos))
    }
}

impl ArgRef {
    /// The same argument, its range counted from `base` bytes into the buffer.
    fn unbase(self, base: usize) -> ArgRef {
        match self {
            ArgRef::Range(r) => ArgRef::Range(r.start - base..r.end - base),
            owned => owned,
        }
    }
}

/// The most arguments a multibulk of a client under `limits` may announce.
fn multibulk_args_max(limits: FrameLimits) -> u64 {
    if limits.authenticated {
        PROTO_MAX_MULTIBULK_ARGS as u64
    } else {
        UNAUTHENTICATED_MULTIBULK_ARGS_MAX as u64
    }
}

/// The `*` header at the start of `input`, any way it may be written: its argument
/// count (a negative one counts none) and where its first bulk starts; `None` while
/// the header is incomplete.
fn multibulk_header(
    input: &[u8],
    limits: FrameLimits,
) -> Result<Option<(usize, usize)>, ProtocolError> {
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
    Ok(Some((count.max(0) as usize, eol + 2)))
}

/// Most digits [`decimal_line`] reads: any such number fits a `u64`.
const DECIMAL_LINE_DIGITS_MAX: usize = 18;

/// The header number starting at `from` when it is written the way clients write
/// it: 1 to [`DECIMAL_LINE_DIGITS_MAX`] digits, no sign, no leading zero, then CRLF.
/// Returns it and where the line ends (after the CRLF). Such a line's first CRLF
/// is the one after the digits and `parse_i64` reads the same value from it, so
/// this is the general header path's result without its two passes over the line;
/// anything else (a sign, an incomplete line, an error) is left to that path.
#[inline]
fn decimal_line(input: &[u8], from: usize) -> Option<(u64, usize)> {
    let line = input.get(from..)?;
    let mut value: u64 = 0;
    let mut digits = 0;
    while let Some(&c) = line.get(digits) {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        if digits == DECIMAL_LINE_DIGITS_MAX {
            return None;
        }
        value = value * 10 + digit as u64;
        digits += 1;
    }
    let canonical = digits == 1 || (digits > 1 && line[0] != b'0');
    if !canonical || line.get(digits..digits + 2) != Some(b"\r\n") {
        return None;
    }
    Some((value, from + digits + 2))
}

/// The second argument of the request at the start of `input` (most commands'
/// key), when the input holds it whole in the form clients write: `*N` with N of at
/// least 2, then `$` bulks. Anything else answers `None`; this is a hint for
/// prefetching the key, read before the request is framed.
pub fn second_argument(input: &[u8]) -> Option<&[u8]> {
    if input.first() != Some(&b'*') {
        return None;
    }
    let (count, at) = decimal_line(input, 1)?;
    if count < 2 {
        return None;
    }
    let skip = bulk_at(input, at)?.end + 2;
    let key = bulk_at(input, skip)?;
    input.get(key)
}

/// The bytes of the bulk whose `$` header starts at `at`, if the input holds them.
fn bulk_at(input: &[u8], at: usize) -> Option<Range<usize>> {
    if input.get(at) != Some(&b'$') {
        return None;
    }
    let (len, start) = decimal_line(input, at + 1)?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= input.len()).then_some(start..end)
}

/// What the input holds of the bulk whose `$` header starts at a position.
#[derive(Debug)]
enum Bulk {
    /// All of it: its bytes, and where the next header starts.
    Whole(Range<usize>, usize),
    /// Not all of it yet; for a big bulk whose header arrived, the input length
    /// that completes it.
    Partial(Option<usize>),
}

/// The bulk whose `$` header starts at `pos`. Inlined into the framing loop: a
/// call per argument, returning the bulk through memory, cost as much as the
/// header's parsing.
#[inline(always)]
fn next_bulk(input: &[u8], pos: usize, limits: FrameLimits) -> Result<Bulk, ProtocolError> {
    if input.get(pos) == Some(&b'$') {
        if let Some((len, start)) = decimal_line(input, pos + 1) {
            let allowed = limits.authenticated || len <= UNAUTHENTICATED_BULK_LEN_MAX as u64;
            let end = start + len as usize;
            if len <= limits.bulk_len_max && allowed && input.len() >= end + 2 {
                return Ok(Bulk::Whole(start..end, end + 2));
            }
        }
    }
    any_bulk(input, pos, limits)
}

/// [`next_bulk`] for any header: incomplete, malformed, over a limit, or a bulk
/// still arriving.
fn any_bulk(input: &[u8], pos: usize, limits: FrameLimits) -> Result<Bulk, ProtocolError> {
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

/// Drops the arguments of `batch` (clearing it), giving back at once the
/// references of those that are still slices of `buf`, the buffer
/// [`Framed::take_into`] sliced them from.
pub fn release_batch(buf: &Bytes, batch: &mut Vec<Args>) {
    buf.release_slices(batch.iter_mut().flat_map(|args| args.iter_mut()));
    batch.clear();
}

/// Argument `arg` of the batch in `buf`: see [`Framed::take_into`].
#[inline(always)]
fn slice_arg(arg: ArgRef, buf: &mut bytes::Slicer<'_>) -> Bytes {
    match arg {
        ArgRef::Range(r)
            if r.len() >= BIG_BULK_BYTES
                && buf.bytes().len() > BIG_ARG_BATCH_FRACTION * r.len() =>
        {
            Bytes::copy_from_slice(&buf.bytes()[r])
        }
        arg => arg.materialise(buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::parse;

    const MAX: u64 = 512 * 1024 * 1024;

    #[test]
    fn the_second_argument_is_read_only_from_a_whole_multibulk_header() {
        assert_eq!(
            second_argument(b"*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$1\r\nv\r\n"),
            Some(&b"key:1"[..])
        );
        assert_eq!(
            second_argument(b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n"),
            Some(&b""[..])
        );
        for input in [
            &b"*1\r\n$4\r\nPING\r\n"[..],
            b"*2\r\n$3\r\nGET\r\n$5\r\nkey",
            b"*2\r\n$3\r\nGET\r\n$99999999999999999\r\n",
            b"*2\r\n$3\r\nGE",
            b"GET key\r\n",
            b"*-1\r\n",
            b"",
        ] {
            assert_eq!(second_argument(input), None, "{input:?}");
        }
    }

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
    fn usual_headers_frame_as_any_header_would() {
        let limits = FrameLimits {
            bulk_len_max: MAX,
            authenticated: true,
        };
        let data = [b'x'; 32];
        let digits = "1".repeat(DECIMAL_LINE_DIGITS_MAX + 1);
        for len in [
            "0", "1", "9", "10", "32", "01", "00", "-0", "-1", "+1", " 1", "1 ", "", &digits,
        ] {
            let mut input = format!("${len}\r\n").into_bytes();
            input.extend_from_slice(&data);
            for cut in 0..input.len() {
                let input = &input[..cut];
                let fast = next_bulk(input, 0, limits).map(|b| format!("{b:?}"));
                let any = any_bulk(input, 0, limits).map(|b| format!("{b:?}"));
                assert_eq!(fast, any, "${len} cut at {cut}");
            }
        }
        assert_eq!(decimal_line(b"16\r\n", 0), Some((16, 4)));
        assert_eq!(decimal_line(b"016\r\n", 0), None, "leading zero");
        assert_eq!(decimal_line(b"16\r", 0), None, "incomplete");
        assert_eq!(decimal_line(b"1\n", 0), None, "no CR");
    }

    /// Frames every whole request of `input` into `framed`; the bytes they took.
    fn frame_all(
        parser: &mut RequestParser,
        input: &[u8],
        limits: FrameLimits,
        framed: &mut Framed,
    ) -> usize {
        let mut consumed = 0;
        while let Some(len) = parser
            .frame(&input[consumed..], limits, consumed, framed)
            .unwrap()
        {
            consumed += len;
        }
        consumed
    }

    const LIMITS: FrameLimits = FrameLimits {
        bulk_len_max: MAX,
        authenticated: true,
    };

    /// `SET k` of a big value (`BIG_BULK_BYTES`), and the value.
    fn big_set() -> (Vec<u8>, Vec<u8>) {
        let value = vec![b'v'; BIG_BULK_BYTES];
        let mut set = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len()).into_bytes();
        set.extend_from_slice(&value);
        set.extend_from_slice(b"\r\n");
        (set, value)
    }

    #[test]
    fn a_big_argument_pins_its_batch_only_when_it_is_most_of_it() {
        let (limits, (set, value)) = (LIMITS, big_set());
        let within = |arg: &Bytes, buf: &Bytes| {
            let (at, start) = (arg.as_ptr() as usize, buf.as_ptr() as usize);
            at >= start && at < start + buf.len()
        };
        for (copies, shared) in [(1, true), (3, false)] {
            let input = Bytes::from(set.repeat(copies));
            let mut framed = Framed::default();
            frame_all(&mut RequestParser::default(), &input, limits, &mut framed);
            let mut batch = Vec::new();
            framed.take_into(&input, &mut batch);
            assert_eq!(batch.len(), copies);
            for request in &batch {
                assert_eq!(request[2], value);
                assert_eq!(within(&request[2], &input), shared, "{copies} requests");
                assert!(within(&request[1], &input), "small arguments are slices");
            }
        }
    }

    /// The references a batch's slices take to its input, all at once, are each
    /// given back: by the slicer for a big argument that was copied, at the
    /// batch's release for the slices still in it, and on its own drop for a
    /// slice a command kept. The input is unique again once all are gone, and
    /// a slice is never released twice (the count would wrap, or the buffer be
    /// freed under the input).
    #[test]
    fn a_batch_gives_back_each_reference_to_its_input_once() {
        let (limits, (set, value)) = (LIMITS, big_set());
        let get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        // One request alone: its big value is a slice; three: each is copied.
        for requests in [
            vec![set.clone()],
            vec![set.clone(), get.to_vec(), set.repeat(2)],
        ] {
            let bytes = requests.concat();
            let mut pending = bytes::BytesMut::from(&bytes[..]);
            // Frozen as a connection's input is: a shared `BytesMut`'s split.
            let input = pending.split_to(bytes.len()).freeze();
            drop(pending);
            assert!(input.is_unique());
            let mut framed = Framed::default();
            frame_all(&mut RequestParser::default(), &input, limits, &mut framed);
            let mut batch = Vec::new();
            framed.take_into(&input, &mut batch);
            assert_eq!(batch[0][2], value);
            let kept = batch[0].pop().unwrap();
            let moved = std::mem::take(&mut batch[0]);
            release_batch(&input, &mut batch);
            assert!(batch.is_empty());
            assert!(!input.is_unique(), "kept arguments hold the input");
            drop(moved);
            assert_eq!(&kept[..], &value[..]);
            drop(kept);
            assert!(input.is_unique(), "{} requests", requests.len());
        }
    }

    #[test]
    fn a_batch_keeps_its_requests_flat_and_slices_them_once() {
        let limits = FrameLimits {
            bulk_len_max: MAX,
            authenticated: true,
        };
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n\r\n*0\r\nset \"a\\x41\" v\r\n*1\r\n$4\r\nPI";
        let (mut parser, mut framed) = (RequestParser::default(), Framed::default());
        let consumed = frame_all(&mut parser, input, limits, &mut framed);
        assert_eq!(framed.len(), 2, "the empty line and *0 are dropped");
        assert_eq!(consumed, input.len() - 10, "the cut request waits");
        let mut batch = Vec::new();
        framed.take_into(&Bytes::copy_from_slice(&input[..consumed]), &mut batch);
        let want: [&[&[u8]]; 2] = [&[b"GET", b"k"], &[b"set", b"aA", b"v"]];
        assert_eq!(
            batch,
            want.map(|r| r.iter().map(|a| Bytes::from(*a)).collect::<Args>())
        );
        assert!(framed.is_empty());

        let rest = b"*1\r\n$4\r\nPING\r\n";
        assert_eq!(
            parser.frame(rest, limits, 7, &mut framed),
            Ok(Some(rest.len()))
        );
        let mut batch = Vec::new();
        let mut buf = vec![b'.'; 7];
        buf.extend_from_slice(rest);
        framed.take_into(&Bytes::from(buf), &mut batch);
        assert_eq!(batch, [Args::from_iter([Bytes::from_static(b"PING")])]);
    }

    #[test]
    fn a_protocol_error_leaves_the_batch_as_it_was() {
        let limits = FrameLimits {
            bulk_len_max: MAX,
            authenticated: true,
        };
        let mut framed = Framed::default();
        let mut parser = RequestParser::default();
        assert_eq!(
            parser.frame(b"*1\r\n$1\r\na\r\n", limits, 0, &mut framed),
            Ok(Some(11))
        );
        let bad = b"*2\r\n$1\r\nb\r\nx1\r\n";
        assert_eq!(
            parser.frame(bad, limits, 11, &mut framed),
            Err(ProtocolError::ExpectedDollar(b'x'))
        );
        assert_eq!((framed.len(), framed.args.len()), (1, 1));
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
