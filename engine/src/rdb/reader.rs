//! Reading RDB's primitives from a payload, bounded by the bytes it has: lengths
//! (6-, 14-, 32- and 64-bit), strings (plain, integer-encoded, LZF-compressed) and
//! scores (binary doubles and Redis 2.x's text form); and writing the same forms.
//! A read past the end, or a length no remaining bytes could back, is `None`.

use super::lzf;

/// Length prefixes: the top two bits of the first byte.
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;
const LEN_ENCODED: u8 = 3;
/// Special string encodings after [`LEN_ENCODED`].
const ENC_INT8: u64 = 0;
const ENC_INT16: u64 = 1;
const ENC_INT32: u64 = 2;
const ENC_LZF: u64 = 3;
/// Largest lengths of the short forms.
const LEN_6BIT_MAX: u64 = (1 << 6) - 1;
const LEN_14BIT_MAX: u64 = (1 << 14) - 1;
/// Longest string Redis tries to store as an integer.
const INT_STRING_MAX_BYTES: usize = 11;
/// The text-score markers of the old sorted-set form.
const SCORE_NAN: u8 = 253;
const SCORE_POS_INF: u8 = 254;
const SCORE_NEG_INF: u8 = 255;

/// A cursor over a payload's value bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Longest string an LZF string may expand to.
    string_max_bytes: usize,
}

/// A length, or the special string encoding that stands in its place.
enum Len {
    Plain(u64),
    Encoded(u64),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], string_max_bytes: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            string_max_bytes,
        }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len())?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Some(s)
    }

    fn len_or_encoding(&mut self) -> Option<Len> {
        let first = self.u8()?;
        Some(match first >> 6 {
            LEN_6BIT => Len::Plain(u64::from(first & 0x3f)),
            LEN_14BIT => Len::Plain((u64::from(first & 0x3f) << 8) | u64::from(self.u8()?)),
            LEN_ENCODED => Len::Encoded(u64::from(first & 0x3f)),
            _ => match first {
                LEN_32BIT => Len::Plain(u64::from(u32::from_be_bytes(
                    self.take(4)?.try_into().ok()?,
                ))),
                LEN_64BIT => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
        })
    }

    /// A plain length.
    pub fn len(&mut self) -> Option<u64> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Some(n),
            Len::Encoded(_) => None,
        }
    }

    /// A count of items that take at least `min_item_bytes` each: refused when the
    /// bytes left could not hold them.
    pub fn count(&mut self, min_item_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.len()?).ok()?;
        (n.checked_mul(min_item_bytes)? <= self.remaining()).then_some(n)
    }

    /// A string in any of its forms.
    pub fn string(&mut self) -> Option<Vec<u8>> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Len::Encoded(ENC_INT8) => Some(int_text(i64::from(self.u8()? as i8))),
            Len::Encoded(ENC_INT16) => {
                let v = i16::from_le_bytes(self.take(2)?.try_into().ok()?);
                Some(int_text(i64::from(v)))
            }
            Len::Encoded(ENC_INT32) => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
                Some(int_text(i64::from(v)))
            }
            Len::Encoded(ENC_LZF) => {
                let packed_len = usize::try_from(self.len()?).ok()?;
                let len = usize::try_from(self.len()?).ok()?;
                if len > self.string_max_bytes {
                    return None;
                }
                lzf::decompress(self.take(packed_len)?, len)
            }
            Len::Encoded(_) => None,
        }
    }

    /// A binary double (little-endian), as sorted sets of RDB 8+ store scores.
    pub fn binary_double(&mut self) -> Option<f64> {
        Some(f64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// A text score, as the first sorted-set form stores it.
    pub fn text_double(&mut self) -> Option<f64> {
        match self.u8()? {
            SCORE_NAN => Some(f64::NAN),
            SCORE_POS_INF => Some(f64::INFINITY),
            SCORE_NEG_INF => Some(f64::NEG_INFINITY),
            n => std::str::from_utf8(self.take(usize::from(n))?)
                .ok()?
                .parse()
                .ok(),
        }
    }
}

fn int_text(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

/// Writes a length in the shortest form.
pub fn write_len(n: u64, out: &mut Vec<u8>) {
    if n <= LEN_6BIT_MAX {
        out.push(n as u8);
    } else if n <= LEN_14BIT_MAX {
        out.push((LEN_14BIT << 6) | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(LEN_32BIT);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(LEN_64BIT);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Strings up to this long are not compressed (`rdbSaveRawString`: LZF cannot
/// shrink them).
const LZF_MIN_BYTES: usize = 21;
/// Bytes compression must save for a string to be stored compressed.
const LZF_SAVING_MIN: usize = 4;
/// Largest compression buffer kept between strings.
const PACKED_KEPT_BYTES_MAX: usize = 64 * 1024;

/// Writes a string as Redis's `rdbSaveRawString` does with `rdbcompression` on:
/// short integers in the integer forms, strings from 21 bytes LZF-compressed when
/// that saves 4 bytes or more (`rdbSaveLzfStringObject`), the rest as length and
/// bytes.
pub fn write_string(s: &[u8], out: &mut Vec<u8>) {
    if s.len() >= LZF_MIN_BYTES && write_compressed(s, out) {
        return;
    }
    if s.len() <= INT_STRING_MAX_BYTES {
        if let Some(v) = crate::resp::parse_i64(s).filter(|v| int_text(*v) == s) {
            let encoded = LEN_ENCODED << 6;
            if let Ok(v) = i8::try_from(v) {
                out.extend_from_slice(&[encoded | ENC_INT8 as u8, v as u8]);
                return;
            }
            if let Ok(v) = i16::try_from(v) {
                out.push(encoded | ENC_INT16 as u8);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
            if let Ok(v) = i32::try_from(v) {
                out.push(encoded | ENC_INT32 as u8);
                out.extend_from_slice(&v.to_le_bytes());
                return;
            }
        }
    }
    write_len(s.len() as u64, out);
    out.extend_from_slice(s);
}

/// Writes `s` LZF-compressed (the encoding byte, the compressed and the original
/// length, the data) if it compresses to at most its length less
/// [`LZF_SAVING_MIN`]; false, writing nothing, if not.
fn write_compressed(s: &[u8], out: &mut Vec<u8>) -> bool {
    thread_local! {
        static PACKED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    PACKED.with(|packed| {
        let mut packed = packed.borrow_mut();
        packed.clear();
        let fits = super::lzf::compress(s, s.len() - LZF_SAVING_MIN, &mut packed);
        if fits {
            out.push(LEN_ENCODED << 6 | ENC_LZF as u8);
            write_len(packed.len() as u64, out);
            write_len(s.len() as u64, out);
            out.extend_from_slice(&packed);
        }
        // The room a big value took is not kept for the next.
        if packed.capacity() > PACKED_KEPT_BYTES_MAX {
            *packed = Vec::new();
        }
        fits
    })
}
