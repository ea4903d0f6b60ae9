//! A shard's journal as bytes: how records are framed, and how recovery reads a
//! journal back and decides where it ends. No files here; the server owns the I/O.
//!
//! ```text
//!  write: effect ──► payload ──► encode_record(lsn) ──► journal buffer ──► file
//!  start: file ──► scan ──► records (offset, lsn, payload) + how the journal ended
//! ```
//!
//! # Record layout
//!
//! ```text
//!  0        4        8                16              16+len
//!  ┌────────┬────────┬────────────────┬───────────────┐
//!  │ len    │ crc    │ lsn            │ payload       │
//!  │ u32 LE │ u32 LE │ u64 LE         │ len bytes     │
//!  └────────┴────────┴────────────────┴───────────────┘
//!  crc = CRC32C(lsn bytes ‖ payload)
//! ```
//!
//! Records are packed back to back with no alignment. The length is bounded by
//! [`JOURNAL_RECORD_PAYLOAD_BYTES_MIN`] and [`JOURNAL_RECORD_PAYLOAD_BYTES_MAX`]; LSN 0
//! ([`LSN_NONE`]) and `u64::MAX` are never used, and within one journal each record's
//! LSN is the previous one's plus 1. A zero-filled header therefore never frames a
//! record (its length is 0), so the zero padding direct-I/O writers leave past the
//! last write reads as the end.
//!
//! # Where a journal ends
//!
//! [`scan`] takes records from the start while each is whole, has a good checksum and
//! carries the next LSN. At the first one that is not, it has to tell a torn tail
//! (a crash cut the last write short; recovery truncates there and carries on) from
//! damage in the middle (recovery must refuse, or it would silently drop
//! acknowledged writes). The rule: the journal *continues* after the bad spot if,
//! at any later byte offset, there is a whole record with a good checksum whose LSN
//! is at least the one expected at the bad spot, and no more above it than the
//! records that could fit in the bytes skipped. If one does, the bad spot is
//! [`End::Corrupt`]; otherwise it is [`End::TornTail`]. A whole, checksummed record
//! with the wrong LSN right where the next one belongs is a gap, so corrupt too.
//!
//! The cost of a wrong guess is lopsided, and the rule leans accordingly: a garbage
//! tail would have to contain a CRC32C-valid frame with a plausible LSN to be
//! mistaken for corruption (recovery then refuses and asks an operator), while a
//! real mid-journal corruption can only pass as a torn tail if nothing valid
//! follows it, in which case the bytes lost are exactly those a torn tail loses.

use std::ops::Range;

use crc::{Crc, CRC_32_ISCSI};

use crate::limits::{
    JOURNAL_RECORD_BYTES_MIN, JOURNAL_RECORD_HEADER_BYTES, JOURNAL_RECORD_PAYLOAD_BYTES_MAX,
    JOURNAL_RECORD_PAYLOAD_BYTES_MIN,
};

/// No LSN: never written in a record, so a zeroed header cannot pass as one.
pub const LSN_NONE: u64 = 0;

/// CRC32C (Castagnoli), the checksum hardware accelerates and most journals use.
const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// Whether `lsn` may appear in a record.
pub fn lsn_valid(lsn: u64) -> bool {
    lsn != LSN_NONE && lsn != u64::MAX
}

fn checksum(lsn: u64, payload: &[u8]) -> u32 {
    let mut digest = CRC32C.digest();
    digest.update(&lsn.to_le_bytes());
    digest.update(payload);
    digest.finalize()
}

/// Appends one framed record to `out`. The payload length and the LSN must be in
/// bounds: the caller builds both, so a violation is a bug, not a runtime error.
pub fn encode_record(lsn: u64, payload: &[u8], out: &mut Vec<u8>) {
    assert!(lsn_valid(lsn));
    assert!(payload.len() >= JOURNAL_RECORD_PAYLOAD_BYTES_MIN);
    assert!(payload.len() <= JOURNAL_RECORD_PAYLOAD_BYTES_MAX);
    out.reserve(JOURNAL_RECORD_HEADER_BYTES + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(lsn, payload).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(payload);
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
/// may carry any valid LSN; the caller checks it against its snapshot.
pub fn scan(buf: &[u8]) -> Scan {
    let mut records: Vec<Record> = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let expected_lsn = records.last().map(|r| r.lsn + 1);
        let record = header_at(buf, at).and_then(|h| checked(buf, at, h));
        let end = match record {
            Some(r) if expected_lsn.is_none_or(|lsn| r.lsn == lsn) => {
                at = r.end();
                records.push(r);
                continue;
            }
            Some(_) => End::Corrupt { offset: at },
            None if continues_after(buf, at, expected_lsn) => End::Corrupt { offset: at },
            None => End::TornTail { offset: at },
        };
        return Scan { records, end };
    }
    debug_assert_eq!(at, buf.len());
    Scan {
        records,
        end: End::Clean,
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
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A journal of `n` records with LSNs from `first_lsn`, payloads of varied
    /// lengths (1 to 40 bytes) and contents; returns it and each record's offset.
    fn journal(n: usize, first_lsn: u64) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(buf.len());
            let payload: Vec<u8> = (0..1 + (i * 7) % 40).map(|j| (i + j) as u8).collect();
            encode_record(first_lsn + i as u64, &payload, &mut buf);
        }
        (buf, offsets)
    }

    fn offsets_of(scan: &Scan) -> Vec<usize> {
        scan.records.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn header_layout() {
        let mut buf = Vec::new();
        encode_record(0x0102_0304_0506_0708, b"abc", &mut buf);
        assert_eq!(buf.len(), JOURNAL_RECORD_HEADER_BYTES + 3);
        assert_eq!(&buf[0..4], &3u32.to_le_bytes());
        let mut covered = 0x0102_0304_0506_0708u64.to_le_bytes().to_vec();
        covered.extend_from_slice(b"abc");
        assert_eq!(&buf[4..8], &CRC32C.checksum(&covered).to_le_bytes());
        assert_eq!(&buf[8..16], &[8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(&buf[16..], b"abc");
    }

    #[test]
    fn crc32c_is_castagnoli() {
        // The standard check value of CRC-32C.
        assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn many_records_round_trip() {
        let (buf, offsets) = journal(1000, 77);
        let scan = scan(&buf);
        assert_eq!(scan.end, End::Clean);
        assert_eq!(offsets_of(&scan), offsets);
        for (i, r) in scan.records.iter().enumerate() {
            assert_eq!(r.lsn, 77 + i as u64);
            let payload: Vec<u8> = (0..1 + (i * 7) % 40).map(|j| (i + j) as u8).collect();
            assert_eq!(&buf[r.payload.clone()], &payload[..]);
        }
        assert_eq!(scan.valid_bytes(), buf.len());
        assert_eq!(scan.next_lsn(), Some(1077));
    }

    #[test]
    fn empty_journal_is_clean() {
        let scan = scan(&[]);
        assert_eq!(scan.end, End::Clean);
        assert!(scan.records.is_empty());
        assert_eq!(scan.valid_bytes(), 0);
        assert_eq!(scan.next_lsn(), None);
    }

    #[test]
    fn truncation_at_every_offset_keeps_the_whole_records_before_the_cut() {
        let (buf, offsets) = journal(40, 1);
        for cut in 0..=buf.len() {
            let scan = scan(&buf[..cut]);
            let whole = offsets
                .iter()
                .zip(offsets.iter().skip(1).chain([&buf.len()]))
                .take_while(|(_, &end)| end <= cut)
                .count();
            assert_eq!(scan.records.len(), whole, "cut at {cut}");
            let boundary = offsets.contains(&cut) || cut == buf.len();
            let expected = if boundary {
                End::Clean
            } else {
                End::TornTail {
                    offset: offsets[whole],
                }
            };
            assert_eq!(scan.end, expected, "cut at {cut}");
            assert_eq!(
                scan.valid_bytes(),
                offsets.get(whole).copied().unwrap_or(cut)
            );
        }
    }

    #[test]
    fn zero_padding_after_the_last_record_is_a_torn_tail() {
        let (mut buf, offsets) = journal(20, 5);
        let end = buf.len();
        for pad in [1, 15, 16, 17, 4096] {
            buf.truncate(end);
            buf.resize(end + pad, 0);
            let scan = scan(&buf);
            assert_eq!(offsets_of(&scan), offsets);
            assert_eq!(scan.end, End::TornTail { offset: end }, "{pad} zeros");
        }
    }

    #[test]
    fn garbage_after_the_last_record_is_a_torn_tail() {
        let mut rng = SmallRng::seed_from_u64(3);
        let (mut buf, offsets) = journal(20, 5);
        let end = buf.len();
        for _ in 0..200 {
            buf.truncate(end);
            let len = rng.gen_range(1..600);
            buf.extend((0..len).map(|_| rng.gen::<u8>()));
            let scan = scan(&buf);
            assert_eq!(offsets_of(&scan), offsets);
            assert_eq!(scan.end, End::TornTail { offset: end });
        }
    }

    #[test]
    fn a_partial_record_then_zeros_is_a_torn_tail() {
        // What a direct-I/O writer leaves when a crash lands mid-record: the start of
        // the record, then the block's zero padding.
        let (mut buf, offsets) = journal(10, 1);
        let last = *offsets.last().expect("records");
        buf.truncate(last + JOURNAL_RECORD_HEADER_BYTES + 1);
        buf.resize(buf.len() + 4096, 0);
        let scan = scan(&buf);
        assert_eq!(offsets_of(&scan), offsets[..9]);
        assert_eq!(scan.end, End::TornTail { offset: last });
    }

    #[test]
    fn any_flipped_byte_in_a_middle_record_is_corruption_at_that_record() {
        let (buf, offsets) = journal(12, 100);
        for victim in [0, 5, 10] {
            for at in offsets[victim]..offsets[victim + 1] {
                for bit in [0x01, 0x80] {
                    let mut bad = buf.clone();
                    bad[at] ^= bit;
                    let scan = scan(&bad);
                    assert_eq!(offsets_of(&scan), offsets[..victim], "byte {at}");
                    assert_eq!(
                        scan.end,
                        End::Corrupt {
                            offset: offsets[victim]
                        },
                        "byte {at} bit {bit:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_damaged_last_record_reads_as_a_torn_tail() {
        // Nothing valid follows it, so it cannot be told from a write cut short.
        let (mut buf, offsets) = journal(12, 100);
        let last = *offsets.last().expect("records");
        buf[last + JOURNAL_RECORD_HEADER_BYTES] ^= 1;
        let scan = scan(&buf);
        assert_eq!(offsets_of(&scan), offsets[..11]);
        assert_eq!(scan.end, End::TornTail { offset: last });
    }

    #[test]
    fn zeroed_records_in_the_middle_are_corruption() {
        // A lost write: a stretch of records reads back as zeros, and records follow.
        let (mut buf, offsets) = journal(12, 1);
        buf[offsets[4]..offsets[7]].fill(0);
        let scan = scan(&buf);
        assert_eq!(offsets_of(&scan), offsets[..4]);
        assert_eq!(scan.end, End::Corrupt { offset: offsets[4] });
    }

    #[test]
    fn an_lsn_gap_or_repeat_is_corruption() {
        for wrong_lsn in [13, 11, 10, 1] {
            let (mut buf, offsets) = journal(11, 1);
            let at = buf.len();
            encode_record(wrong_lsn, b"x", &mut buf);
            encode_record(wrong_lsn + 1, b"y", &mut buf);
            let scan = scan(&buf);
            assert_eq!(offsets_of(&scan), offsets, "lsn {wrong_lsn}");
            assert_eq!(scan.end, End::Corrupt { offset: at }, "lsn {wrong_lsn}");
        }
    }

    #[test]
    fn a_bad_first_record_with_records_after_it_is_corruption() {
        let (mut buf, offsets) = journal(3, 50);
        buf[offsets[0] + 4] ^= 0xff;
        let scan = scan(&buf);
        assert!(scan.records.is_empty());
        assert_eq!(scan.end, End::Corrupt { offset: 0 });
    }

    #[test]
    fn a_header_claiming_more_than_the_maximum_is_not_a_record() {
        let mut buf = Vec::new();
        encode_record(1, b"ok", &mut buf);
        let at = buf.len();
        buf.extend_from_slice(&u32::MAX.to_le_bytes());
        buf.extend_from_slice(&[0; 12]);
        let scan = scan(&buf);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(scan.end, End::TornTail { offset: at });
    }

    #[test]
    fn scanning_random_bytes_never_panics_and_stays_in_bounds() {
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..3000 {
            let len = rng.gen_range(0..200);
            let buf: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let scan = scan(&buf);
            for r in &scan.records {
                assert!(r.end() <= buf.len());
            }
            match scan.end {
                End::Clean => assert_eq!(scan.valid_bytes(), buf.len()),
                End::TornTail { offset } | End::Corrupt { offset } => {
                    assert_eq!(offset, scan.valid_bytes());
                    assert!(offset < buf.len());
                }
            }
        }
    }
}
