//! HyperLogLog in Redis 7.0's exact string format (`hyperloglog.c`), so an HLL
//! written here reads back the same on Redis and the other way round, byte for byte,
//! and `GET`/`SETRANGE` see Redis's layout. The commands (`PFADD`, `PFCOUNT`,
//! `PFMERGE`, `PFDEBUG`) in [`crate::command::hll`] work on these strings through the
//! keyspace door; this module is pure byte logic.
//!
//! ```text
//!  +------+---+-----+----------+---------------------------------+
//!  | HYLL | E | 0 0 0| card (LE)| registers: dense or sparse      |
//!  +------+---+-----+----------+---------------------------------+
//!   4      1   3     8 (bit 63 of card set: the cached value is stale)
//! ```
//!
//! - **Dense** (`E` = 0): 16384 registers of 6 bits, packed from the least
//!   significant bit of each byte up; always [`HLL_DENSE_BYTES`] long.
//! - **Sparse** (`E` = 1): run-length opcodes. `00xxxxxx` ZERO (1..64 zero
//!   registers), `01xxxxxx yyyyyyyy` XZERO (1..16384 zero registers), `1vvvvvxx` VAL
//!   (1..4 registers of value 1..32). A register above 32, or a string longer than
//!   `hll-sparse-max-bytes`, turns the HLL dense.
//!
//! Elements hash with MurmurHash64A (Redis's endian-neutral variant, seed
//! `0xadc83b19`): the low 14 bits pick the register, the run of zeros above them
//! (plus one) is the value. The estimate is Ertl's improved estimator over the
//! register histogram, as Redis 7.0 computes it, so counts equal Redis's.
//!
//! The sparse update ([`Hll::sparse_set`]) follows Redis's opcode splitting and
//! merging step by step: equal inputs give equal bytes, not just equal registers.
//! Corrupted strings never panic: reads past the end see a zero byte (Redis reads
//! the string's terminating NUL there), and walks that do not cover exactly 16384
//! registers answer [`Corrupted`].

/// Register index bits.
const HLL_P: u32 = 14;
/// Hash bits left for the run of zeros.
const HLL_Q: u32 = 64 - HLL_P;
/// Registers in every HLL.
pub const HLL_REGISTERS: usize = 1 << HLL_P;
const HLL_P_MASK: u64 = HLL_REGISTERS as u64 - 1;
/// Bits per dense register.
const HLL_BITS: usize = 6;
const HLL_REGISTER_MAX: u8 = (1 << HLL_BITS) - 1;
/// The header: magic, encoding, three unused bytes, cached cardinality.
pub const HLL_HDR_BYTES: usize = 16;
/// The whole length of a dense HLL.
pub const HLL_DENSE_BYTES: usize = HLL_HDR_BYTES + (HLL_REGISTERS * HLL_BITS).div_ceil(8);
const HLL_MAGIC: &[u8; 4] = b"HYLL";
/// Position of the encoding byte.
const HLL_ENCODING_AT: usize = 4;
/// Position of the cached cardinality (little endian, 8 bytes).
const HLL_CARD_AT: usize = 8;
/// The byte whose top bit marks the cached cardinality stale.
const HLL_CARD_STALE_AT: usize = HLL_CARD_AT + 7;
const HLL_CARD_STALE_BIT: u8 = 1 << 7;
const HLL_DENSE: u8 = 0;
const HLL_SPARSE: u8 = 1;
const HLL_MAX_ENCODING: u8 = HLL_SPARSE;
/// MurmurHash64A's seed for HLL elements.
const HLL_HASH_SEED: u64 = 0xadc8_3b19;

const SPARSE_XZERO_BIT: u8 = 0x40;
const SPARSE_VAL_BIT: u8 = 0x80;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// Opcodes `sparse_set`'s merge step looks at, from the one before the change.
const SPARSE_MERGE_SCAN_OPCODES: usize = 5;
/// Longest opcode sequence one register split makes: XZERO VAL XZERO.
const SPARSE_SPLIT_MAX_BYTES: usize = 5;

/// `0.5 / ln 2`, the estimator's bias constant for large register counts.
const HLL_ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The config parameter and its default: longest sparse HLL, header included.
pub const HLL_SPARSE_MAX_BYTES: &str = "hll-sparse-max-bytes";
pub const HLL_SPARSE_MAX_BYTES_DEFAULT: usize = 3000;

/// How HLLs are encoded (`hll-sparse-max-bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HllLimits {
    /// A sparse HLL that would grow past this many bytes turns dense.
    pub sparse_max_bytes: usize,
}

impl Default for HllLimits {
    fn default() -> Self {
        HllLimits {
            sparse_max_bytes: HLL_SPARSE_MAX_BYTES_DEFAULT,
        }
    }
}

/// The string is an HLL whose registers do not decode (`-INVALIDOBJ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupted;

/// Redis's MurmurHash64A (`hyperloglog.c`): eight-byte blocks read little endian
/// whatever the machine, the tail folded in byte by byte.
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut blocks = key.chunks_exact(8);
    for block in blocks.by_ref() {
        let mut k = u64::from_le_bytes(block.try_into().expect("8-byte block"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register `ele` falls in and its value: the length of the run of zeros above
/// the index bits, plus one (at most `HLL_Q + 1`).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, HLL_HASH_SEED);
    let index = (hash & HLL_P_MASK) as usize;
    let rest = (hash >> HLL_P) | (1 << HLL_Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// Whether `s` has a valid HLL header, as Redis's `isHLLObjectOrReply` checks it:
/// long enough, the magic, a known encoding, and a dense one of the exact length.
/// The sparse opcodes are checked only when used.
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HLL_HDR_BYTES
        && &s[..4] == HLL_MAGIC
        && s[HLL_ENCODING_AT] <= HLL_MAX_ENCODING
        && (s[HLL_ENCODING_AT] != HLL_DENSE || s.len() == HLL_DENSE_BYTES)
}

/// Whether `s` (an HLL) is dense.
pub fn is_dense(s: &[u8]) -> bool {
    s[HLL_ENCODING_AT] == HLL_DENSE
}

/// The cached cardinality, when it is not stale.
pub fn cached_card(s: &[u8]) -> Option<u64> {
    let card = u64::from_le_bytes(s[HLL_CARD_AT..HLL_HDR_BYTES].try_into().expect("8 bytes"));
    (s[HLL_CARD_STALE_AT] & HLL_CARD_STALE_BIT == 0).then_some(card)
}

/// The header bytes that cache `card`, to write at [`card_offset`].
pub fn card_bytes(card: u64) -> [u8; 8] {
    card.to_le_bytes()
}

/// Where the cached cardinality starts.
pub const fn card_offset() -> usize {
    HLL_CARD_AT
}

fn is_zero_op(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero_op(b: u8) -> bool {
    b & 0xc0 == SPARSE_XZERO_BIT
}

fn is_val_op(b: u8) -> bool {
    b & SPARSE_VAL_BIT != 0
}

fn zero_len(b: u8) -> usize {
    (b & 0x3f) as usize + 1
}

fn xzero_len(b0: u8, b1: u8) -> usize {
    (((b0 & 0x3f) as usize) << 8 | b1 as usize) + 1
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    (b & 0x3) as usize + 1
}

fn val_op(value: u8, len: usize) -> u8 {
    debug_assert!((1..=SPARSE_VAL_MAX_VALUE).contains(&value));
    debug_assert!((1..=SPARSE_VAL_MAX_LEN).contains(&len));
    ((value - 1) << 2 | (len as u8 - 1)) | SPARSE_VAL_BIT
}

fn zero_op(len: usize) -> u8 {
    debug_assert!((1..=SPARSE_ZERO_MAX_LEN).contains(&len));
    (len - 1) as u8
}

fn xzero_op(len: usize) -> [u8; 2] {
    debug_assert!((1..=SPARSE_XZERO_MAX_LEN).contains(&len));
    let l = len - 1;
    [(l >> 8) as u8 | SPARSE_XZERO_BIT, (l & 0xff) as u8]
}

/// One decoded sparse opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Zero(usize),
    XZero(usize),
    Val { value: u8, len: usize },
}

/// The sparse opcodes of `s` after the header, in order, with their byte lengths. A
/// truncated XZERO reads its second byte as zero.
fn opcodes(s: &[u8]) -> impl Iterator<Item = (Opcode, usize)> + '_ {
    let mut p = HLL_HDR_BYTES;
    std::iter::from_fn(move || {
        let b = *s.get(p)?;
        let (op, len) = if is_zero_op(b) {
            (Opcode::Zero(zero_len(b)), 1)
        } else if is_xzero_op(b) {
            let b1 = s.get(p + 1).copied().unwrap_or(0);
            (Opcode::XZero(xzero_len(b, b1)), 2)
        } else {
            (
                Opcode::Val {
                    value: val_value(b),
                    len: val_len(b),
                },
                1,
            )
        };
        p += len;
        Some((op, len))
    })
}

/// The sparse opcodes of `s` (a sparse HLL), as `PFDEBUG DECODE` lists them.
pub fn sparse_opcodes(s: &[u8]) -> Vec<Opcode> {
    opcodes(s).map(|(op, _)| op).collect()
}

/// Dense register `i` of `regs` (the bytes after the header). The last register's
/// second byte is past the end; Redis reads the terminating NUL there.
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * HLL_BITS / 8;
    let fb = (i * HLL_BITS) & 7;
    let b0 = regs[byte] as u32;
    let b1 = regs.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & HLL_REGISTER_MAX as u32) as u8
}

fn dense_put(regs: &mut [u8], i: usize, value: u8) {
    let byte = i * HLL_BITS / 8;
    put_bits(&mut regs[byte..], (i * HLL_BITS) & 7, value);
}

/// Stores a register's `value` at bit `fb` of `at[0]`, its high bits in `at[1]`
/// when there is one.
fn put_bits(at: &mut [u8], fb: usize, value: u8) {
    let v = value as u32;
    let mask = HLL_REGISTER_MAX as u32;
    at[0] = ((at[0] as u32 & !(mask << fb)) | (v << fb)) as u8;
    if let Some(next) = at.get_mut(1) {
        *next = ((*next as u32 & !(mask >> (8 - fb))) | (v >> (8 - fb))) as u8;
    }
}

/// A change of at most two bytes of an HLL string, to write in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    /// Where the bytes go in the string.
    pub at: usize,
    bytes: [u8; 2],
    len: usize,
}

impl Patch {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// What raising register `index` of the dense HLL `s` to `count` writes, if the
/// register is lower: the bytes it lies in, changed. A `PFADD` to a dense HLL
/// writes these in place instead of changing a copy of its 12 KB.
pub fn dense_raise(s: &[u8], index: usize, count: u8) -> Option<Patch> {
    let regs = &s[HLL_HDR_BYTES..];
    if count <= dense_get(regs, index) {
        return None;
    }
    let byte = index * HLL_BITS / 8;
    let len = (regs.len() - byte).min(2);
    let mut bytes = [0; 2];
    bytes[..len].copy_from_slice(&regs[byte..byte + len]);
    put_bits(&mut bytes[..len], (index * HLL_BITS) & 7, count);
    Some(Patch {
        at: HLL_HDR_BYTES + byte,
        bytes,
        len,
    })
}

/// What marks the cached cardinality of `s` stale, unless it already is.
pub fn stale_patch(s: &[u8]) -> Option<Patch> {
    let b = s[HLL_CARD_STALE_AT];
    (b & HLL_CARD_STALE_BIT == 0).then_some(Patch {
        at: HLL_CARD_STALE_AT,
        bytes: [b | HLL_CARD_STALE_BIT, 0],
        len: 1,
    })
}

/// Raises dense register `i` to `value`; whether it changed.
fn dense_set(regs: &mut [u8], i: usize, value: u8) -> bool {
    if value > dense_get(regs, i) {
        dense_put(regs, i, value);
        true
    } else {
        false
    }
}

/// An HLL string being changed: Redis's operations on it, in place.
pub struct Hll<'a> {
    pub s: &'a mut Vec<u8>,
    pub limits: HllLimits,
}

/// A new, empty HLL: sparse, every register in XZERO opcodes, the cache valid at 0.
pub fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HLL_HDR_BYTES + 2);
    s.extend_from_slice(HLL_MAGIC);
    s.extend_from_slice(&[HLL_SPARSE, 0, 0, 0]);
    s.extend_from_slice(&[0; 8]);
    let mut left = HLL_REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        s.extend_from_slice(&xzero_op(run));
        left -= run;
    }
    s
}

impl Hll<'_> {
    /// Marks the cached cardinality stale.
    pub fn invalidate_cache(&mut self) {
        self.s[HLL_CARD_STALE_AT] |= HLL_CARD_STALE_BIT;
    }

    /// Adds one element; whether a register changed.
    pub fn add(&mut self, ele: &[u8]) -> Result<bool, Corrupted> {
        let (index, count) = pattern(ele);
        self.set(index, count)
    }

    /// Raises register `index` to `count` in either encoding; whether it changed.
    pub fn set(&mut self, index: usize, count: u8) -> Result<bool, Corrupted> {
        match self.s[HLL_ENCODING_AT] {
            HLL_DENSE => Ok(dense_set(&mut self.s[HLL_HDR_BYTES..], index, count)),
            HLL_SPARSE => self.sparse_set(index, count),
            _ => Err(Corrupted),
        }
    }

    /// Turns a sparse HLL dense (the header, cache included, is kept); a dense one
    /// stays as it is. Whether it converted.
    pub fn to_dense(&mut self) -> Result<bool, Corrupted> {
        if is_dense(self.s) {
            return Ok(false);
        }
        let mut dense = vec![0u8; HLL_DENSE_BYTES];
        dense[..HLL_HDR_BYTES].copy_from_slice(&self.s[..HLL_HDR_BYTES]);
        dense[HLL_ENCODING_AT] = HLL_DENSE;
        let regs = &mut dense[HLL_HDR_BYTES..];
        let mut idx = 0;
        for (op, _) in opcodes(self.s) {
            match op {
                Opcode::Zero(n) | Opcode::XZero(n) => idx += n,
                Opcode::Val { value, len } => {
                    if idx + len > HLL_REGISTERS {
                        break;
                    }
                    for _ in 0..len {
                        dense_put(regs, idx, value);
                        idx += 1;
                    }
                }
            }
        }
        if idx != HLL_REGISTERS {
            return Err(Corrupted);
        }
        *self.s = dense;
        Ok(true)
    }

    /// Redis's `hllSparseSet`: finds the opcode covering `index`, splits it around
    /// the register, merges equal neighbouring VAL opcodes, and turns the HLL dense
    /// when the value does not fit a VAL opcode or the string would outgrow
    /// `hll-sparse-max-bytes`.
    fn sparse_set(&mut self, index: usize, count: u8) -> Result<bool, Corrupted> {
        if count > SPARSE_VAL_MAX_VALUE {
            return self.promote(index, count);
        }
        let s = &mut *self.s;
        let end = s.len();
        let mut p = HLL_HDR_BYTES;
        let mut first = 0usize;
        let mut prev = None;
        let mut span = 0usize;
        while p < end {
            let (run, oplen) = if is_zero_op(s[p]) {
                (zero_len(s[p]), 1)
            } else if is_val_op(s[p]) {
                (val_len(s[p]), 1)
            } else {
                (xzero_len(s[p], s.get(p + 1).copied().unwrap_or(0)), 2)
            };
            span = run;
            if index < first + span {
                break;
            }
            prev = Some(p);
            p += oplen;
            first += span;
        }
        if span == 0 || p >= end {
            return Err(Corrupted);
        }
        let op = s[p];
        let oldlen = if is_xzero_op(op) { 2 } else { 1 };
        let has_next = p + oldlen < end;
        if is_val_op(op) {
            if val_value(op) >= count {
                return Ok(false);
            }
            if val_len(op) == 1 {
                s[p] = val_op(count, 1);
                self.merge_vals(prev);
                return Ok(true);
            }
        }
        if is_zero_op(op) && zero_len(op) == 1 {
            s[p] = val_op(count, 1);
            self.merge_vals(prev);
            return Ok(true);
        }
        let seq = split(op, index, first, span, count);
        let delta = seq.len() as isize - oldlen as isize;
        if delta > 0 && end + delta as usize > self.limits.sparse_max_bytes {
            return self.promote(index, count);
        }
        let s = &mut *self.s;
        if has_next {
            s.splice(p..p + oldlen, seq);
        } else {
            // The last opcode (a truncated XZERO included) is replaced and the
            // string takes Redis's new length.
            let new_len = (end as isize + delta) as usize;
            s.truncate(p);
            s.extend_from_slice(&seq);
            s.truncate(new_len);
        }
        self.merge_vals(prev);
        Ok(true)
    }

    /// Redis's step 4: from the opcode before the change, merges adjacent VAL
    /// opcodes of equal value whose runs fit one opcode; then marks the cache stale.
    fn merge_vals(&mut self, prev: Option<usize>) {
        let s = &mut *self.s;
        let mut p = prev.unwrap_or(HLL_HDR_BYTES);
        let mut scan = SPARSE_MERGE_SCAN_OPCODES;
        while p < s.len() && scan > 0 {
            scan -= 1;
            if is_xzero_op(s[p]) {
                p += 2;
                continue;
            }
            if is_zero_op(s[p]) {
                p += 1;
                continue;
            }
            if p + 1 < s.len() && is_val_op(s[p + 1]) {
                let (v1, v2) = (val_value(s[p]), val_value(s[p + 1]));
                let len = val_len(s[p]) + val_len(s[p + 1]);
                if v1 == v2 && len <= SPARSE_VAL_MAX_LEN {
                    s[p + 1] = val_op(v1, len);
                    s.remove(p);
                    continue;
                }
            }
            p += 1;
        }
        self.invalidate_cache();
    }

    /// Converts to dense, then sets the register there (it always changes).
    fn promote(&mut self, index: usize, count: u8) -> Result<bool, Corrupted> {
        self.to_dense()?;
        let changed = dense_set(&mut self.s[HLL_HDR_BYTES..], index, count);
        debug_assert!(changed);
        Ok(true)
    }
}

/// The opcodes replacing `op` (covering registers `first..first + span`) when
/// register `index` takes `count`: the run before it, a VAL of one, the run after.
fn split(op: u8, index: usize, first: usize, span: usize, count: u8) -> Vec<u8> {
    let mut seq = Vec::with_capacity(SPARSE_SPLIT_MAX_BYTES);
    let last = first + span - 1;
    let zeros = |seq: &mut Vec<u8>, len: usize| {
        if len > SPARSE_ZERO_MAX_LEN {
            seq.extend_from_slice(&xzero_op(len));
        } else {
            seq.push(zero_op(len));
        }
    };
    if is_val_op(op) {
        let current = val_value(op);
        if index != first {
            seq.push(val_op(current, index - first));
        }
        seq.push(val_op(count, 1));
        if index != last {
            seq.push(val_op(current, last - index));
        }
    } else {
        if index != first {
            zeros(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            zeros(&mut seq, last - index);
        }
    }
    seq
}

/// Raises `max[i]` to register `i` of `s` (a valid HLL header) for every register,
/// as Redis's `hllMerge` does.
pub fn merge_into(max: &mut [u8; HLL_REGISTERS], s: &[u8]) -> Result<(), Corrupted> {
    if is_dense(s) {
        // Four 6-bit registers in every three bytes, the first in the low bits.
        let regs = &s[HLL_HDR_BYTES..];
        for (packed, m) in regs.chunks_exact(3).zip(max.chunks_exact_mut(4)) {
            let word = u32::from_le_bytes([packed[0], packed[1], packed[2], 0]);
            for (k, m) in m.iter_mut().enumerate() {
                let r = ((word >> (HLL_BITS * k)) & HLL_REGISTER_MAX as u32) as u8;
                *m = (*m).max(r);
            }
        }
        return Ok(());
    }
    let mut i = 0;
    for (op, _) in opcodes(s) {
        match op {
            Opcode::Zero(n) | Opcode::XZero(n) => i += n,
            Opcode::Val { value, len } => {
                if i + len > HLL_REGISTERS {
                    break;
                }
                for m in &mut max[i..i + len] {
                    *m = (*m).max(value);
                }
                i += len;
            }
        }
    }
    match i == HLL_REGISTERS {
        true => Ok(()),
        false => Err(Corrupted),
    }
}

/// Register histogram bins: values reach at most `HLL_Q + 1`.
const HISTO_BINS: usize = 64;

/// The estimated cardinality of `s` (a valid HLL header).
pub fn count(s: &[u8]) -> Result<u64, Corrupted> {
    let mut histo = [0u32; HISTO_BINS];
    if is_dense(s) {
        let regs = &s[HLL_HDR_BYTES..];
        for i in 0..HLL_REGISTERS {
            histo[dense_get(regs, i) as usize] += 1;
        }
    } else {
        let mut idx = 0;
        for (op, _) in opcodes(s) {
            match op {
                Opcode::Zero(n) | Opcode::XZero(n) => {
                    idx += n;
                    histo[0] += n as u32;
                }
                Opcode::Val { value, len } => {
                    idx += len;
                    histo[value as usize] += len as u32;
                }
            }
        }
        if idx != HLL_REGISTERS {
            return Err(Corrupted);
        }
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of registers held one per byte (a merge's result).
pub fn count_raw(max: &[u8; HLL_REGISTERS]) -> u64 {
    // Eight zero registers at a time (most of a small set's), and four histograms
    // taking registers in turn: a run of equal registers otherwise makes each count
    // wait for the one before it to be stored.
    let mut histos = [[0u32; HISTO_BINS]; 4];
    let mut zeros = 0;
    for eight in max.chunks_exact(8) {
        if u64::from_ne_bytes(eight.try_into().expect("eight bytes")) == 0 {
            zeros += 8;
            continue;
        }
        for (k, &r) in eight.iter().enumerate() {
            histos[k % 4][r as usize] += 1;
        }
    }
    let mut histo = [0u32; HISTO_BINS];
    for (bin, count) in histo.iter_mut().enumerate() {
        *count = histos.iter().map(|h| h[bin]).sum();
    }
    histo[0] += zeros;
    estimate(&histo)
}

/// Ertl's estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", arXiv:1702.01284), in Redis 7.0's operation order.
fn estimate(histo: &[u32; HISTO_BINS]) -> u64 {
    let m = HLL_REGISTERS as f64;
    let q = HLL_Q as usize;
    let mut z = m * tau((m - histo[q + 1] as f64) / m);
    for j in (1..=q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (HLL_ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_prev = z;
        z += x * y;
        y += y;
        if z_prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_prev = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z_prev == z {
            return z / 3.0;
        }
    }
}

/// Elements `PFSELFTEST` adds, as in Redis.
pub const SELFTEST_ELEMENTS: u64 = 10_000_000;
/// Rounds of random register values `PFSELFTEST` writes and reads back.
const SELFTEST_REGISTER_ROUNDS: usize = 1000;

/// Redis's `PFSELFTEST`: dense registers keep random values without disturbing
/// their neighbours; then `elements` distinct elements go into a dense and a sparse
/// HLL, and at 1, 10, 100, ... the sparse one is still sparse while small, both
/// count the same, and the count is within six standard errors (one at 10).
/// The reason it failed, otherwise.
pub fn selftest(rng: &mut impl rand::Rng, limits: HllLimits, elements: u64) -> Result<(), String> {
    let mut dense = vec![0u8; HLL_DENSE_BYTES];
    let mut expected = vec![0u8; HLL_REGISTERS];
    for _ in 0..SELFTEST_REGISTER_ROUNDS {
        let regs = &mut dense[HLL_HDR_BYTES..];
        for (i, e) in expected.iter_mut().enumerate() {
            *e = rng.gen::<u8>() & HLL_REGISTER_MAX;
            dense_put(regs, i, *e);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = dense_get(regs, i);
            if got != e {
                return Err(format!("Register {i} should be {e} but is {got}"));
            }
        }
    }
    dense[HLL_HDR_BYTES..].fill(0);
    let mut sparse = new_sparse();
    let relerr = 1.04 / (HLL_REGISTERS as f64).sqrt();
    let mut checkpoint = 1u64;
    let seed: u64 = rng.gen();
    for j in 1..=elements {
        let ele = (j ^ seed).to_le_bytes();
        let (index, value) = pattern(&ele);
        dense_set(&mut dense[HLL_HDR_BYTES..], index, value);
        let mut h = Hll {
            s: &mut sparse,
            limits,
        };
        h.add(&ele)
            .map_err(|_| "sparse HLL corrupted".to_string())?;
        if j != checkpoint {
            continue;
        }
        if j < (limits.sparse_max_bytes / 2) as u64 && is_dense(&sparse) {
            return Err("sparse encoding not used".into());
        }
        let card = count(&dense).map_err(|_| "dense HLL corrupted".to_string())?;
        if count(&sparse) != Ok(card) {
            return Err("dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(card);
        let maxerr = match j {
            10 => 1,
            _ => (relerr * 6.0 * checkpoint as f64).ceil() as u64,
        };
        if abserr > maxerr {
            return Err(format!("Too big error. card:{checkpoint} abserr:{abserr}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

/// Every register of a dense HLL, for `PFDEBUG GETREG`.
pub fn dense_registers(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
    debug_assert!(is_dense(s));
    (0..HLL_REGISTERS).map(move |i| dense_get(&s[HLL_HDR_BYTES..], i))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(elements: impl IntoIterator<Item = Vec<u8>>, limits: HllLimits) -> Vec<u8> {
        let mut s = new_sparse();
        let mut hll = Hll { s: &mut s, limits };
        for e in elements {
            hll.add(&e).unwrap();
        }
        hll.invalidate_cache();
        s
    }

    /// The packed paths (three bytes of dense registers at a time, eight raw
    /// registers at a time) give what one register at a time gives.
    #[test]
    fn merging_and_counting_registers_in_groups_match_one_at_a_time() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for round in 0..20 {
            let mut dense = new_sparse();
            let limits = HllLimits::default();
            Hll {
                s: &mut dense,
                limits,
            }
            .to_dense()
            .unwrap();
            let regs = &mut dense[HLL_HDR_BYTES..];
            let mut max = [0u8; HLL_REGISTERS];
            for (i, m) in max.iter_mut().enumerate() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                // Sparse rounds leave most registers zero; others fill every value.
                let v = match round % 2 {
                    0 if !seed.is_multiple_of(16) => 0,
                    _ => (seed >> 32) as u8 & HLL_REGISTER_MAX,
                };
                dense_put(regs, i, v);
                *m = (seed >> 40) as u8 % 4;
            }
            let mut merged = max;
            merge_into(&mut merged, &dense).unwrap();
            let regs = &dense[HLL_HDR_BYTES..];
            let mut histo = [0u32; HISTO_BINS];
            for (i, (&got, &before)) in merged.iter().zip(&max).enumerate() {
                assert_eq!(got, before.max(dense_get(regs, i)), "register {i}");
                histo[got as usize] += 1;
            }
            assert_eq!(count_raw(&merged), estimate(&histo));
        }
    }

    #[test]
    fn murmur_matches_redis_for_short_and_long_keys() {
        // The first register positions Redis gives "a", "b", "c" (PFDEBUG DECODE).
        let regs: Vec<usize> = [b"a", b"b", b"c"].iter().map(|e| pattern(*e).0).collect();
        let mut sorted = regs.clone();
        sorted.sort();
        assert_eq!(sorted, [8436, 12711, 15780]);
    }

    #[test]
    fn an_empty_hll_is_one_xzero() {
        let s = new_sparse();
        assert_eq!(s.len(), HLL_HDR_BYTES + 2);
        assert_eq!(&s[HLL_HDR_BYTES..], &[0x7f, 0xff]);
        assert_eq!(count(&s), Ok(0));
    }

    #[test]
    fn dense_registers_round_trip_without_touching_neighbours() {
        let mut regs = vec![0u8; HLL_DENSE_BYTES - HLL_HDR_BYTES];
        for i in 0..HLL_REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..HLL_REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_agree() {
        let elements = || (0..1000u32).map(|i| format!("e{i}").into_bytes());
        let sparse = added(elements(), HllLimits::default());
        let dense = added(
            elements(),
            HllLimits {
                sparse_max_bytes: 0,
            },
        );
        assert!(!is_dense(&sparse));
        assert!(is_dense(&dense));
        assert_eq!(count(&sparse), count(&dense));
        let mut max = [0u8; HLL_REGISTERS];
        merge_into(&mut max, &sparse).unwrap();
        let mut converted = sparse.clone();
        Hll {
            s: &mut converted,
            limits: HllLimits::default(),
        }
        .to_dense()
        .unwrap();
        assert_eq!(converted, dense);
        assert_eq!(count_raw(&max), count(&dense).unwrap());
    }

    #[test]
    fn the_estimate_is_close() {
        for n in [1u32, 10, 100, 1000, 10_000, 100_000] {
            let s = added(
                (0..n).map(|i| i.to_le_bytes().to_vec()),
                HllLimits::default(),
            );
            let est = count(&s).unwrap() as f64;
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 0.05, "{n}: {est}");
        }
    }

    #[test]
    fn selftest_passes() {
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(7);
        assert_eq!(selftest(&mut rng, HllLimits::default(), 100_000), Ok(()));
    }

    #[test]
    fn corrupted_strings_are_errors_not_panics() {
        let mut s = new_sparse();
        s.truncate(HLL_HDR_BYTES + 1);
        assert_eq!(count(&s), Err(Corrupted));
        let mut max = [0u8; HLL_REGISTERS];
        assert_eq!(merge_into(&mut max, &s), Err(Corrupted));
        for bytes in [&[0xffu8, 0xff][..], &[0x40], &[], &[0x7f, 0xff, 0x00]] {
            let mut s = new_sparse();
            s.truncate(HLL_HDR_BYTES);
            s.extend_from_slice(bytes);
            let mut hll = Hll {
                s: &mut s,
                limits: HllLimits::default(),
            };
            for i in 0..100u32 {
                let _ = hll.add(&i.to_le_bytes());
            }
            let _ = count(hll.s);
        }
    }

    #[test]
    fn a_dense_patch_writes_what_raising_the_register_writes() {
        use rand::Rng;
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(11);
        let mut hll = added(
            (0..20_000u32).map(|i| i.to_le_bytes().to_vec()),
            HllLimits::default(),
        );
        Hll {
            s: &mut hll,
            limits: HllLimits::default(),
        }
        .to_dense()
        .unwrap();
        let mut cases: Vec<(usize, u8)> = (0..20_000)
            .map(|_| {
                (
                    rng.gen_range(0..HLL_REGISTERS),
                    rng.gen_range(1..=HLL_REGISTER_MAX),
                )
            })
            .collect();
        // The first and last registers: the last one's bits end its byte.
        cases.extend([
            (0, 63),
            (1, 63),
            (HLL_REGISTERS - 2, 63),
            (HLL_REGISTERS - 1, 63),
        ]);
        for (index, count) in cases {
            let patch = dense_raise(&hll, index, count);
            let mut raised = hll.clone();
            let rose = dense_set(&mut raised[HLL_HDR_BYTES..], index, count);
            assert_eq!(patch.is_some(), rose, "register {index} to {count}");
            if let Some(p) = patch {
                hll[p.at..p.at + p.bytes().len()].copy_from_slice(p.bytes());
            }
            assert_eq!(hll, raised, "register {index} to {count}");
        }
        assert_eq!(stale_patch(&hll), None, "stale after the adds");
        hll[card_offset()..card_offset() + 8].copy_from_slice(&card_bytes(5));
        assert_eq!(cached_card(&hll), Some(5));
        let p = stale_patch(&hll).expect("a valid cache to mark stale");
        hll[p.at] = p.bytes()[0];
        assert_eq!(cached_card(&hll), None);
        assert_eq!(stale_patch(&hll), None);
    }
}
