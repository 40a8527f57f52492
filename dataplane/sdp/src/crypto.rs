//! SDES `a=crypto` lines (RFC 4568 §4, §6.1 SRTP key parameters).
//!
//! `a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]`, where
//! key-params are `inline:<key||salt base64>[|<lifetime>][|<MKI>:<length>]`
//! separated by `;`. Lifetime and MKI are kept typed; session parameters
//! (`UNENCRYPTED_SRTCP`, `KDR=`, `WSH=`, ...) are kept verbatim, in order.
//!
//! Not implemented: validating a suite's key length, key methods other
//! than `inline` (kept but not interpreted), generating keys (needs
//! randomness: the caller supplies key material).

use crate::error::{ErrorKind, FieldError};
use crate::lex::{is_token, next_field, number};

/// One `a=crypto` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// Tag (1–9 digits), identifies the line in offer/answer.
    pub tag: u32,
    /// Crypto suite, e.g. `AES_CM_128_HMAC_SHA1_80`.
    pub suite: String,
    /// One or more key parameters.
    pub keys: Vec<KeyParam>,
    /// Session parameters, verbatim, in order.
    pub session_params: Vec<String>,
}

/// `<method>:<key-salt>[|<lifetime>][|<mki>:<length>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParam {
    /// Key method, `inline` in practice.
    pub method: String,
    /// Concatenated master key and salt, base64 as sent.
    pub key_salt: String,
    /// Master key lifetime.
    pub lifetime: Option<Lifetime>,
    /// Master key identifier.
    pub mki: Option<Mki>,
}

/// Master key lifetime in packets (RFC 4568 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// `2^<n>`.
    PowerOfTwo(u8),
    /// A decimal packet count.
    Packets(u64),
}

/// `<mki-value>:<mki-length>` (value decimal, length in bytes 1–128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mki {
    /// MKI value.
    pub value: u64,
    /// MKI field length in bytes.
    pub length: u8,
}

impl Crypto {
    /// A line with one inline key and no session parameters.
    pub fn inline(tag: u32, suite: &str, key_salt_base64: &str) -> Crypto {
        Crypto {
            tag,
            suite: suite.to_owned(),
            keys: vec![KeyParam {
                method: "inline".to_owned(),
                key_salt: key_salt_base64.to_owned(),
                lifetime: None,
                mki: None,
            }],
            session_params: Vec::new(),
        }
    }

    /// Parses the value after `a=crypto:`.
    pub(crate) fn parse_value(v: &str) -> Result<Crypto, FieldError> {
        let mut it = v.split_ascii_whitespace();
        let tag_s = next_field(&mut it, "a=crypto tag")?;
        if tag_s.len() > 9 {
            return Err(("a=crypto tag", ErrorKind::OutOfRange));
        }
        let tag = number(tag_s, "a=crypto tag")?;
        let suite = next_field(&mut it, "a=crypto suite")?.to_owned();
        let keys = next_field(&mut it, "a=crypto key-params")?
            .split(';')
            .map(KeyParam::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Crypto {
            tag,
            suite,
            keys,
            session_params: it.map(str::to_owned).collect(),
        })
    }

    /// Whether `UNENCRYPTED_SRTP`, `UNENCRYPTED_SRTCP` or
    /// `UNAUTHENTICATED_SRTP` is among the session parameters.
    pub fn has_session_param(&self, name: &str) -> bool {
        self.session_params.iter().any(|p| p == name)
    }
}

impl KeyParam {
    fn parse(v: &str) -> Result<KeyParam, FieldError> {
        let (method, info) = v
            .split_once(':')
            .ok_or(("a=crypto key-method", ErrorKind::MissingField))?;
        if !is_token(method) {
            return Err(("a=crypto key-method", ErrorKind::InvalidValue));
        }
        let mut parts = info.split('|');
        let key_salt = parts.next().unwrap_or("");
        if key_salt.is_empty() || !key_salt.bytes().all(is_base64_char) {
            return Err(("a=crypto key-salt", ErrorKind::InvalidValue));
        }
        let mut lifetime = None;
        let mut mki = None;
        for p in parts {
            if let Some((value, length)) = p.split_once(':') {
                if mki.is_some() {
                    return Err(("a=crypto MKI", ErrorKind::Duplicate));
                }
                let length: u8 = number(length, "a=crypto MKI length")?;
                if length == 0 || length > 128 {
                    return Err(("a=crypto MKI length", ErrorKind::OutOfRange));
                }
                mki = Some(Mki {
                    value: number(value, "a=crypto MKI value")?,
                    length,
                });
            } else {
                if lifetime.is_some() || mki.is_some() {
                    return Err(("a=crypto lifetime", ErrorKind::Misplaced));
                }
                lifetime = Some(match p.strip_prefix("2^") {
                    Some(exp) => {
                        let e: u8 = number(exp, "a=crypto lifetime")?;
                        if e > 64 {
                            return Err(("a=crypto lifetime", ErrorKind::OutOfRange));
                        }
                        Lifetime::PowerOfTwo(e)
                    }
                    None => Lifetime::Packets(number(p, "a=crypto lifetime")?),
                });
            }
        }
        Ok(KeyParam {
            method: method.to_owned(),
            key_salt: key_salt.to_owned(),
            lifetime,
            mki,
        })
    }

    /// The decoded master key || salt, `None` if not valid base64.
    pub fn key_salt_bytes(&self) -> Option<Vec<u8>> {
        base64_decode(&self.key_salt)
    }
}

fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

fn base64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard base64 with optional padding.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in body.bytes() {
        acc = (acc << 6) | base64_value(b)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_line_with_lifetime_mki_and_session_params() {
        let c = Crypto::parse_value(
            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4 KDR=1 UNENCRYPTED_SRTCP",
        )
        .unwrap();
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, "AES_CM_128_HMAC_SHA1_80");
        assert_eq!(c.keys[0].lifetime, Some(Lifetime::PowerOfTwo(20)));
        assert_eq!(
            c.keys[0].mki,
            Some(Mki {
                value: 1,
                length: 4
            })
        );
        assert_eq!(c.session_params, ["KDR=1", "UNENCRYPTED_SRTCP"]);
        assert!(c.has_session_param("UNENCRYPTED_SRTCP"));
        // 30 bytes: 16-byte key + 14-byte salt.
        assert_eq!(c.keys[0].key_salt_bytes().map(|k| k.len()), Some(30));
    }

    #[test]
    fn rejects_malformed_key_params() {
        assert!(Crypto::parse_value("1 AES_CM_128_HMAC_SHA1_80 inline:").is_err());
        assert!(Crypto::parse_value("1 AES_CM_128_HMAC_SHA1_80 inline:abc|1:0").is_err());
        assert!(Crypto::parse_value("1 AES_CM_128_HMAC_SHA1_80 nokeymethod").is_err());
        assert!(Crypto::parse_value("1234567890 AES_CM_128_HMAC_SHA1_80 inline:abcd").is_err());
        assert!(Crypto::parse_value("1 AES_CM_128_HMAC_SHA1_80 inline:ab$d").is_err());
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("a"), None);
    }
}
