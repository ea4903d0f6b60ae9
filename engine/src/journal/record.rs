//! The journal's record framing: each record is a header (length, LSN, CRC32C of
//! LSN and payload) and a payload; [`Scanner`] walks a segment's valid records and
//! tells a torn tail from corruption in the middle. The payload's meaning (an
//! [`Effect`]) is the parent module's.
//!
//! # Where a journal ends
//!
//! [`scan`] takes records from the start while each is whole, has a good checksum and
//! carries the next LSN. Where only zero bytes follow the last record, the journal
//! ends there cleanly ([`End::Reserved`]: space the writer zero-filled ahead of its
//! records). Otherwise, at the first record that is not valid, it has to tell a torn tail
//! (a crash cut the last write short; recovery truncates there and carries on) from
//! damage in the middle (recovery must refuse, or it would silently drop
//! acknowledged writes). The rule: the journal *continues* after the bad spot if,
//! at any later byte offset, there is a whole record with a good checksum whose LSN
//! is at least the one expected at the bad spot, and no more above it than the
//! records that could fit in the bytes skipped (any LSN when the bad spot is the
//! first record). If one does, the bad spot is
//! [`End::Corrupt`]; otherwise it is [`End::TornTail`]. A whole, checksummed record
//! with the wrong LSN right where the next one belongs is a gap, so corrupt too.
//!
//! The cost of a wrong guess is lopsided, and the rule leans accordingly: a garbage
//! tail would have to contain a CRC32C-valid frame with a plausible LSN to be
//! mistaken for corruption (recovery then refuses and asks an operator), while a
//! real mid-journal corruption can only pass as a torn tail if nothing valid
//! follows it, in which case the bytes lost are exactly those a torn tail loses.

use super::*;

/// The table-driven CRC32C of the `crc` crate: the reference the tests check the
/// accelerated one against.
#[cfg(test)]
pub(super) const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Whether `lsn` may appear in a record.
pub fn lsn_valid(lsn: u64) -> bool {
    lsn != LSN_NONE && lsn != u64::MAX
}

/// CRC32C (Castagnoli), the checksum hardware accelerates and most journals use,
/// of the LSN and the payload. With the CPU's CRC instruction (SSE 4.2, ARMv8) it
/// runs at several GB/s, so a 100 MB record costs its core about 10 ms; the
/// byte-table version took 20 times that.
pub(super) fn checksum(lsn: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&lsn.to_le_bytes()), payload)
}

/// Appends one framed record to `out`. The payload length and the LSN must be in
/// bounds: the caller builds both, so a violation is a bug, not a runtime error.
pub fn encode_record(lsn: u64, payload: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.reserve(JOURNAL_RECORD_HEADER_BYTES + payload.len());
    out.extend_from_slice(&[0; JOURNAL_RECORD_HEADER_BYTES]);
    out.extend_from_slice(payload);
    seal(lsn, at, out);
}

/// Appends `effect` to `out` as one framed record, encoding it in place.
pub fn encode_effect_record(lsn: u64, effect: &Effect, out: &mut Vec<u8>) {
    let at = out.len();
    out.extend_from_slice(&[0; JOURNAL_RECORD_HEADER_BYTES]);
    effect.encode(out);
    seal(lsn, at, out);
}

/// Fills in the header of the record at `at`, whose payload runs to the end of `out`.
pub(super) fn seal(lsn: u64, at: usize, out: &mut [u8]) {
    let payload_at = at + JOURNAL_RECORD_HEADER_BYTES;
    let payload = &out[payload_at..];
    assert!(lsn_valid(lsn));
    assert!(payload.len() >= JOURNAL_RECORD_PAYLOAD_BYTES_MIN);
    assert!(payload.len() <= JOURNAL_RECORD_PAYLOAD_BYTES_MAX);
    let len = payload.len() as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    out[at + 8..payload_at].copy_from_slice(&lsn.to_le_bytes());
    // The LSN lies just before the payload: one pass over both is `checksum`'s
    // value (a CRC appended to is the CRC of the whole), without a second call's
    // set-up for a record of a few dozen bytes.
    let crc = crc32c::crc32c(&out[at + 8..]);
    out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// One valid record found by [`scan`]; `payload` indexes the scanned buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: usize,
    pub lsn: u64,
    pub payload: Range<usize>,
}

impl Record {
    /// Offset just past this record.
    pub fn end(&self) -> usize {
        self.payload.end
    }
}

/// How a journal ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The last record ends exactly at the end of the buffer.
    Clean,
    /// From `offset` on there is no record: a write cut short, zero padding or
    /// garbage, with nothing valid after it. Recovery truncates here.
    TornTail { offset: usize },
    /// The record at `offset` is damaged or out of sequence and the journal goes on
    /// after it. Recovery must not silently drop what follows.
    Corrupt { offset: usize },
    /// From `offset` on there are only zero bytes (at least one): space the writer
    /// reserved ahead of its records (see [`reserved_from`]). The journal ends
    /// cleanly there; nothing was cut short.
    Reserved { offset: usize },
}

/// Whether the bytes from `at` on are a reserved tail: at least one byte, all zero.
/// A journal writer may zero-fill a segment ahead of its records, so that the
/// `fdatasync` after each write has no file size or block map to commit; the
/// records then overwrite the zeros in order. A crash leaves whole records, maybe
/// one torn record (nonzero bytes: a torn tail, as before), then zeros.
pub fn reserved_from(buf: &[u8], at: usize) -> bool {
    buf.get(at..)
        .is_some_and(|rest| !rest.is_empty() && rest.iter().all(|&b| b == 0))
}

/// What [`scan`] found: the valid records from the start, in order, and the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub records: Vec<Record>,
    pub end: End,
}

impl Scan {
    /// Bytes taken by the valid records: the length to truncate a torn journal to.
    pub fn valid_bytes(&self) -> usize {
        self.records.last().map_or(0, Record::end)
    }

    /// The LSN the next record appended to this journal takes, if it has any record.
    pub fn next_lsn(&self) -> Option<u64> {
        self.records.last().map(|r| r.lsn + 1)
    }
}

/// A header that could start a record: sane length and LSN, and the whole record
/// inside the buffer. Its checksum is not checked yet.
#[derive(Debug, Clone, Copy)]
struct Header {
    payload_bytes: usize,
    crc: u32,
    lsn: u64,
}

fn header_at(buf: &[u8], at: usize) -> Option<Header> {
    let payload_at = at.checked_add(JOURNAL_RECORD_HEADER_BYTES)?;
    let head = buf.get(at..payload_at)?;
    let word = |r: Range<usize>| u32::from_le_bytes(head[r].try_into().expect("4 bytes"));
    let payload_bytes = word(0..4) as usize;
    let crc = word(4..8);
    let lsn = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
    let length_sane = (JOURNAL_RECORD_PAYLOAD_BYTES_MIN..=JOURNAL_RECORD_PAYLOAD_BYTES_MAX)
        .contains(&payload_bytes);
    let whole = buf.len() - payload_at >= payload_bytes;
    (length_sane && whole && lsn_valid(lsn)).then_some(Header {
        payload_bytes,
        crc,
        lsn,
    })
}

/// The header at `at` as a record, if its checksum holds.
fn checked(buf: &[u8], at: usize, header: Header) -> Option<Record> {
    let start = at + JOURNAL_RECORD_HEADER_BYTES;
    let payload = start..start + header.payload_bytes;
    (checksum(header.lsn, &buf[payload.clone()]) == header.crc).then_some(Record {
        offset: at,
        lsn: header.lsn,
        payload,
    })
}

/// Walks `buf` from the start and returns its valid records and how it ended (see
/// the module doc for how a torn tail is told from corruption). The first record
/// may carry any valid LSN; the caller checks it against its snapshot. This keeps
/// every record's position; [`Scanner`] walks a large journal in constant memory.
pub fn scan(buf: &[u8]) -> Scan {
    let mut scanner = Scanner::new(buf);
    let records = scanner.by_ref().collect();
    let end = scanner.end().expect("the scanner ran to its end");
    Scan { records, end }
}

/// [`scan`] one record at a time: yields the valid records, then [`Scanner::end`]
/// says how the journal ended.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    buf: &'a [u8],
    at: usize,
    last_lsn: Option<u64>,
    end: Option<End>,
}

impl<'a> Scanner<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Scanner {
            buf,
            at: 0,
            last_lsn: None,
            end: None,
        }
    }

    /// How the journal ended: `None` until the iterator has returned `None`.
    pub fn end(&self) -> Option<End> {
        self.end
    }

    fn stop(&mut self, end: End) -> Option<Record> {
        self.end = Some(end);
        None
    }
}

impl Iterator for Scanner<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.end.is_some() {
            return None;
        }
        let (buf, at) = (self.buf, self.at);
        if at == buf.len() {
            return self.stop(End::Clean);
        }
        let expected_lsn = self.last_lsn.map(|lsn| lsn + 1);
        match header_at(buf, at).and_then(|h| checked(buf, at, h)) {
            Some(r) if expected_lsn.is_none_or(|lsn| r.lsn == lsn) => {
                self.at = r.end();
                self.last_lsn = Some(r.lsn);
                Some(r)
            }
            Some(_) => self.stop(End::Corrupt { offset: at }),
            None if reserved_from(buf, at) => self.stop(End::Reserved { offset: at }),
            None if continues_after(buf, at, expected_lsn) => {
                self.stop(End::Corrupt { offset: at })
            }
            None => self.stop(End::TornTail { offset: at }),
        }
    }
}

/// Whether a record continuing this journal validates somewhere after the bad spot
/// at `bad_at`, where a record with `expected_lsn` belonged. Between the two, the
/// records lost each took at least [`JOURNAL_RECORD_BYTES_MIN`] bytes, which bounds
/// how far the later LSN can be ahead; checking that before the checksum makes a
/// garbage tail cheap to walk and hard to mistake for a record.
fn continues_after(buf: &[u8], bad_at: usize, expected_lsn: Option<u64>) -> bool {
    (bad_at + 1..buf.len()).any(|at| {
        let Some(header) = header_at(buf, at) else {
            return false;
        };
        let plausible = expected_lsn.is_none_or(|lsn| {
            let lost_max = ((at - bad_at) / JOURNAL_RECORD_BYTES_MIN) as u64;
            header.lsn >= lsn && header.lsn - lsn <= lost_max
        });
        plausible && checked(buf, at, header).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accelerated checksum is the standard CRC32C for every length and
    /// alignment, through the table version's bytes.
    #[test]
    fn the_accelerated_checksum_is_the_table_one() {
        let bytes: Vec<u8> = (0..4099u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..9 {
            for end in (start..bytes.len()).step_by(61).chain([bytes.len()]) {
                let payload = &bytes[start..end];
                let mut digest = CRC32C.digest();
                digest.update(&77u64.to_le_bytes());
                digest.update(payload);
                assert_eq!(checksum(77, payload), digest.finalize(), "{start}..{end}");
            }
        }
    }

    /// A valid record found after a bad spot counts as the journal going on only if
    /// its LSN could follow the records lost in between: at least the one expected,
    /// and ahead of it by no more records than the bytes in between could have held.
    /// A record at the bad spot itself is the one that failed, never a continuation.
    #[test]
    fn a_later_record_continues_the_journal_only_within_the_lsn_bound() {
        let bad_at = JOURNAL_RECORD_BYTES_MIN;
        let gap = 3 * JOURNAL_RECORD_BYTES_MIN;
        let expected = 10;
        let cases = [(9, false), (10, true), (11, true), (13, true), (14, false)];
        for (lsn, continues) in cases {
            let mut buf = vec![0xAA; bad_at + gap];
            encode_record(lsn, &[7; 16], &mut buf);
            let found = continues_after(&buf, bad_at, Some(expected));
            assert_eq!(found, continues, "LSN {lsn} after {gap} bytes");
        }
        let mut buf = vec![0xAA; bad_at];
        encode_record(expected, &[7; 16], &mut buf);
        assert!(!continues_after(&buf, bad_at, Some(expected)));
    }
}
