//! Scores as Redis 7.0 reads them: C's `strtod` over the whole argument, so decimal
//! and hexadecimal (`0x1p3`, `-0x1.8p1`, `0x.8`) forms, `inf`/`infinity` in any case,
//! and with two callers' rules on top:
//! - [`parse_score`] (`string2d`, behind `getDoubleFromObject`: `ZADD`, `ZINCRBY`,
//!   `WEIGHTS`, geo coordinates and radii): no leading blank, and a result that
//!   overflows to an infinity or underflows to zero (`ERANGE`) is refused;
//! - [`parse_bound`] (`zslParseRange`: `ZRANGEBYSCORE`, `ZCOUNT`, ...): leading blanks
//!   are skipped as `strtod` skips them, and an out-of-range value stands as the
//!   infinity or zero it rounds to.
//!
//! `NaN` is refused by both. Decimal text is converted by Rust's correctly rounded
//! parser, hexadecimal text here, rounding to nearest-even as glibc does.

/// Bits a hexadecimal mantissa is gathered into; digits past them only matter as a
/// sticky bit.
const HEX_MANTISSA_BITS: u32 = 128;
/// The binary exponent range of a double: the smallest normal one, and the
/// smallest subnormal power of two.
const MIN_NORMAL_EXP: i64 = -1022;
const MIN_SUBNORMAL_EXP: i64 = -1074;
/// Significant bits of a normal double.
const DOUBLE_PRECISION: i64 = 53;
/// Decimal digits a plain integer may have to be read as a `u64` (under 10^19)
/// and converted by the cast, which rounds to nearest-even as `strtod` does: such
/// integers skip the general parser.
const INTEGER_DIGITS_MAX: usize = 19;
/// A decimal exponent beyond which any non-zero value overflows or underflows.
const EXPONENT_CAP: i64 = 100_000;

/// A whole argument as `strtod` reads it: the value and whether it is out of range
/// (`ERANGE`: an infinity or zero from finite, non-zero text). `None`: not a number,
/// or text after it.
fn strtod_whole(text: &[u8]) -> Option<(f64, bool)> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let sign = if negative { -1.0 } else { 1.0 };
    if (1..=INTEGER_DIGITS_MAX).contains(&body.len()) && body.iter().all(u8::is_ascii_digit) {
        let n = body.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'));
        return Some((sign * n as f64, false));
    }
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some((sign * f64::INFINITY, false));
    }
    if body.len() > 2 && body[0] == b'0' && (body[1] | 0x20) == b'x' {
        let (v, out_of_range) = hex(&body[2..])?;
        return Some((sign * v, out_of_range));
    }
    let decimal = !body.starts_with(b"+")
        && !body.starts_with(b"-")
        && body
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !decimal {
        return None;
    }
    let v: f64 = std::str::from_utf8(body).ok()?.parse().ok()?;
    let mantissa = body
        .split(|&c| c == b'e' || c == b'E')
        .next()
        .unwrap_or(body);
    let underflow = v == 0.0 && mantissa.iter().any(|c| (b'1'..=b'9').contains(c));
    Some((sign * v, v.is_infinite() || underflow))
}

/// The value of hexadecimal digits `[int][.frac][p[±]exp]` (after `0x`).
fn hex(text: &[u8]) -> Option<(f64, bool)> {
    let (digits, exp) = match text.iter().position(|&c| c | 0x20 == b'p') {
        Some(p) => (&text[..p], Some(&text[p + 1..])),
        None => (text, None),
    };
    let (int, frac) = match digits.iter().position(|&c| c == b'.') {
        Some(d) => (&digits[..d], &digits[d + 1..]),
        None => (digits, &digits[digits.len()..]),
    };
    if int.len() + frac.len() == 0 {
        return None;
    }
    let mut mantissa: u128 = 0;
    let mut sticky = false;
    // The power of two of the mantissa's last bit.
    let mut exp2: i64 = 0;
    for (i, &c) in int.iter().chain(frac).enumerate() {
        let d = u128::from((c as char).to_digit(16)?);
        if mantissa.leading_zeros() >= 4 {
            mantissa = (mantissa << 4) | d;
            exp2 -= 4 * i64::from(i >= int.len());
        } else {
            sticky |= d != 0;
            exp2 += 4 * i64::from(i < int.len());
        }
    }
    if let Some(exp) = exp {
        exp2 += exponent(exp)?;
    }
    Some(scale(mantissa, sticky, exp2))
}

/// A binary exponent's decimal digits, with a sign, capped where it stops mattering.
fn exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        v = (v * 10 + i64::from((c as char).to_digit(10)?)).min(EXPONENT_CAP);
    }
    Some(if negative { -v } else { v })
}

/// `mantissa` (plus a sticky tail) × 2^`exp2`, rounded to nearest-even, and
/// whether it overflowed or underflowed to zero.
fn scale(mantissa: u128, sticky: bool, exp2: i64) -> (f64, bool) {
    if mantissa == 0 {
        return (0.0, false);
    }
    let lz = mantissa.leading_zeros();
    let m = mantissa << lz;
    // The value is 1.f × 2^e.
    let e = exp2 + i64::from(HEX_MANTISSA_BITS - 1 - lz);
    if e > 1023 {
        return (f64::INFINITY, true);
    }
    let keep = if e >= MIN_NORMAL_EXP {
        DOUBLE_PRECISION
    } else {
        DOUBLE_PRECISION - (MIN_NORMAL_EXP - e)
    };
    if keep < 0 {
        return (0.0, true);
    }
    let (top, rest) = match keep {
        0 => (0u128, m),
        k => (m >> (HEX_MANTISSA_BITS as i64 - k), m << k),
    };
    let half = rest >> (HEX_MANTISSA_BITS - 1) == 1;
    let below = (rest << 1) != 0 || sticky;
    let top = top + u128::from(half && (below || top & 1 == 1));
    if top == 0 {
        return (0.0, true);
    }
    // The last kept bit's power of two.
    let unit = (e - (keep - 1)).max(MIN_SUBNORMAL_EXP);
    let v = top as f64 * pow2(unit);
    (v, v.is_infinite())
}

/// 2^`n` for `n` in the range of finite doubles.
fn pow2(n: i64) -> f64 {
    if n >= MIN_NORMAL_EXP {
        f64::from_bits(((n + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (n - MIN_SUBNORMAL_EXP))
    }
}

/// A score, weight or coordinate argument (`string2d`): see the module doc.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.first().is_none_or(|&c| is_c_space(c)) {
        return None;
    }
    match strtod_whole(arg)? {
        (_, true) => None,
        (v, false) => Some(v),
    }
}

/// A score range bound without its `(` (`zslParseRange`): see the module doc.
pub fn parse_bound(arg: &[u8]) -> Option<f64> {
    let start = arg.iter().position(|c| !is_c_space(*c))?;
    strtod_whole(&arg[start..]).map(|(v, _)| v)
}

/// C's `isspace` in the "C" locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain integers take a shortcut: it must read them as the general parser
    /// does, up to the last digit count it takes and past it.
    #[test]
    fn plain_integers_read_as_the_general_parser_reads_them() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut cases: Vec<String> = vec!["0".into(), "-0".into(), "+0".into(), "007".into()];
        cases.push("9007199254740993".into()); // 2^53 + 1: rounds to even
        cases.push("9999999999999999999".into());
        cases.push("18446744073709551615".into());
        cases.push("99999999999999999999".into());
        for _ in 0..100_000 {
            let digits = rng.gen_range(1..=22);
            let mut s: String = (0..digits)
                .map(|_| char::from(b'0' + rng.gen_range(0..10)))
                .collect();
            match rng.gen_range(0..3) {
                0 => s.insert(0, '-'),
                1 => s.insert(0, '+'),
                _ => {}
            }
            cases.push(s);
        }
        for s in cases {
            let (sign, body) = match s.as_bytes()[0] {
                b'-' => (-1.0, &s[1..]),
                b'+' => (1.0, &s[1..]),
                _ => (1.0, &s[..]),
            };
            let want = sign * body.parse::<f64>().unwrap();
            let got = strtod_whole(s.as_bytes()).map(|(v, e)| (v.to_bits(), e));
            assert_eq!(got, Some((want.to_bits(), false)), "{s}");
        }
    }

    /// What `redis-server` 7.0.15 answers: `ZADD k <arg> m` then `ZSCORE k m`
    /// (`None`: "value is not a valid float").
    #[test]
    fn scores_read_as_redis_reads_them() {
        let cases: &[(&str, Option<f64>)] = &[
            ("0x1p3", Some(8.0)),
            ("0x10", Some(16.0)),
            ("0X1P-2", Some(0.25)),
            ("-0x1.8p1", Some(-3.0)),
            ("0x.8", Some(0.5)),
            ("0x1P+3", Some(8.0)),
            ("0x0p0", Some(0.0)),
            ("0x1.fffffffffffffp1023", Some(f64::MAX)),
            ("0x1p-1074", Some(f64::from_bits(1))),
            ("1e-310", Some(1e-310)),
            ("infinity", Some(f64::INFINITY)),
            ("-INF", Some(f64::NEG_INFINITY)),
            ("inF", Some(f64::INFINITY)),
            ("1.", Some(1.0)),
            (".5", Some(0.5)),
            ("+.5e1", Some(5.0)),
            ("-0", Some(-0.0)),
            ("0e999", Some(0.0)),
            (" 1", None),
            ("1 ", None),
            ("1e400", None),
            ("1e-400", None),
            ("0x1p1024", None),
            ("0x1p-1075", None),
            ("0x1p-2000", None),
            ("nan", None),
            ("-nan", None),
            ("0x", None),
            ("0x1p", None),
            ("0xg", None),
            ("0x-1", None),
            ("00x10", None),
            ("1_0", None),
            ("1e", None),
            ("e1", None),
            ("0b1", None),
            ("1,5", None),
            ("infinit", None),
            ("+-1", None),
            ("--1", None),
            ("\x0b1", None),
            ("", None),
        ];
        for &(arg, want) in cases {
            let got = parse_score(arg.as_bytes());
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{arg:?}");
        }
    }

    /// Hexadecimal text rounds as glibc's `strtod` does: to nearest, ties to even,
    /// with digits past the mantissa as a sticky bit, also for subnormals.
    #[test]
    fn hex_rounds_to_nearest_even() {
        let cases: &[(&str, f64)] = &[
            ("0x1.00000000000008p0", 1.0),
            ("0x1.00000000000018p0", 1.0 + 2.0 * f64::EPSILON),
            (
                "0x1.000000000000080000000000000000001p0",
                1.0 + f64::EPSILON,
            ),
            ("0x0.0000000000000000000000000000000001p0", 2f64.powi(-136)),
            ("0x3p-1075", f64::from_bits(2)),
            ("0x1.8p-1074", f64::from_bits(2)),
            ("0x1.4p-1074", f64::from_bits(1)),
            ("0xffffffffffffffffffffffffffffffffffp0", 2f64.powi(136)),
        ];
        for &(arg, want) in cases {
            assert_eq!(parse_score(arg.as_bytes()), Some(want), "{arg}");
        }
    }

    /// `ZCOUNT k <arg> +inf` on `redis-server` 7.0.15: leading blanks are skipped,
    /// out-of-range values stand.
    #[test]
    fn bounds_read_as_redis_reads_them() {
        assert_eq!(parse_bound(b" 1"), Some(1.0));
        assert_eq!(parse_bound(b"  0x10"), Some(16.0));
        assert_eq!(parse_bound(b"1e400"), Some(f64::INFINITY));
        assert_eq!(parse_bound(b"0x1p-2000"), Some(0.0));
        assert_eq!(parse_bound(b"1 "), None);
        assert_eq!(parse_bound(b"nan"), None);
        assert_eq!(parse_bound(b" "), None);
    }
}
