//! The packed blobs inside RDB values, byte for byte as Redis lays them out:
//! listpacks (`listpack.c`, written and read), ziplists (`ziplist.c`, read: Redis
//! 6.x writes them) and intsets (`intset.c`, written and read). Reading walks the
//! whole blob and checks every header, length and terminator against it.

/// Listpack and ziplist terminator.
const END: u8 = 0xff;
/// Listpack header: total bytes (u32) and element count (u16).
const LP_HEADER_BYTES: usize = 6;
/// Ziplist header: total bytes, tail offset (u32 each) and count (u16).
const ZL_HEADER_BYTES: usize = 10;
/// Intset header: element width and count (u32 each).
const INTSET_HEADER_BYTES: usize = 8;
/// A ziplist's `prevlen` above this takes five bytes.
const ZL_BIG_PREVLEN: u8 = 254;

/// Listpack element encodings (first byte, masked).
const LP_7BIT_UINT: u8 = 0x00;
const LP_6BIT_STR: u8 = 0x80;
const LP_13BIT_INT: u8 = 0xc0;
const LP_12BIT_STR: u8 = 0xe0;
const LP_32BIT_STR: u8 = 0xf0;
const LP_16BIT_INT: u8 = 0xf1;
const LP_24BIT_INT: u8 = 0xf2;
const LP_32BIT_INT: u8 = 0xf3;
const LP_64BIT_INT: u8 = 0xf4;
/// Longest strings of the short string forms.
const LP_6BIT_STR_MAX: usize = 63;
const LP_12BIT_STR_MAX: usize = 4095;
/// Ranges of the short integer forms.
const LP_7BIT_UINT_MAX: i64 = 127;
const LP_13BIT_INT_MAX: i64 = 4095;
const LP_24BIT_INT_MAX: i64 = (1 << 23) - 1;
/// Longest string a listpack stores as an integer.
const LP_INT_STRING_MAX_BYTES: usize = 20;

/// The integer a listpack or intset stores for `s`, when `s` is one's canonical text.
fn as_int(s: &[u8]) -> Option<i64> {
    if s.len() > LP_INT_STRING_MAX_BYTES {
        return None;
    }
    let v = crate::resp::parse_i64(s)?;
    (itoa::Buffer::new().format(v).as_bytes() == s).then_some(v)
}

/// A listpack element's header (its encoding byte or bytes, with an integer's
/// value) and the string bytes after it (none for an integer).
type Head = smallvec::SmallVec<[u8; 9]>;

fn lp_head(elem: &[u8]) -> (Head, &[u8]) {
    let mut head = Head::new();
    let Some(v) = as_int(elem) else {
        match elem.len() {
            n if n <= LP_6BIT_STR_MAX => head.push(LP_6BIT_STR | n as u8),
            n if n <= LP_12BIT_STR_MAX => {
                head.extend_from_slice(&[LP_12BIT_STR | (n >> 8) as u8, n as u8]);
            }
            n => {
                head.push(LP_32BIT_STR);
                head.extend_from_slice(&(n as u32).to_le_bytes());
            }
        }
        return (head, elem);
    };
    match v {
        v if (0..=LP_7BIT_UINT_MAX).contains(&v) => head.push(v as u8),
        v if (-LP_13BIT_INT_MAX - 1..=LP_13BIT_INT_MAX).contains(&v) => {
            let u = (v as u16) & 0x1fff;
            head.extend_from_slice(&[LP_13BIT_INT | (u >> 8) as u8, u as u8]);
        }
        v if i16::try_from(v).is_ok() => {
            head.push(LP_16BIT_INT);
            head.extend_from_slice(&(v as i16).to_le_bytes());
        }
        v if (-LP_24BIT_INT_MAX - 1..=LP_24BIT_INT_MAX).contains(&v) => {
            head.push(LP_24BIT_INT);
            head.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        v if i32::try_from(v).is_ok() => {
            head.push(LP_32BIT_INT);
            head.extend_from_slice(&(v as i32).to_le_bytes());
        }
        v => {
            head.push(LP_64BIT_INT);
            head.extend_from_slice(&v.to_le_bytes());
        }
    }
    (head, &[])
}

/// Appends one listpack element: the encoding, the data, the back length.
fn lp_append(elem: &[u8], out: &mut Vec<u8>) {
    let (head, data) = lp_head(elem);
    out.extend_from_slice(&head);
    out.extend_from_slice(data);
    write_backlen(head.len() + data.len(), out);
}

/// Upper bounds (exclusive) of the 2-, 3- and 4-byte back lengths, as
/// `lpEncodeBacklen` compares.
const BACKLEN_BOUNDS: [usize; 3] = [16383, 2097151, 268435455];
/// The 1-byte back length's largest value.
const BACKLEN_1BYTE_MAX: usize = 127;

/// The back length (`lpEncodeBacklen`): `len` in 7-bit groups, most significant
/// first, every group after the first with its top bit set.
fn write_backlen(len: usize, out: &mut Vec<u8>) {
    let bytes = backlen_bytes(len);
    for i in (0..bytes).rev() {
        let group = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i == bytes - 1 { group } else { group | 0x80 });
    }
}

/// The bytes of the back length of an element of `len` bytes.
fn backlen_bytes(len: usize) -> usize {
    if len <= BACKLEN_1BYTE_MAX {
        1
    } else {
        2 + BACKLEN_BOUNDS.iter().take_while(|&&b| len >= b).count()
    }
}

/// A listpack of `elems`.
pub fn listpack<'e>(elems: impl IntoIterator<Item = &'e [u8]>) -> Vec<u8> {
    let mut lp = Listpack::default();
    for e in elems {
        lp.push(e);
    }
    lp.finish();
    lp.buf
}

/// A listpack built element by element, its buffer reused from one to the next.
pub struct Listpack {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Listpack {
    fn default() -> Self {
        Listpack {
            buf: vec![0; LP_HEADER_BYTES],
            count: 0,
        }
    }
}

impl Listpack {
    /// Appends one element.
    pub fn push(&mut self, elem: &[u8]) {
        lp_append(elem, &mut self.buf);
        self.count += 1;
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The bytes it takes, finished (header and terminator included).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Ends the listpack: its bytes, whole.
    pub fn finish(&mut self) -> &[u8] {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        &self.buf
    }

    /// Starts again, empty.
    pub fn clear(&mut self) {
        self.buf.truncate(LP_HEADER_BYTES);
        self.count = 0;
    }
}

fn int_text(v: i64) -> Vec<u8> {
    itoa::Buffer::new().format(v).as_bytes().to_vec()
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// The elements of a listpack blob; `None` when any part is inconsistent.
pub fn read_listpack(blob: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let declared = u16::from_le_bytes(blob.get(4..6)?.try_into().ok()?);
    if total != blob.len() || total < LP_HEADER_BYTES + 1 || blob[total - 1] != END {
        return None;
    }
    let body = &blob[LP_HEADER_BYTES..total - 1];
    let mut elems = Vec::new();
    let mut p = 0;
    while p < body.len() {
        let b = body[p];
        let at = |from: usize, n: usize| body.get(p + from..p + from + n);
        let (value, len) = if b & 0x80 == LP_7BIT_UINT {
            (int_text(i64::from(b)), 1)
        } else if b & 0xc0 == LP_6BIT_STR {
            let n = usize::from(b & 0x3f);
            (at(1, n)?.to_vec(), 1 + n)
        } else if b & 0xe0 == LP_13BIT_INT {
            let v = u64::from(b & 0x1f) << 8 | u64::from(*at(1, 1)?.first()?);
            (int_text(sign_extend(v, 13)), 2)
        } else if b & 0xf0 == LP_12BIT_STR {
            let n = usize::from(b & 0x0f) << 8 | usize::from(*at(1, 1)?.first()?);
            (at(2, n)?.to_vec(), 2 + n)
        } else {
            let le = |n: usize| -> Option<u64> {
                let mut v = 0u64;
                for (i, &x) in at(1, n)?.iter().enumerate() {
                    v |= u64::from(x) << (8 * i);
                }
                Some(v)
            };
            match b {
                LP_32BIT_STR => {
                    let n = usize::try_from(le(4)?).ok()?;
                    (at(5, n)?.to_vec(), 5 + n)
                }
                LP_16BIT_INT => (int_text(sign_extend(le(2)?, 16)), 3),
                LP_24BIT_INT => (int_text(sign_extend(le(3)?, 24)), 4),
                LP_32BIT_INT => (int_text(sign_extend(le(4)?, 32)), 5),
                LP_64BIT_INT => (int_text(le(8)? as i64), 9),
                _ => return None,
            }
        };
        let mut backlen = Vec::new();
        write_backlen(len, &mut backlen);
        if body.get(p + len..p + len + backlen.len())? != backlen.as_slice() {
            return None;
        }
        p += len + backlen.len();
        elems.push(value);
    }
    if declared != u16::MAX && usize::from(declared) != elems.len() {
        return None;
    }
    Some(elems)
}

/// The elements of a ziplist blob; `None` when any part is inconsistent.
pub fn read_ziplist(blob: &[u8]) -> Option<Vec<Vec<u8>>> {
    let total = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let tail = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    let declared = u16::from_le_bytes(blob.get(8..10)?.try_into().ok()?);
    if total != blob.len() || total < ZL_HEADER_BYTES + 1 || blob[total - 1] != END {
        return None;
    }
    let mut elems = Vec::new();
    let mut p = ZL_HEADER_BYTES;
    let mut prev_len = 0usize;
    let mut last_start = ZL_HEADER_BYTES;
    while p < total - 1 {
        let start = p;
        let first = *blob.get(p)?;
        let prev = if first < ZL_BIG_PREVLEN {
            p += 1;
            usize::from(first)
        } else if first == ZL_BIG_PREVLEN {
            let v = u32::from_le_bytes(blob.get(p + 1..p + 5)?.try_into().ok()?);
            p += 5;
            v as usize
        } else {
            return None;
        };
        if prev != prev_len {
            return None;
        }
        let enc = *blob.get(p)?;
        let data = |from: usize, n: usize| blob.get(p + from..p + from + n);
        let (value, len) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                (data(1, n)?.to_vec(), 1 + n)
            }
            1 => {
                let n = usize::from(enc & 0x3f) << 8 | usize::from(*data(1, 1)?.first()?);
                (data(2, n)?.to_vec(), 2 + n)
            }
            2 if enc == 0x80 => {
                let n = u32::from_be_bytes(data(1, 4)?.try_into().ok()?) as usize;
                (data(5, n)?.to_vec(), 5 + n)
            }
            3 => {
                let int = |n: usize| -> Option<i64> {
                    let mut v = 0u64;
                    for (i, &x) in data(1, n)?.iter().enumerate() {
                        v |= u64::from(x) << (8 * i);
                    }
                    Some(sign_extend(v, 8 * n as u32))
                };
                match enc {
                    0xc0 => (int_text(int(2)?), 3),
                    0xd0 => (int_text(int(4)?), 5),
                    0xe0 => (int_text(int(8)?), 9),
                    0xf0 => (int_text(int(3)?), 4),
                    0xfe => (int_text(int(1)?), 2),
                    0xf1..=0xfd => (int_text(i64::from(enc & 0x0f) - 1), 1),
                    _ => return None,
                }
            }
            _ => return None,
        };
        p += len;
        if p > total - 1 {
            return None;
        }
        prev_len = p - start;
        last_start = start;
        elems.push(value);
    }
    let tail_ok = match elems.is_empty() {
        true => tail == ZL_HEADER_BYTES,
        false => tail == last_start,
    };
    if !tail_ok || (declared != u16::MAX && usize::from(declared) != elems.len()) {
        return None;
    }
    Some(elems)
}

/// An intset blob of `values` (ascending, distinct), in the narrowest width.
pub fn intset(values: &[i64]) -> Vec<u8> {
    let width: usize = if values.iter().all(|v| i16::try_from(*v).is_ok()) {
        2
    } else if values.iter().all(|v| i32::try_from(*v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(INTSET_HEADER_BYTES + width * values.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

/// The members of an intset blob: a valid width, the exact size, strictly ascending.
pub fn read_intset(blob: &[u8]) -> Option<Vec<Vec<u8>>> {
    let width = u32::from_le_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    let count = u32::from_le_bytes(blob.get(4..8)?.try_into().ok()?) as usize;
    if !matches!(width, 2 | 4 | 8)
        || count.checked_mul(width)?.checked_add(INTSET_HEADER_BYTES)? != blob.len()
    {
        return None;
    }
    let mut values: Vec<i64> = Vec::with_capacity(count);
    for chunk in blob[INTSET_HEADER_BYTES..].chunks_exact(width) {
        let mut v = 0u64;
        for (i, &x) in chunk.iter().enumerate() {
            v |= u64::from(x) << (8 * i);
        }
        let v = sign_extend(v, 8 * width as u32);
        if values.last().is_some_and(|&last| last >= v) {
            return None;
        }
        values.push(v);
    }
    Some(values.into_iter().map(int_text).collect())
}
