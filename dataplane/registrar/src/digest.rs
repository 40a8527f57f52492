//! HTTP Digest computation for SIP (RFC 3261 §22.4 on top of RFC 2617 and
//! RFC 7616; RFC 8760 for SHA-256 in SIP).
//!
//! Implements:
//! - [`Algorithm::Md5`] and [`Algorithm::Sha256`], each also in its `-sess`
//!   form when a client answers with it (`HA1 = H(H(user:realm:pass):nonce:cnonce)`);
//! - `qop=auth` (`response = H(HA1:nonce:nc:cnonce:qop:HA2)`) and the legacy
//!   RFC 2069 form without qop (`response = H(HA1:nonce:HA2)`);
//! - [`DigestResponse::from_auth`]: the fields of an `Authorization` /
//!   `Proxy-Authorization` value parsed by ferrovox-sip ([`Auth`]);
//! - [`DigestResponse::matches`]: constant-time comparison of the
//!   client's response with the one computed from a stored HA1;
//! - [`Challenge::header_value`]: a `WWW-Authenticate` /
//!   `Proxy-Authenticate` value.
//!
//! Not implemented: `qop=auth-int` (the body would have to be hashed; SIP
//! clients rarely offer it), `userhash=true` (RFC 7616 §3.4.4),
//! SHA-512-256, and `charset`/`username*` (RFC 7616 §3.4.3).

use crate::error::DigestError;
use ferrovox_sip::{Auth, AuthParam};
use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A digest hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5 (RFC 2617). The default when a client omits `algorithm`.
    Md5,
    /// SHA-256 (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token used in the `algorithm` parameter (without `-sess`).
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parse an `algorithm` value: the algorithm and whether it is the
    /// `-sess` variant. Case-insensitive; `None` for anything else.
    pub fn parse(token: &[u8]) -> Option<(Algorithm, bool)> {
        const ALL: [(&[u8], Algorithm, bool); 4] = [
            (b"MD5", Algorithm::Md5, false),
            (b"MD5-sess", Algorithm::Md5, true),
            (b"SHA-256", Algorithm::Sha256, false),
            (b"SHA-256-sess", Algorithm::Sha256, true),
        ];
        ALL.iter()
            .find(|(t, _, _)| t.eq_ignore_ascii_case(token))
            .map(|&(_, a, s)| (a, s))
    }

    /// Length of a hex digest of this algorithm.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// Lowercase hex of `H(parts[0] ":" parts[1] ":" ...)`.
    pub fn hash_hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex::encode(d.finalize())
        }
        match self {
            Algorithm::Md5 => run::<Md5>(parts),
            Algorithm::Sha256 => run::<Sha256>(parts),
        }
    }
}

/// `HA1 = H(username:realm:password)` in lowercase hex: what a credential
/// store may keep instead of the password.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash_hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// The quality of protection a response used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protection {
    /// Legacy RFC 2069 response without qop (no nonce count).
    None,
    /// `qop=auth` with its client nonce and nonce count.
    Auth {
        /// `cnonce` as sent.
        cnonce: String,
        /// `nc` as sent (8 hex digits; part of the hashed text).
        nc_text: String,
        /// `nc` as a number.
        nc: u32,
    },
}

/// The fields of a Digest `Authorization` / `Proxy-Authorization` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestResponse {
    /// `username`, unescaped.
    pub username: String,
    /// `realm`, unescaped.
    pub realm: String,
    /// `nonce`, unescaped.
    pub nonce: String,
    /// `uri` (the digest-uri), unescaped.
    pub uri: String,
    /// `response`, lowercased hex.
    pub response: String,
    /// `opaque`, if sent.
    pub opaque: Option<String>,
    /// The algorithm (MD5 when absent).
    pub algorithm: Algorithm,
    /// Whether the `-sess` variant was used.
    pub sess: bool,
    /// qop and its parameters.
    pub protection: Protection,
}

fn text(p: &AuthParam<'_>) -> Result<String, DigestError> {
    String::from_utf8(p.unescaped().into_owned()).map_err(|_| DigestError::NotUtf8)
}

impl DigestResponse {
    /// Read a Digest credentials value. Errors name the missing or bad
    /// field; no field is trusted beyond its syntax.
    pub fn from_auth(auth: &Auth<'_>) -> Result<DigestResponse, DigestError> {
        if !auth.scheme.eq_ignore_ascii_case(b"Digest") {
            return Err(DigestError::NotDigest);
        }
        let mut username = None;
        let mut realm = None;
        let mut nonce = None;
        let mut uri = None;
        let mut response = None;
        let mut opaque = None;
        let mut algorithm = None;
        let mut qop = None;
        let mut cnonce = None;
        let mut nc = None;
        for p in auth.params() {
            let slot = match p.name.to_ascii_lowercase().as_slice() {
                b"username" => &mut username,
                b"realm" => &mut realm,
                b"nonce" => &mut nonce,
                b"uri" => &mut uri,
                b"response" => &mut response,
                b"opaque" => &mut opaque,
                b"algorithm" => &mut algorithm,
                b"qop" => &mut qop,
                b"cnonce" => &mut cnonce,
                b"nc" => &mut nc,
                _ => continue,
            };
            if slot.is_some() {
                return Err(DigestError::Duplicate);
            }
            *slot = Some(text(&p)?);
        }
        let (algorithm, sess) = match algorithm {
            None => (Algorithm::Md5, false),
            Some(a) => Algorithm::parse(a.as_bytes()).ok_or(DigestError::UnknownAlgorithm)?,
        };
        let response = response
            .ok_or(DigestError::Missing("response"))?
            .to_ascii_lowercase();
        if response.len() != algorithm.hex_len() || !response.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(DigestError::BadResponse);
        }
        let protection = match qop {
            None => {
                if sess {
                    // -sess needs a cnonce, which only comes with qop.
                    return Err(DigestError::Missing("qop"));
                }
                Protection::None
            }
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc_text = nc.ok_or(DigestError::Missing("nc"))?;
                if nc_text.len() != 8 {
                    return Err(DigestError::BadNonceCount);
                }
                let nc =
                    u32::from_str_radix(&nc_text, 16).map_err(|_| DigestError::BadNonceCount)?;
                Protection::Auth {
                    cnonce: cnonce.ok_or(DigestError::Missing("cnonce"))?,
                    nc_text,
                    nc,
                }
            }
            Some(_) => return Err(DigestError::UnsupportedQop),
        };
        Ok(DigestResponse {
            username: username.ok_or(DigestError::Missing("username"))?,
            realm: realm.ok_or(DigestError::Missing("realm"))?,
            nonce: nonce.ok_or(DigestError::Missing("nonce"))?,
            uri: uri.ok_or(DigestError::Missing("uri"))?,
            response,
            opaque,
            algorithm,
            sess,
            protection,
        })
    }

    /// The response a client knowing `ha1` (lowercase hex of
    /// `H(username:realm:password)` for [`DigestResponse::algorithm`])
    /// computes for `method`.
    pub fn expected(&self, method: &str, ha1: &str) -> String {
        let alg = self.algorithm;
        let session_ha1;
        let ha1 = match (&self.protection, self.sess) {
            (Protection::Auth { cnonce, .. }, true) => {
                session_ha1 =
                    alg.hash_hex(&[ha1.as_bytes(), self.nonce.as_bytes(), cnonce.as_bytes()]);
                session_ha1.as_str()
            }
            _ => ha1,
        };
        let ha2 = alg.hash_hex(&[method.as_bytes(), self.uri.as_bytes()]);
        match &self.protection {
            Protection::None => {
                alg.hash_hex(&[ha1.as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()])
            }
            Protection::Auth {
                cnonce, nc_text, ..
            } => alg.hash_hex(&[
                ha1.as_bytes(),
                self.nonce.as_bytes(),
                nc_text.as_bytes(),
                cnonce.as_bytes(),
                b"auth",
                ha2.as_bytes(),
            ]),
        }
    }

    /// Whether the client's response equals the one computed from `ha1`,
    /// compared in constant time.
    pub fn matches(&self, method: &str, ha1: &str) -> bool {
        let expected = self.expected(method, &ha1.to_ascii_lowercase());
        bool::from(expected.as_bytes().ct_eq(self.response.as_bytes()))
    }

    /// The nonce count, `None` for a response without qop.
    pub fn nonce_count(&self) -> Option<u32> {
        match self.protection {
            Protection::None => None,
            Protection::Auth { nc, .. } => Some(nc),
        }
    }
}

/// A challenge to send in `WWW-Authenticate` or `Proxy-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    /// Protection space.
    pub realm: &'a str,
    /// Server nonce.
    pub nonce: &'a str,
    /// Opaque value the client echoes.
    pub opaque: &'a str,
    /// Algorithm offered.
    pub algorithm: Algorithm,
    /// Whether the previous request failed only because its nonce was
    /// stale (the client may retry without asking the user).
    pub stale: bool,
}

impl Challenge<'_> {
    /// The header value, e.g. `Digest realm="r", nonce="n", opaque="o",
    /// algorithm=SHA-256, qop="auth"`.
    pub fn header_value(&self) -> String {
        let mut v = format!(
            "Digest realm=\"{}\", nonce=\"{}\", opaque=\"{}\", algorithm={}, qop=\"auth\"",
            quote_escape(self.realm),
            quote_escape(self.nonce),
            quote_escape(self.opaque),
            self.algorithm.token()
        );
        if self.stale {
            v.push_str(", stale=true");
        }
        v
    }
}

/// Escape `"` and `\` for a quoted-string.
fn quote_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_tokens_round_trip() {
        assert_eq!(Algorithm::parse(b"md5"), Some((Algorithm::Md5, false)));
        assert_eq!(
            Algorithm::parse(b"SHA-256-sess"),
            Some((Algorithm::Sha256, true))
        );
        assert_eq!(Algorithm::parse(b"SHA-512-256"), None);
    }

    #[test]
    fn challenge_escapes_realm() {
        let c = Challenge {
            realm: "a\"b",
            nonce: "n",
            opaque: "o",
            algorithm: Algorithm::Md5,
            stale: true,
        };
        assert_eq!(
            c.header_value(),
            "Digest realm=\"a\\\"b\", nonce=\"n\", opaque=\"o\", algorithm=MD5, qop=\"auth\", stale=true"
        );
    }
}
