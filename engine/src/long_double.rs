//! Redis's `long double` arithmetic for `INCRBYFLOAT` and `HINCRBYFLOAT`, emulated
//! exactly: the x87 80-bit extended format (64-bit significand, 15-bit exponent,
//! gradual underflow), read as `strtold` reads (decimal and hexadecimal, correctly
//! rounded, Redis's `string2ld` checks), added with round-half-even, and printed as
//! Redis's `ld2string(LD_STR_HUMAN)` prints: `%.17Lf`, trailing zeros and a bare
//! point dropped, `-0` shown as `0`.
//!
//! Rust has no `long double`, and the replies must be identical on every target, so
//! the format is computed with exact big-integer arithmetic: a value is `mant × 2^exp`
//! and every operation rounds the exact result once. Compared with `f64`, this is what
//! makes `0.1 + 0.2` print `0.3`, keeps 18-digit integers exact, and lets
//! `1e308 + 1e308` be the 309-digit number Redis prints.

use num_bigint::BigUint;

/// Bits in the significand, the leading (integer) bit included.
const MANT_BITS: i64 = 64;
/// Exponent of the leading bit of the largest finite value (`2^16384` overflows).
const LEAD_EXP_MAX: i64 = 16383;
/// Exponent of the leading bit of the smallest normal value.
const LEAD_EXP_MIN_NORMAL: i64 = -16382;
/// Exponent of the least significant significand bit of every subnormal value.
const LSB_EXP_MIN: i64 = LEAD_EXP_MIN_NORMAL - (MANT_BITS - 1);
/// Decimals `%.17Lf` prints.
const FIXED_DECIMALS: u32 = 17;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: `string2ld` refuses arguments this long or longer.
const TEXT_BYTES_MAX: usize = 5 * 1024;
/// Bits a quotient keeps beyond the significand, so one rounding of it is exact.
const GUARD_BITS: i64 = 2;
/// Past this many bits below the larger operand, the smaller one of a sum only
/// decides the rounding direction, so it is replaced by a tiny stand-in.
const SUM_ALIGN_BITS_MAX: i64 = 2 * MANT_BITS + GUARD_BITS;

/// One `long double` value, never NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongDouble {
    negative: bool,
    class: Class,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Zero,
    /// `mant × 2^exp`: `mant`'s bit 63 set, or a subnormal at `exp == LSB_EXP_MIN`.
    Finite {
        mant: u64,
        exp: i64,
    },
    Infinite,
}

impl LongDouble {
    pub const ZERO: LongDouble = LongDouble {
        negative: false,
        class: Class::Zero,
    };

    /// Reads `text` as Redis's `string2ld` does: the whole argument must be one
    /// `strtold` number without leading blanks, not NaN, and neither overflowing to
    /// infinity nor underflowing to zero (`inf` itself is accepted).
    pub fn parse(text: &[u8]) -> Option<LongDouble> {
        if text.is_empty() || text.len() >= TEXT_BYTES_MAX {
            return None;
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        let class = match lower.as_slice() {
            b"inf" | b"infinity" => Class::Infinite,
            [b'0', b'x', hex @ ..] => parse_hex(hex)?,
            _ => parse_decimal(body)?,
        };
        Some(LongDouble { negative, class })
    }

    /// `self + other`, rounded once; `None` for `inf + -inf` (NaN).
    pub fn checked_add(self, other: LongDouble) -> Option<LongDouble> {
        match (self.class, other.class) {
            (Class::Infinite, Class::Infinite) if self.negative != other.negative => None,
            (Class::Infinite, _) | (_, Class::Zero) => Some(self),
            (_, Class::Infinite) | (Class::Zero, _) => Some(other),
            (Class::Finite { mant: a, exp: ea }, Class::Finite { mant: b, exp: eb }) => {
                Some(add_finite((self.negative, a, ea), (other.negative, b, eb)))
            }
        }
    }

    pub fn is_finite(self) -> bool {
        self.class != Class::Infinite
    }

    /// Redis's `ld2string(LD_STR_HUMAN)`: `%.17Lf` without trailing zeros.
    pub fn to_human(self) -> Vec<u8> {
        let (mant, exp) = match self.class {
            Class::Zero => return b"0".to_vec(),
            Class::Infinite => {
                return if self.negative { &b"-inf"[..] } else { b"inf" }.to_vec();
            }
            Class::Finite { mant, exp } => (mant, exp),
        };
        let scale = BigUint::from(10u32).pow(FIXED_DECIMALS);
        let scaled = if exp >= 0 {
            (BigUint::from(mant) << exp as usize) * scale
        } else {
            round_shift(BigUint::from(mant) * scale, (-exp) as usize, false)
        };
        let digits = format!("{:0>width$}", scaled, width = FIXED_DECIMALS as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - FIXED_DECIMALS as usize);
        let frac = frac.trim_end_matches('0');
        let mut out = Vec::with_capacity(digits.len() + 2);
        if self.negative && !(int == "0" && frac.is_empty()) {
            out.push(b'-');
        }
        out.extend_from_slice(int.as_bytes());
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(frac.as_bytes());
        }
        out
    }
}

/// `value` shifted right by `shift` bits, rounded half to even; `sticky` says the
/// exact value is a little above `value` (it only breaks ties).
fn round_shift(value: BigUint, shift: usize, sticky: bool) -> BigUint {
    if shift == 0 {
        return value;
    }
    let q = &value >> shift;
    let rem = &value - (&q << shift);
    let half = BigUint::from(1u32) << (shift - 1);
    let odd = q.bit(0);
    let up = rem > half || (rem == half && (sticky || odd));
    if up {
        q + 1u32
    } else {
        q
    }
}

/// Rounds the exact value `value × 2^exp` (plus a sliver when `sticky`) to the
/// format: 64 significant bits, or fewer below the normal range; infinity above it.
fn round(negative: bool, value: BigUint, exp: i64, sticky: bool) -> LongDouble {
    let bits = value.bits() as i64;
    if bits == 0 {
        debug_assert!(!sticky, "a sliver alone is not representable here");
        return LongDouble {
            negative,
            class: Class::Zero,
        };
    }
    let lead = exp + bits - 1;
    let lsb = (lead - (MANT_BITS - 1)).max(LSB_EXP_MIN);
    let (mut q, mut lsb) = if lsb >= exp {
        (round_shift(value, (lsb - exp) as usize, sticky), lsb)
    } else {
        debug_assert!(!sticky, "an exact value needs no sliver");
        (value << (exp - lsb) as usize, lsb)
    };
    if q.bits() as i64 > MANT_BITS {
        q >>= 1;
        lsb += 1;
    }
    let class = if q.bits() == 0 {
        Class::Zero
    } else if lsb + q.bits() as i64 - 1 > LEAD_EXP_MAX {
        Class::Infinite
    } else {
        let mant = q.iter_u64_digits().next().unwrap_or(0);
        Class::Finite { mant, exp: lsb }
    };
    LongDouble { negative, class }
}

/// The exact sum of two finite values, rounded once.
fn add_finite(a: (bool, u64, i64), b: (bool, u64, i64)) -> LongDouble {
    let magnitude = |(_, m, e): (bool, u64, i64)| e + 64 - i64::from(m.leading_zeros());
    let (big, mut small) = if magnitude(a) >= magnitude(b) {
        (a, b)
    } else {
        (b, a)
    };
    if magnitude(big) - magnitude(small) > SUM_ALIGN_BITS_MAX {
        // Far below the rounding point: only its sign and that it is not zero count.
        small = (small.0, 1, magnitude(big) - SUM_ALIGN_BITS_MAX);
    }
    let exp = big.2.min(small.2);
    let big_int = BigUint::from(big.1) << (big.2 - exp) as usize;
    let small_int = BigUint::from(small.1) << (small.2 - exp) as usize;
    if big.0 == small.0 {
        return round(big.0, big_int + small_int, exp, false);
    }
    match big_int.cmp(&small_int) {
        std::cmp::Ordering::Equal => LongDouble::ZERO,
        std::cmp::Ordering::Greater => round(big.0, big_int - small_int, exp, false),
        std::cmp::Ordering::Less => round(small.0, small_int - big_int, exp, false),
    }
}

/// The digits and exponent of a `strtold` number that must span all of `text`:
/// `digits[.digits][<marker>[sign]digits]` with digits of `radix`.
fn split_number(text: &[u8], radix: u32, marker: u8) -> Option<(Vec<u8>, usize, i64)> {
    let is_digit = |c: &u8| (*c as char).is_digit(radix);
    let int_len = text.iter().take_while(|c| is_digit(c)).count();
    let mut rest = &text[int_len..];
    let mut digits: Vec<u8> = text[..int_len].to_vec();
    let mut frac_len = 0;
    if let Some((b'.', after)) = rest.split_first() {
        frac_len = after.iter().take_while(|c| is_digit(c)).count();
        digits.extend_from_slice(&after[..frac_len]);
        rest = &after[frac_len..];
    }
    if digits.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if let Some((&m, after)) = rest.split_first() {
        if m.to_ascii_lowercase() != marker {
            return None;
        }
        let (negative, num) = match after.split_first() {
            Some((b'-', n)) => (true, n),
            Some((b'+', n)) => (false, n),
            _ => (false, after),
        };
        if num.is_empty() || !num.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Saturates far beyond any exponent the format can reach.
        for &c in num {
            exp = (exp * 10 + i64::from(c - b'0')).min(i64::from(u32::MAX));
        }
        if negative {
            exp = -exp;
        }
    }
    Some((digits, frac_len, exp))
}

/// A decimal `strtold` number without its sign.
fn parse_decimal(text: &[u8]) -> Option<Class> {
    let (digits, frac_len, exp) = split_number(text, 10, b'e')?;
    let digits: Vec<u8> = digits.into_iter().skip_while(|&c| c == b'0').collect();
    if digits.is_empty() {
        return Some(Class::Zero);
    }
    let exp10 = exp - frac_len as i64;
    // Decimal magnitude of the leading digit: far outside the format's range the
    // answer is known without computing 10^exp10.
    let magnitude = exp10 + digits.len() as i64 - 1;
    if magnitude > 4933 {
        return None;
    }
    if magnitude < -4952 {
        return None;
    }
    let int = BigUint::parse_bytes(&digits, 10)?;
    let value = if exp10 >= 0 {
        round(
            false,
            int * BigUint::from(10u32).pow(exp10 as u32),
            0,
            false,
        )
    } else {
        let den = BigUint::from(10u32).pow((-exp10) as u32);
        let lead = int.bits() as i64 - den.bits() as i64;
        let mut k = MANT_BITS + GUARD_BITS + 1 - lead;
        if lead <= LEAD_EXP_MIN_NORMAL + 1 {
            // Possibly subnormal: keep bits down to below the fixed last place.
            k = k.max(GUARD_BITS - LSB_EXP_MIN);
        }
        let k = k.max(0);
        let scaled = int << k as usize;
        let q = &scaled / &den;
        let sticky = &q * &den != scaled;
        round(false, q, -k, sticky)
    };
    in_range(value.class)
}

/// A hexadecimal `strtold` number after its `0x`, with an optional `p` exponent.
fn parse_hex(text: &[u8]) -> Option<Class> {
    let (digits, frac_len, exp) = split_number(text, 16, b'p')?;
    let int = BigUint::parse_bytes(&digits, 16)?;
    if int.bits() == 0 {
        return Some(Class::Zero);
    }
    let exp2 = exp - 4 * frac_len as i64;
    let lead = exp2 + int.bits() as i64 - 1;
    if lead > LEAD_EXP_MAX + 1 {
        return None;
    }
    if lead < LSB_EXP_MIN - GUARD_BITS {
        return None;
    }
    in_range(round(false, int, exp2, false).class)
}

/// `string2ld` refuses a nonzero number that overflowed or underflowed to zero.
fn in_range(class: Class) -> Option<Class> {
    match class {
        Class::Finite { .. } => Some(class),
        Class::Zero | Class::Infinite => None,
    }
}

#[cfg(test)]
mod tests;
