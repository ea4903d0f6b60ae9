//! Redis's glob matching (`stringmatchlen`): `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
//! Used by `KEYS`, `SCAN`/`HSCAN`/`SSCAN MATCH`, `CONFIG GET` and `CLIENT KILL`
//! patterns, always on the shard or session that owns the data.
//!
//! Every token but `*` consumes exactly one byte, so a mismatch only ever needs to
//! retry from the most recent `*`, one byte further on: the match runs in
//! `O(pattern × string)` steps with no recursion and no allocation, whatever the
//! pattern (`a*a*a*…*b` against a long run of `a`s included). Redis reaches the same
//! bound by pruning retries of earlier stars; the results are identical, quirks
//! included: an empty string matches only the empty pattern, a class left open at the
//! end of the pattern (`[abc`) matches one byte and ends the pattern, `\` escapes the
//! next byte (case-sensitively inside a class), and a trailing lone `\` is literal.

/// Whether `s` matches `pattern`; `nocase` folds ASCII letters.
pub fn glob_match(pattern: &[u8], s: &[u8], nocase: bool) -> bool {
    if s.is_empty() {
        return pattern.is_empty();
    }
    // (pattern position after the last star, string position it is tried from)
    let mut retry: Option<(usize, usize)> = None;
    let (mut pi, mut si) = (0, 0);
    while si < s.len() {
        match token(pattern, pi, s[si], nocase) {
            Token::Star(next) => {
                if next == pattern.len() {
                    return true;
                }
                retry = Some((next, si));
                pi = next;
            }
            Token::One(true, next) => {
                pi = next;
                si += 1;
            }
            Token::One(false, _) | Token::End => match retry {
                Some((star_next, from)) => {
                    retry = Some((star_next, from + 1));
                    pi = star_next;
                    si = from + 1;
                }
                None => return false,
            },
        }
    }
    pattern[pi..].iter().all(|&c| c == b'*')
}

/// The pattern token at `pi`, tried against one string byte.
enum Token {
    /// A run of stars; the position after it.
    Star(usize),
    /// A one-byte token: whether `c` matches it, and the position after it.
    One(bool, usize),
    /// The pattern is exhausted.
    End,
}

fn token(p: &[u8], pi: usize, c: u8, nocase: bool) -> Token {
    let Some(&first) = p.get(pi) else {
        return Token::End;
    };
    match first {
        b'*' => {
            let run = p[pi..].iter().take_while(|&&b| b == b'*').count();
            Token::Star(pi + run)
        }
        b'?' => Token::One(true, pi + 1),
        b'[' => class(p, pi + 1, c, nocase),
        b'\\' if pi + 1 < p.len() => Token::One(eq(p[pi + 1], c, nocase), pi + 2),
        lit => Token::One(eq(lit, c, nocase), pi + 1),
    }
}

fn eq(a: u8, b: u8, nocase: bool) -> bool {
    a == b || (nocase && a.eq_ignore_ascii_case(&b))
}

/// A `[...]` class starting at `pi` (just after the `[`), read as Redis reads it.
fn class(p: &[u8], mut pi: usize, c: u8, nocase: bool) -> Token {
    let negate = p.get(pi) == Some(&b'^');
    if negate {
        pi += 1;
    }
    let mut matched = false;
    loop {
        let rest = &p[pi.min(p.len())..];
        match rest {
            [] => break,
            [b'\\', escaped, ..] => {
                matched |= *escaped == c;
                pi += 2;
            }
            [b']', ..] => {
                pi += 1;
                break;
            }
            [lo, b'-', hi, ..] => {
                let (lo, hi) = ((*lo).min(*hi), (*lo).max(*hi));
                matched |= if nocase {
                    let l = c.to_ascii_lowercase();
                    l >= lo.to_ascii_lowercase() && l <= hi.to_ascii_lowercase()
                } else {
                    c >= lo && c <= hi
                };
                pi += 3;
            }
            [lit, ..] => {
                matched |= eq(*lit, c, nocase);
                pi += 1;
            }
        }
    }
    Token::One(matched != negate, pi.min(p.len()))
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;
    use proptest::prelude::*;

    #[test]
    fn globs() {
        assert!(m(b"*", b"anything", false));
        assert!(m(b"h?llo", b"hello", false));
        assert!(m(b"h*llo", b"heeeello", false));
        assert!(m(b"h[ae]llo", b"hallo", false));
        assert!(!m(b"h[ae]llo", b"hillo", false));
        assert!(m(b"h[^e]llo", b"hallo", false));
        assert!(!m(b"h[^e]llo", b"hello", false));
        assert!(m(b"h[a-b]llo", b"hbllo", false));
        assert!(m(b"key:*", b"key:", false));
        assert!(!m(b"key:?", b"key:", false));
        assert!(m(b"a\\*b", b"a*b", false));
        assert!(!m(b"a\\*b", b"axb", false));
        assert!(m(b"HELLO", b"hello", true));
        assert!(!m(b"", b"x", false));
        assert!(m(b"", b"", false));
        assert!(
            !m(b"*", b"", false),
            "Redis: only the empty pattern matches ''"
        );
        assert!(m(b"a[bc", b"ab", false), "an open class ends the pattern");
        assert!(!m(b"a[bc", b"abx", false));
    }

    #[test]
    fn many_stars_are_fast() {
        let key = [b'a'; 40];
        let mut pattern = b"a*".repeat(22);
        pattern.push(b'b');
        let started = std::time::Instant::now();
        assert!(!m(&pattern, &key, false));
        let mut stars = vec![b'a'];
        stars.extend(std::iter::repeat_n(b'*', 50_000));
        stars.push(b'b');
        assert!(!m(&stars, &key, false));
        let long = [b'a'; 10_000];
        let pattern = b"*a".repeat(5_000);
        assert!(m(&pattern, &long, false));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    /// A line-by-line transcription of Redis 7.0's recursive `stringmatchlen`
    /// (before its pruning of star retries): exponential, for small inputs only.
    fn reference(p: &[u8], s: &[u8], nocase: bool) -> bool {
        let lower = |b: u8| if nocase { b.to_ascii_lowercase() } else { b };
        let (mut p, mut s) = (p, s);
        while !p.is_empty() && !s.is_empty() {
            match p[0] {
                b'*' => {
                    while p.len() > 1 && p[1] == b'*' {
                        p = &p[1..];
                    }
                    if p.len() == 1 {
                        return true;
                    }
                    return (0..s.len()).any(|i| reference(&p[1..], &s[i..], nocase));
                }
                b'?' => s = &s[1..],
                b'[' => {
                    p = &p[1..];
                    let not = p.first() == Some(&b'^');
                    if not {
                        p = &p[1..];
                    }
                    let mut hit = false;
                    loop {
                        if p.len() >= 2 && p[0] == b'\\' {
                            p = &p[1..];
                            hit |= p[0] == s[0];
                        } else if p.first() == Some(&b']') {
                            break;
                        } else if p.is_empty() {
                            // Redis steps back so the shared `pattern++` ends it.
                            break;
                        } else if p.len() >= 3 && p[1] == b'-' {
                            let (a, b) = (p[0].min(p[2]), p[0].max(p[2]));
                            let c = lower(s[0]);
                            hit |= c >= lower(a) && c <= lower(b);
                            p = &p[2..];
                        } else {
                            hit |= lower(p[0]) == lower(s[0]);
                        }
                        p = &p[1..];
                    }
                    if hit == not {
                        return false;
                    }
                    s = &s[1..];
                    if p.is_empty() {
                        return s.is_empty();
                    }
                }
                _ => {
                    if p[0] == b'\\' && p.len() >= 2 {
                        p = &p[1..];
                    }
                    if lower(p[0]) != lower(s[0]) {
                        return false;
                    }
                    s = &s[1..];
                }
            }
            p = &p[1..];
            if s.is_empty() {
                while p.first() == Some(&b'*') {
                    p = &p[1..];
                }
                break;
            }
        }
        p.is_empty() && s.is_empty()
    }

    fn pattern_bytes() -> impl Strategy<Value = Vec<u8>> {
        let b = prop::sample::select(b"ab*?[]^-\\A".to_vec());
        prop::collection::vec(b, 0..9)
    }

    fn string_bytes() -> impl Strategy<Value = Vec<u8>> {
        let b = prop::sample::select(b"abAB-]^*\\".to_vec());
        prop::collection::vec(b, 0..8)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn same_as_redis(p in pattern_bytes(), s in string_bytes(), nocase: bool) {
            prop_assert_eq!(m(&p, &s, nocase), reference(&p, &s, nocase));
        }
    }
}
