//! LZF, for the compressed strings of RDB payloads (`rdbcompression`, on by
//! default in Redis).
//!
//! Decompression (`lzf_d.c`) checks every literal run and back reference against
//! the input and the output, so corrupt input is `None`. Compression is
//! `lzf_c.c` as Redis builds it (a 64K-slot hash table of 3-byte prefixes, the
//! `VERY_FAST` variant that hashes two positions after each match), with the
//! table empty at each start (Redis leaves it uninitialized), so a payload
//! compresses to the bytes Redis writes for it.

use std::cell::RefCell;

/// Literal runs are `ctrl + 1` bytes for a control byte below this.
const LITERAL_LIMIT: u8 = 1 << 5;
/// A back reference's length field that says "one more length byte follows".
const LONG_REF: usize = 7;

/// Expands `input` to exactly `len` bytes.
pub fn decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i];
        i += 1;
        if ctrl < LITERAL_LIMIT {
            let run = usize::from(ctrl) + 1;
            let lit = input.get(i..i + run)?;
            if out.len() + run > len {
                return None;
            }
            out.extend_from_slice(lit);
            i += run;
        } else {
            let mut run = usize::from(ctrl >> 5);
            if run == LONG_REF {
                run += usize::from(*input.get(i)?);
                i += 1;
            }
            let back = (usize::from(ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            run += 2;
            if back > out.len() || out.len() + run > len {
                return None;
            }
            let from = out.len() - back;
            for k in 0..run {
                out.push(out[from + k]);
            }
        }
    }
    (out.len() == len).then_some(out)
}

/// Hash table bits (`HLOG`).
const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
/// Longest literal run, farthest and longest back reference.
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

/// The compressor's hash table: per slot (a 3-byte prefix's hash), the last
/// position that had it, stored as the run's `base` plus the position. A run
/// starts past every value stored before it, so an older value reads as empty
/// and no run clears the table (only when `base` would wrap).
struct Table {
    slots: Box<[u32; HSIZE]>,
    base: u32,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table {
        slots: vec![0; HSIZE].into_boxed_slice().try_into().expect("HSIZE slots"),
        base: 1,
    });
}

impl Table {
    /// Readies the table for an input of `len` bytes; false if it is too long.
    fn start(&mut self, len: usize) -> bool {
        let Ok(len) = u32::try_from(len) else {
            return false;
        };
        if self.base.checked_add(len).is_none() {
            self.slots.fill(0);
            self.base = 1;
        }
        true
    }

    /// Moves `base` past this run's positions.
    fn end(&mut self, len: usize) {
        self.base = self.base.saturating_add(len as u32);
    }

    /// The position `hval` last stood for in this run (0: none), `ip` from now on.
    fn swap(&mut self, hval: u32, ip: usize) -> usize {
        let slot = &mut self.slots[idx(hval)];
        let was = std::mem::replace(slot, self.base + ip as u32);
        // An older run's value (below `base`) wraps far past any position.
        was.wrapping_sub(self.base) as usize
    }
}

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

fn first(input: &[u8], ip: usize) -> u32 {
    u32::from(input[ip]) << 8 | u32::from(input[ip + 1])
}

fn next(hval: u32, input: &[u8], ip: usize) -> u32 {
    hval << 8 | u32::from(input[ip + 2])
}

/// `input` compressed into at most `out_max` bytes, appended to `out`; false
/// (and `out` as it was) when it does not fit, as `lzf_compress` returning 0.
pub fn compress(input: &[u8], out_max: usize, out: &mut Vec<u8>) -> bool {
    if input.len() < 3 || out_max == 0 {
        return false;
    }
    let base = out.len();
    // Room for a last literal run past the bound, checked before it is kept.
    out.resize(base + out_max + MAX_LIT + 4, 0);
    let written = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if !t.start(input.len()) {
            return None;
        }
        let written = compress_into(input, out_max, &mut out[base..], &mut t);
        t.end(input.len());
        written
    });
    match written {
        Some(n) if n <= out_max => {
            out.truncate(base + n);
            true
        }
        _ => {
            out.truncate(base);
            false
        }
    }
}

/// The compressed output as it is written: the next byte's position and the
/// length of the literal run open before it (its length byte reserved).
struct Output<'o> {
    o: &'o mut [u8],
    op: usize,
    lit: usize,
}

impl Output<'_> {
    /// Copies one literal byte, closing the run when it is full.
    fn literal(&mut self, byte: u8) {
        self.lit += 1;
        self.o[self.op] = byte;
        self.op += 1;
        if self.lit == MAX_LIT {
            self.o[self.op - self.lit - 1] = (self.lit - 1) as u8;
            self.lit = 0;
            self.op += 1;
        }
    }

    /// Closes the open run (undone if empty).
    fn close_run(&mut self) {
        self.o[self.op - self.lit - 1] = (self.lit as u8).wrapping_sub(1);
        self.op -= usize::from(self.lit == 0);
    }

    /// A back reference `off` + 1 bytes back, of `len` + 2 bytes; a run opens after.
    fn reference(&mut self, off: usize, len: usize) {
        if len < 7 {
            self.o[self.op] = ((off >> 8) + (len << 5)) as u8;
            self.op += 1;
        } else {
            self.o[self.op] = ((off >> 8) + (7 << 5)) as u8;
            self.o[self.op + 1] = (len - 7) as u8;
            self.op += 2;
        }
        self.o[self.op] = off as u8;
        self.op += 2;
        self.lit = 0;
    }
}

/// How many bytes at `r` and at `ip` match, knowing the first 3 do: as
/// `lzf_compress` extends a match (16 bytes unchecked against `maxlen` first when
/// it exceeds 16).
fn match_len(input: &[u8], r: usize, ip: usize, maxlen: usize) -> usize {
    let mut len = 2;
    if maxlen > 16 {
        for _ in 0..16 {
            len += 1;
            if input[r + len] != input[ip + len] {
                return len;
            }
        }
    }
    loop {
        len += 1;
        if !(len < maxlen && input[r + len] == input[ip + len]) {
            return len;
        }
    }
}

/// `lzf_compress`'s loop, positions for pointers; the bytes written, or `None`.
fn compress_into(input: &[u8], out_end: usize, o: &mut [u8], t: &mut Table) -> Option<usize> {
    let in_end = input.len();
    let mut out = Output { o, op: 1, lit: 0 };
    let mut ip = 0;
    let mut hval = first(input, ip);
    while ip < in_end - 2 {
        hval = next(hval, input, ip);
        let r = t.swap(hval, ip);
        let off = ip.wrapping_sub(r).wrapping_sub(1);
        if off < MAX_OFF && ip + 4 < in_end && r > 0 && input[r..r + 3] == input[ip..ip + 3] {
            let maxlen = (in_end - ip - 2).min(MAX_REF);
            out.close_run();
            if out.op + 3 + 1 >= out_end {
                return None;
            }
            let len = match_len(input, r, ip, maxlen) - 2;
            out.reference(off, len);
            ip += len + 2;
            if ip >= in_end - 2 {
                break;
            }
            ip -= 2;
            hval = first(input, ip);
            for _ in 0..2 {
                hval = next(hval, input, ip);
                t.swap(hval, ip);
                ip += 1;
            }
        } else {
            if out.op >= out_end {
                return None;
            }
            out.literal(input[ip]);
            ip += 1;
        }
    }
    if out.op + 3 > out_end {
        return None;
    }
    input[ip..].iter().for_each(|&b| out.literal(b));
    out.close_run();
    Some(out.op)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_back_references_expand() {
        // "abcabcabc": three literals, then a reference 3 back of length 6.
        let packed = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&packed, 9).unwrap(), b"abcabcabc");
        assert_eq!(decompress(&packed, 8), None);
        assert_eq!(decompress(&[5, b'a'], 6), None);
        assert_eq!(decompress(&[(1 << 5), 9], 3), None);
    }

    #[test]
    fn compressed_input_expands_to_itself() {
        let mut inputs: Vec<Vec<u8>> = vec![
            b"abcabcabcabcabcabcabcabcabc".to_vec(),
            (0..5000u32).map(|i| (i % 251) as u8).collect(),
            b"element:0element:1element:2element:3element:4".repeat(40),
            vec![b'a'; 70_000],
        ];
        let mut x = 7u32;
        inputs.push(
            (0..3000)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 24) as u8 % 4
                })
                .collect(),
        );
        for input in &inputs {
            let mut out = vec![9];
            assert!(
                compress(input, input.len() - 4, &mut out),
                "{} bytes",
                input.len()
            );
            assert!(out.len() < input.len());
            assert_eq!(
                decompress(&out[1..], input.len()).as_deref(),
                Some(&input[..])
            );
        }
        // Random bytes do not shrink: nothing is appended.
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (x >> 16) as u8
            })
            .collect();
        let mut out = vec![9];
        assert!(!compress(&noise, noise.len() - 4, &mut out));
        assert_eq!(out, [9]);
    }
}
