//! A small bencode encoder/decoder for rtpengine's ng protocol.
//!
//! [`Value`] is the whole data model ng uses: byte strings, integers, lists and dictionaries
//! (keys sorted on encode, as bencode requires). [`decode`] never panics on bad input: it
//! returns a [`DecodeError`] naming the offset; nesting is capped at [`MAX_DEPTH`] so a hostile
//! reply cannot exhaust the stack. Deliberately not done: streaming decode, zero-copy views
//! (ng messages are small and off the hot path).

use std::collections::BTreeMap;

/// Deepest nesting [`decode`] accepts.
pub const MAX_DEPTH: usize = 32;

/// One bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Bytes(Vec<u8>),
    Int(i64),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why a byte string is not valid bencode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected end of input at offset {0}")]
    Truncated(usize),
    #[error("unexpected byte {byte:#04x} at offset {offset}")]
    Unexpected { byte: u8, offset: usize },
    #[error("bad integer at offset {0}")]
    BadInteger(usize),
    #[error("nesting deeper than {MAX_DEPTH} at offset {0}")]
    TooDeep(usize),
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
}

impl Value {
    /// A byte string from text.
    pub fn str(text: &str) -> Self {
        Value::Bytes(text.as_bytes().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    /// The value under `key` when `self` is a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(map) => map.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The byte string as UTF-8 text, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    /// The integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Appends the encoding of `self` to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Bytes(bytes) => {
                out.extend_from_slice(bytes.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(bytes);
            }
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (key, value) in map {
                    Value::Bytes(key.clone()).encode_into(out);
                    value.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The encoding of `self`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

/// Decodes exactly one value spanning all of `input`.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = Decoder { input, pos: 0 };
    let value = decoder.value(0)?;
    if decoder.pos != input.len() {
        return Err(DecodeError::Trailing(input.len() - decoder.pos));
    }
    Ok(value)
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::Truncated(self.pos))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep(self.pos));
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let n = self.integer_until(b'e')?;
                Ok(Value::Int(n))
            }
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.pos += 1;
                let mut map = BTreeMap::new();
                while self.peek()? != b'e' {
                    let key = self.bytes()?;
                    let value = self.value(depth + 1)?;
                    map.insert(key, value);
                }
                self.pos += 1;
                Ok(Value::Dict(map))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.bytes()?)),
            byte => Err(DecodeError::Unexpected {
                byte,
                offset: self.pos,
            }),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let start = self.pos;
        let len = self.integer_until(b':')?;
        let len = usize::try_from(len).map_err(|_| DecodeError::BadInteger(start))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.input.len())
            .ok_or(DecodeError::Truncated(self.input.len()))?;
        let bytes = self.input[self.pos..end].to_vec();
        self.pos = end;
        Ok(bytes)
    }

    fn integer_until(&mut self, terminator: u8) -> Result<i64, DecodeError> {
        let start = self.pos;
        let rest = &self.input[start..];
        let len = rest
            .iter()
            .position(|b| *b == terminator)
            .ok_or(DecodeError::Truncated(self.input.len()))?;
        let digits =
            std::str::from_utf8(&rest[..len]).map_err(|_| DecodeError::BadInteger(start))?;
        // Bencode integers have no sign but '-', no leading zeros and no negative zero.
        let malformed = digits.is_empty()
            || digits.starts_with('+')
            || digits.starts_with("-0")
            || (digits.len() > 1 && digits.starts_with('0'));
        let valid = !malformed;
        let n = digits
            .parse::<i64>()
            .ok()
            .filter(|_| valid)
            .ok_or(DecodeError::BadInteger(start))?;
        self.pos = start + len + 1;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_dictionaries_with_sorted_keys() {
        let value = Value::dict([
            ("sdp", Value::str("v=0")),
            ("command", Value::str("offer")),
            ("n", Value::Int(-3)),
            ("flags", Value::List(vec![Value::str("a")])),
        ]);
        assert_eq!(
            value.encode(),
            b"d7:command5:offer5:flagsl1:ae1:ni-3e3:sdp3:v=0e".to_vec()
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        let value = Value::dict([
            ("result", Value::str("ok")),
            ("nested", Value::dict([("x", Value::Int(42))])),
            ("empty", Value::Bytes(Vec::new())),
        ]);
        assert_eq!(decode(&value.encode()), Ok(value));
    }

    #[test]
    fn decodes_a_pong() {
        let value = decode(b"d6:result4:ponge").unwrap();
        assert_eq!(value.get("result").and_then(Value::as_str), Some("pong"));
    }

    #[test]
    fn rejects_malformed_input_without_panicking() {
        let cases: &[&[u8]] = &[
            b"",
            b"d",
            b"d6:result",
            b"5:abc",
            b"i12",
            b"i-0e",
            b"i012e",
            b"ie",
            b"x",
            b"99999999999999999999999:a",
            b"d1:ai1ee1",
            b"l",
        ];
        for case in cases {
            assert!(decode(case).is_err(), "{:?} should not decode", case);
        }
    }

    #[test]
    fn caps_nesting_depth() {
        let mut deep = vec![b'l'; MAX_DEPTH + 2];
        deep.extend(vec![b'e'; MAX_DEPTH + 2]);
        assert!(matches!(decode(&deep), Err(DecodeError::TooDeep(_))));
        let mut fine = vec![b'l'; 4];
        fine.extend(vec![b'e'; 4]);
        assert!(decode(&fine).is_ok());
    }
}
