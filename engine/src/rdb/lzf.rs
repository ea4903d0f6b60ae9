//! LZF decompression (`lzf_d.c`), for the compressed strings Redis writes when
//! `rdbcompression` is on. Every literal run and back reference is checked against
//! the input and the output, so corrupt input is `None`.

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
}
