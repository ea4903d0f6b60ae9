//! The values a key can hold, and what `TYPE` and `OBJECT ENCODING` call them.

use crate::resp::parse_i64;

/// Longest string Redis stores as `embstr` (it reports `raw` above this).
const EMBSTR_MAX_BYTES: usize = 44;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
}

impl Value {
    /// The name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// The name `OBJECT ENCODING` replies with: Redis's encoding for an equivalent value.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
            Value::Str(s) if s.len() <= EMBSTR_MAX_BYTES => "embstr",
            Value::Str(_) => "raw",
        }
    }

    /// Matches a `SCAN ... TYPE t` filter.
    pub fn is_type(&self, name: &[u8]) -> bool {
        self.type_name().as_bytes().eq_ignore_ascii_case(name)
    }
}
