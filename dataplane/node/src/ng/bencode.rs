//! Bencode, the encoding of rtpengine's ng control protocol (sans-IO).
//!
//! Strict parser: integers without leading zeros or `-0`, dictionary keys are byte strings,
//! nesting is bounded ([`MAX_DEPTH`]) so hostile input cannot exhaust the stack, and trailing
//! bytes are an error. Dictionaries encode with sorted keys, as bencode requires.

use std::collections::BTreeMap;

/// Deeper nesting than any ng command uses; bounds recursion on hostile input.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Integer(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("input ends inside a value at byte {0}")]
    Truncated(usize),
    #[error("unexpected byte {byte:#04x} at {at}")]
    Unexpected { byte: u8, at: usize },
    #[error("invalid integer at byte {0}")]
    BadInteger(usize),
    #[error("dictionary key at byte {0} is not a string")]
    BadKey(usize),
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
}

impl Value {
    pub fn bytes(text: impl AsRef<[u8]>) -> Self {
        Value::Bytes(text.as_ref().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<'a>(entries: impl IntoIterator<Item = (&'a str, Value)>) -> Self {
        Value::Dict(
            entries
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(map) => map.get(key.as_bytes()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Integer(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(bytes) => {
                out.extend_from_slice(bytes.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(bytes);
            }
            Value::List(items) => {
                out.push(b'l');
                items.iter().for_each(|item| item.encode(out));
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                for (key, value) in map {
                    out.extend_from_slice(key.len().to_string().as_bytes());
                    out.push(b':');
                    out.extend_from_slice(key);
                    value.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Decodes exactly one value occupying all of `input`.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let mut parser = Parser { input, at: 0 };
    let value = parser.value(0)?;
    match input.len() - parser.at {
        0 => Ok(value),
        extra => Err(DecodeError::Trailing(extra)),
    }
}

struct Parser<'a> {
    input: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.at)
            .copied()
            .ok_or(DecodeError::Truncated(self.at))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        match self.peek()? {
            b'i' => {
                self.at += 1;
                let start = self.at;
                let end = self.find(b'e')?;
                let integer =
                    parse_integer(&self.input[start..end]).ok_or(DecodeError::BadInteger(start))?;
                self.at = end + 1;
                Ok(Value::Integer(integer))
            }
            b'0'..=b'9' => self.string().map(Value::Bytes),
            b'l' => {
                self.at += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.at += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.at += 1;
                let mut map = BTreeMap::new();
                while self.peek()? != b'e' {
                    if !self.peek()?.is_ascii_digit() {
                        return Err(DecodeError::BadKey(self.at));
                    }
                    let key = self.string()?;
                    let value = self.value(depth + 1)?;
                    map.insert(key, value);
                }
                self.at += 1;
                Ok(Value::Dict(map))
            }
            byte => Err(DecodeError::Unexpected { byte, at: self.at }),
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, DecodeError> {
        let start = self.at;
        let colon = self.find(b':')?;
        let digits = &self.input[start..colon];
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(DecodeError::BadInteger(start));
        }
        let length: usize = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or(DecodeError::BadInteger(start))?;
        let body_start = colon + 1;
        let body_end = body_start
            .checked_add(length)
            .filter(|end| *end <= self.input.len())
            .ok_or(DecodeError::Truncated(self.input.len()))?;
        self.at = body_end;
        Ok(self.input[body_start..body_end].to_vec())
    }

    fn find(&self, byte: u8) -> Result<usize, DecodeError> {
        self.input[self.at..]
            .iter()
            .position(|b| *b == byte)
            .map(|offset| self.at + offset)
            .ok_or(DecodeError::Truncated(self.input.len()))
    }
}

fn parse_integer(digits: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(digits).ok()?;
    let magnitude = text.strip_prefix('-').unwrap_or(text);
    let canonical = !magnitude.is_empty()
        && magnitude.bytes().all(|b| b.is_ascii_digit())
        && (magnitude == "0" || !magnitude.starts_with('0'))
        && text != "-0";
    if canonical { text.parse().ok() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_an_ng_offer_shape() {
        let text = b"d7:command5:offer5:flagsl13:trust-addresse3:sdp5:v=0\r\n7:call-id3:abce";
        let value = decode(text).unwrap();
        assert_eq!(value.get("command").and_then(Value::as_str), Some("offer"));
        let mut out = Vec::new();
        value.encode(&mut out);
        // Keys come back sorted, as bencode requires.
        assert_eq!(
            out,
            b"d7:call-id3:abc7:command5:offer5:flagsl13:trust-addresse3:sdp5:v=0\r\ne".to_vec()
        );
        assert_eq!(decode(&out).unwrap(), value);
    }

    #[test]
    fn integers_are_canonical() {
        assert_eq!(decode(b"i42e"), Ok(Value::Integer(42)));
        assert_eq!(decode(b"i-7e"), Ok(Value::Integer(-7)));
        assert_eq!(decode(b"i0e"), Ok(Value::Integer(0)));
        assert!(matches!(decode(b"i-0e"), Err(DecodeError::BadInteger(_))));
        assert!(matches!(decode(b"i03e"), Err(DecodeError::BadInteger(_))));
        assert!(matches!(decode(b"ie"), Err(DecodeError::BadInteger(_))));
        assert!(matches!(
            decode(b"i99999999999999999999e"),
            Err(DecodeError::BadInteger(_))
        ));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"d",
            b"l",
            b"5:abc",
            b"d3:keye",
            b"di1ei2ee",
            b"x",
            b"4294967296:a",
            b"99999999999999999999999:a",
            b"d1:a",
            b"i1eX",
            b"01:a",
        ] {
            assert!(
                decode(bad).is_err(),
                "{:?} must not decode",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "l".repeat(MAX_DEPTH + 5) + &"e".repeat(MAX_DEPTH + 5);
        assert_eq!(decode(deep.as_bytes()), Err(DecodeError::TooDeep));
    }
}
