//! Command templates: the text of a request with placeholders for keys and values.
//!
//! `SET key:__key__ __value__` is split into arguments once, at start-up; each
//! argument is a list of [`Piece`]s. Encoding a request walks the pieces and writes the
//! RESP array straight into the connection's output buffer, so the hot path neither
//! formats strings nor allocates.
//!
//! Placeholders:
//! - `__key__` is `--key-prefix` plus a key index drawn from the key distribution. All
//!   `__key__` of one command share one key (`GETSET __key__ ...`).
//! - `__key0__` ... `__key999__` are the key slots of one command (`__key0__` is
//!   `__key__`), each a different key: `MGET __key0__ __key1__` reads two keys.
//! - `__value__` is a value of `--value-size` bytes; each occurrence draws its own.
//!
//! Arguments are separated by whitespace; double quotes keep spaces in one argument,
//! and inside quotes `\"` and `\\` stand for `"` and `\`.

use crate::keys::KeyGen;
use crate::limits::{KEYS_PER_COMMAND_MAX, TEMPLATE_ARGS_MAX};
use crate::resp;
use crate::value::{ValueGen, ValueSlot};
use std::fmt;

/// Draws per slot before a command settles for a key another of its slots has.
const DISTINCT_DRAWS_MAX: usize = 64;

/// One part of an argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Literal(Vec<u8>),
    /// The key of slot `n` of this command.
    Key(usize),
    Value,
}

/// A parsed command template.
#[derive(Clone, Debug)]
pub struct Template {
    label: String,
    args: Vec<Vec<Piece>>,
    key_slots: usize,
}

/// Why a template was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    Empty,
    UnterminatedQuote,
    TooManyArgs,
    KeySlotTooLarge(usize),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Empty => f.write_str("command template is empty"),
            TemplateError::UnterminatedQuote => {
                f.write_str("command template has an unclosed quote")
            }
            TemplateError::TooManyArgs => {
                write!(
                    f,
                    "command template has more than {TEMPLATE_ARGS_MAX} arguments"
                )
            }
            TemplateError::KeySlotTooLarge(slot) => write!(
                f,
                "key slot __key{slot}__ is beyond the {KEYS_PER_COMMAND_MAX} keys a command may use"
            ),
        }
    }
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let words = split_words(text)?;
        if words.is_empty() {
            return Err(TemplateError::Empty);
        }
        if words.len() > TEMPLATE_ARGS_MAX {
            return Err(TemplateError::TooManyArgs);
        }
        let args = words
            .iter()
            .map(|w| parse_pieces(w))
            .collect::<Result<Vec<_>, _>>()?;
        let key_slots = args
            .iter()
            .flatten()
            .filter_map(|piece| match piece {
                Piece::Key(slot) => Some(slot + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let label = match args[0].as_slice() {
            [Piece::Literal(name)] => String::from_utf8_lossy(name).to_ascii_uppercase(),
            _ => "COMMAND".to_string(),
        };
        Ok(Template {
            label,
            args,
            key_slots,
        })
    }

    /// The name results are reported under: the command name, upper-cased.
    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn args(&self) -> &[Vec<Piece>] {
        &self.args
    }

    /// Appends one request built from this template to `out`.
    pub fn encode(&self, expander: &mut Expander, out: &mut Vec<u8>) {
        expander.draw_keys(self.key_slots);
        resp::encode_array_header(out, self.args.len());
        for arg in &self.args {
            expander.values_drawn.clear();
            let len = arg.iter().map(|piece| expander.piece_len(piece)).sum();
            resp::encode_bulk_header(out, len);
            let start = out.len();
            let mut values = 0;
            for piece in arg {
                expander.write_piece(piece, &mut values, out);
            }
            debug_assert_eq!(out.len() - start, len);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Per-thread state that fills placeholders: key and value generators plus scratch
/// space sized once for the largest command.
pub struct Expander {
    keys: KeyGen,
    values: ValueGen,
    key_prefix: Vec<u8>,
    slot_keys: Vec<u64>,
    values_drawn: Vec<ValueSlot>,
}

impl Expander {
    pub fn new(keys: KeyGen, values: ValueGen, key_prefix: &[u8]) -> Self {
        Expander {
            keys,
            values,
            key_prefix: key_prefix.to_vec(),
            slot_keys: Vec::with_capacity(KEYS_PER_COMMAND_MAX),
            values_drawn: Vec::with_capacity(TEMPLATE_ARGS_MAX),
        }
    }

    /// Draws the keys of a command's slots, distinct from each other: a key drawn
    /// twice is drawn again, up to [`DISTINCT_DRAWS_MAX`] times (a keyspace smaller
    /// than the slots cannot give distinct keys; a skewed distribution may repeat).
    fn draw_keys(&mut self, slots: usize) {
        assert!(slots <= KEYS_PER_COMMAND_MAX);
        self.slot_keys.clear();
        for _ in 0..slots {
            let mut index = self.keys.next_index();
            for _ in 0..DISTINCT_DRAWS_MAX {
                if !self.slot_keys.contains(&index) {
                    break;
                }
                index = self.keys.next_index();
            }
            self.slot_keys.push(index);
        }
    }

    /// Length of `piece`; draws the value when it is one, for `write_piece` to use.
    fn piece_len(&mut self, piece: &Piece) -> usize {
        match piece {
            Piece::Literal(bytes) => bytes.len(),
            Piece::Key(slot) => self.key_prefix.len() + resp::decimal_len(self.slot_keys[*slot]),
            Piece::Value => {
                let slot = self.values.draw();
                self.values_drawn.push(slot);
                slot.len_bytes
            }
        }
    }

    fn write_piece(&self, piece: &Piece, values_used: &mut usize, out: &mut Vec<u8>) {
        match piece {
            Piece::Literal(bytes) => out.extend_from_slice(bytes),
            Piece::Key(slot) => {
                out.extend_from_slice(&self.key_prefix);
                resp::encode_decimal(out, self.slot_keys[*slot]);
            }
            Piece::Value => {
                out.extend_from_slice(self.values.bytes(self.values_drawn[*values_used]));
                *values_used += 1;
            }
        }
    }
}

fn split_words(text: &str) -> Result<Vec<Vec<u8>>, TemplateError> {
    let mut words = Vec::new();
    let mut bytes = text.bytes().peekable();
    loop {
        while bytes.next_if(u8::is_ascii_whitespace).is_some() {}
        let Some(&first) = bytes.peek() else {
            return Ok(words);
        };
        let mut word = Vec::new();
        if first == b'"' {
            bytes.next();
            loop {
                match bytes.next() {
                    None => return Err(TemplateError::UnterminatedQuote),
                    Some(b'"') => break,
                    Some(b'\\') if matches!(bytes.peek(), Some(b'"' | b'\\')) => {
                        word.extend(bytes.next());
                    }
                    Some(b) => word.push(b),
                }
            }
        } else {
            while let Some(b) = bytes.next_if(|b| !b.is_ascii_whitespace()) {
                word.push(b);
            }
        }
        words.push(word);
    }
}

fn parse_pieces(word: &[u8]) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut literal = Vec::new();
    let mut rest = word;
    while !rest.is_empty() {
        match placeholder_at(rest)? {
            Some((piece, len)) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(piece);
                rest = &rest[len..];
            }
            None => {
                literal.push(rest[0]);
                rest = &rest[1..];
            }
        }
    }
    if !literal.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// The placeholder starting `text`, with its length in bytes.
fn placeholder_at(text: &[u8]) -> Result<Option<(Piece, usize)>, TemplateError> {
    if let Some(rest) = text.strip_prefix(b"__value__") {
        return Ok(Some((Piece::Value, text.len() - rest.len())));
    }
    let Some(after) = text.strip_prefix(b"__key") else {
        return Ok(None);
    };
    let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
    if !after[digits..].starts_with(b"__") || digits > 4 {
        return Ok(None);
    }
    let slot = std::str::from_utf8(&after[..digits])
        .ok()
        .and_then(|d| d.parse::<usize>().ok())
        .unwrap_or(0);
    if slot >= KEYS_PER_COMMAND_MAX {
        return Err(TemplateError::KeySlotTooLarge(slot));
    }
    Ok(Some((Piece::Key(slot), "__key".len() + digits + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Distribution;
    use crate::value::ValueSize;

    fn expander(size: &str) -> Expander {
        let keys = KeyGen::new(Distribution::Sequential, 1_000, 0..0, 0);
        let values = ValueGen::new(size.parse::<ValueSize>().unwrap(), 0);
        Expander::new(keys, values, b"key:")
    }

    /// The request's arguments, decoded back from RESP.
    fn encode_args(template: &Template, expander: &mut Expander) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        template.encode(expander, &mut out);
        let text = out.as_slice();
        let mut lines = text
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let count: usize = std::str::from_utf8(&lines.next().unwrap()[1..])
            .unwrap()
            .parse()
            .unwrap();
        let mut args = Vec::new();
        for _ in 0..count {
            let header = lines.next().unwrap();
            let len: usize = std::str::from_utf8(&header[1..]).unwrap().parse().unwrap();
            let arg = lines.next().unwrap().to_vec();
            assert_eq!(arg.len(), len, "bulk header length matches the argument");
            args.push(arg);
        }
        assert_eq!(lines.next(), Some(&b""[..]), "request ends with CRLF");
        args
    }

    #[test]
    fn expands_key_and_value_placeholders() {
        let template = Template::parse("SET key:__key__ __value__").unwrap();
        assert_eq!(template.label(), "SET");
        let mut exp = expander("5");
        let first = encode_args(&template, &mut exp);
        assert_eq!(first[0], b"SET");
        assert_eq!(first[1], b"key:key:0");
        assert_eq!(first[2].len(), 5);
        let second = encode_args(&template, &mut exp);
        assert_eq!(second[1], b"key:key:1", "each request draws the next key");
    }

    #[test]
    fn repeated_key_placeholders_share_one_key_and_slots_differ() {
        let template = Template::parse("MSET __key__ a{__key__}b __key1__ __value__").unwrap();
        let args = encode_args(&template, &mut expander("3"));
        assert_eq!(args[1], b"key:0");
        assert_eq!(args[2], b"a{key:0}b");
        assert_eq!(args[3], b"key:1");
        assert_eq!(args[4].len(), 3);
    }

    #[test]
    fn slots_of_one_command_get_distinct_keys() {
        let args: Vec<String> = (0..10).map(|i| format!("__key{i}__")).collect();
        let template = Template::parse(&format!("MGET {}", args.join(" "))).unwrap();
        let keys = KeyGen::new(Distribution::Uniform, 12, 0..0, 7);
        let mut exp = Expander::new(keys, ValueGen::new("1".parse().unwrap(), 1), b"k");
        for _ in 0..1000 {
            let mut args = encode_args(&template, &mut exp).split_off(1);
            args.sort();
            args.dedup();
            assert_eq!(args.len(), 10, "{args:?}");
        }
    }

    #[test]
    fn values_in_one_argument_and_ranges_are_sized_right() {
        let template = Template::parse("APPEND __key__ <__value__|__value__>").unwrap();
        let mut exp = expander("1-40");
        for _ in 0..200 {
            let args = encode_args(&template, &mut exp);
            let value = &args[2];
            assert!(value.starts_with(b"<") && value.ends_with(b">"));
            let bar = value.iter().position(|&b| b == b'|').unwrap();
            assert!((1..=40).contains(&(bar - 1)));
            assert!((1..=40).contains(&(value.len() - bar - 2)));
        }
    }

    #[test]
    fn quotes_keep_spaces_and_escapes() {
        let template = Template::parse(r#"  HSET  __key__ "a field" "say \"hi\" \\" "" "#).unwrap();
        let args = encode_args(&template, &mut expander("1"));
        assert_eq!(
            args,
            [&b"HSET"[..], b"key:0", b"a field", br#"say "hi" \"#, b""]
        );
    }

    #[test]
    fn text_that_only_looks_like_a_placeholder_stays_literal() {
        let template = Template::parse("GET __keyx__ __val__ _key__").unwrap();
        let args = encode_args(&template, &mut expander("1"));
        assert_eq!(args[1], b"__keyx__");
        assert_eq!(args[2], b"__val__");
        assert_eq!(args[3], b"_key__");
    }

    #[test]
    fn rejects_bad_templates() {
        assert_eq!(Template::parse("   ").unwrap_err(), TemplateError::Empty);
        assert_eq!(
            Template::parse("SET \"k").unwrap_err(),
            TemplateError::UnterminatedQuote
        );
        assert_eq!(
            Template::parse("MGET __key1000__").unwrap_err(),
            TemplateError::KeySlotTooLarge(1000)
        );
        let many = "X ".repeat(TEMPLATE_ARGS_MAX + 1);
        assert_eq!(
            Template::parse(&many).unwrap_err(),
            TemplateError::TooManyArgs
        );
    }

    #[test]
    fn label_is_the_upper_cased_command_name() {
        assert_eq!(
            Template::parse("lpush l __value__").unwrap().label(),
            "LPUSH"
        );
        assert_eq!(Template::parse("__key__ x").unwrap().label(), "COMMAND");
    }
}
