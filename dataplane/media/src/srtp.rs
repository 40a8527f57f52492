//! SDES-keyed SRTP and SRTCP (RFC 3711) for the relay: the two crypto
//! suites of RFC 4568 §6.2 that every SDES endpoint speaks,
//! `AES_CM_128_HMAC_SHA1_80` and `AES_CM_128_HMAC_SHA1_32`.
//!
//! - [`SrtpSuite`]: the suites, by their `a=crypto` names.
//! - [`SrtpKey`]: a suite and its 30-byte master key || master salt, read
//!   from an `inline:` key parameter or generated from the operating
//!   system's CSPRNG ([`SrtpKey::random`]); `Debug` never prints the key.
//! - [`SrtpInbound`]: unprotects what an endpoint sends (authenticate,
//!   reject replays, decrypt), for SRTP and SRTCP.
//! - [`SrtpOutbound`]: protects what the relay sends an endpoint.
//!
//! Both work on the caller's buffer: the packet is `buf[..len]`, the result
//! is written back into `buf` and its new length returned. Protecting needs
//! [`SRTP_MAX_OVERHEAD`] spare bytes after the packet.
//!
//! # The crate doing the cryptography
//!
//! Key derivation, AES counter mode, HMAC-SHA1, the rollover counter
//! (RFC 3711 §3.3.1) and the replay window (§3.3.2) come from `rtc-srtp`,
//! the sans-IO SRTP of the webrtc-rs project, with its `ring` provider
//! (AES-NI) and RustCrypto HMAC-SHA1. Chosen over the alternatives because:
//! it is pure Rust and sans-IO (no tokio, no sockets, like this crate),
//! maintained, and builds with nothing but cargo; `webrtc-srtp` is its older
//! async sibling; libsrtp2 bindings (`srtp`/`srtp2-sys`) need bindgen,
//! libclang and an autotools build or a system `libsrtp2-dev`, which a
//! fresh machine does not have.
//!
//! Known costs and workarounds:
//! - `rtc-srtp` returns every protected or unprotected packet in a fresh
//!   `BytesMut`: **one heap allocation and one copy per SRTP packet** (the
//!   plain RTP path stays allocation-free). The micro benchmark
//!   `benches/micro/benches/srtp.rs` measures it.
//! - `rtc-srtp` accepts an SRTCP packet whose E flag is clear without
//!   checking its authentication tag. The relay never offers or accepts
//!   `UNENCRYPTED_SRTCP`, so [`SrtpInbound::unprotect_rtcp`] refuses such
//!   packets before the crate sees them.
//!
//! Not implemented: MKI, key lifetimes (keys are used until the call ends
//! or is re-keyed), KDR other than 0, `UNENCRYPTED_SRTP`/`UNENCRYPTED_SRTCP`/
//! `UNAUTHENTICATED_SRTP`, AES-256, AES-GCM and F8 suites, DTLS-SRTP keying.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore as _;
use rtc_srtp::context::Context;
use rtc_srtp::crypto::default_provider;
use rtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
use rtc_srtp::protection_profile::ProtectionProfile;
use thiserror::Error;

/// Master key length of the AES-128 suites, in bytes.
pub const MASTER_KEY_LEN: usize = 16;
/// Master salt length, in bytes.
pub const MASTER_SALT_LEN: usize = 14;
/// Master key || master salt, as carried by an `inline:` key parameter.
pub const KEY_SALT_LEN: usize = MASTER_KEY_LEN + MASTER_SALT_LEN;
/// Most bytes protection adds to a packet: SRTCP's E flag and index (4)
/// and its 80-bit tag (10). SRTP adds at most 10.
pub const SRTP_MAX_OVERHEAD: usize = 14;
/// Packets accepted behind the newest one before they count as replays
/// (libsrtp's default).
pub const REPLAY_WINDOW: usize = 128;

/// SRTCP trailer before the tag: E flag and 31-bit index.
const SRTCP_INDEX_LEN: usize = 4;
/// RTCP fixed header and sender SSRC, sent in the clear.
const RTCP_CLEAR_PREFIX: usize = 8;

/// An SDES crypto suite (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// AES-128 counter mode, 80-bit HMAC-SHA1 tag on SRTP and SRTCP.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, 32-bit HMAC-SHA1 tag on SRTP (80-bit on
    /// SRTCP, RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// Every supported suite, in the order the relay offers them.
    pub const ALL: [SrtpSuite; 2] = [Self::AesCm128HmacSha1_80, Self::AesCm128HmacSha1_32];

    /// The `a=crypto` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite named `name` (ASCII case ignored), if supported.
    pub fn from_name(name: &str) -> Option<SrtpSuite> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Authentication tag appended to each SRTP packet, in bytes.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Self::AesCm128HmacSha1_80 => 10,
            Self::AesCm128HmacSha1_32 => 4,
        }
    }

    /// Authentication tag appended to each SRTCP packet, in bytes.
    pub fn rtcp_tag_len(self) -> usize {
        10
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            Self::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            Self::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

impl fmt::Display for SrtpSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A suite and its master key || master salt.
#[derive(Clone, PartialEq, Eq)]
pub struct SrtpKey {
    suite: SrtpSuite,
    key_salt: [u8; KEY_SALT_LEN],
}

impl fmt::Debug for SrtpKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKey")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

impl SrtpKey {
    /// A key from raw master key || master salt (30 bytes).
    pub fn new(suite: SrtpSuite, key_salt: &[u8]) -> Result<SrtpKey, SrtpError> {
        let key_salt = key_salt
            .try_into()
            .map_err(|_| SrtpError::KeyLength(key_salt.len()))?;
        Ok(SrtpKey { suite, key_salt })
    }

    /// A key from the base64 of an `inline:` key parameter.
    pub fn from_inline(suite: SrtpSuite, base64: &str) -> Result<SrtpKey, SrtpError> {
        let bytes = BASE64
            .decode(base64)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(base64))
            .map_err(|_| SrtpError::KeyEncoding)?;
        Self::new(suite, &bytes)
    }

    /// A fresh key from the thread-local CSPRNG (ChaCha12 seeded by the
    /// operating system, `rand::rng()`).
    pub fn random(suite: SrtpSuite) -> SrtpKey {
        let mut key_salt = [0u8; KEY_SALT_LEN];
        rand::rng().fill_bytes(&mut key_salt);
        SrtpKey { suite, key_salt }
    }

    /// The suite.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Master key || master salt.
    pub fn key_salt(&self) -> &[u8; KEY_SALT_LEN] {
        &self.key_salt
    }

    /// The base64 for an `inline:` key parameter (40 characters).
    pub fn inline(&self) -> String {
        BASE64.encode(self.key_salt)
    }

    fn context(&self, replay_protection: bool) -> Result<Context, SrtpError> {
        let provider = default_provider().map_err(|_| SrtpError::Provider)?;
        let (key, salt) = self.key_salt.split_at(MASTER_KEY_LEN);
        let (rtp, rtcp) = if replay_protection {
            (
                Some(srtp_replay_protection(REPLAY_WINDOW)),
                Some(srtcp_replay_protection(REPLAY_WINDOW)),
            )
        } else {
            (None, None)
        };
        Context::new(
            key,
            salt,
            self.suite.profile(),
            rtp,
            rtcp,
            provider.crypto(),
        )
        .map_err(|_| SrtpError::Provider)
    }
}

/// Why a packet could not be protected or unprotected, or a key not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SrtpError {
    /// Master key || salt of the wrong length.
    #[error("SRTP master key and salt must be {KEY_SALT_LEN} bytes, got {0}")]
    KeyLength(usize),
    /// The `inline:` key is not base64.
    #[error("SRTP key is not valid base64")]
    KeyEncoding,
    /// The crypto provider refused the key or suite.
    #[error("the crypto provider refused the SRTP context")]
    Provider,
    /// Bad authentication tag, a packet too short to carry one, a
    /// malformed header, or SRTCP sent unencrypted.
    #[error("SRTP authentication failed")]
    Unauthenticated,
    /// Already received, or older than the replay window.
    #[error("replayed SRTP packet")]
    Replayed,
    /// The buffer has no room for the trailer.
    #[error("no room after the packet for the SRTP trailer")]
    NoRoom,
    /// The packet could not be protected (not RTP/RTCP, or the key is worn
    /// out: 2^48 packets).
    #[error("packet could not be protected")]
    Protect,
}

fn decrypt_error(e: rtc_shared::error::Error) -> SrtpError {
    use rtc_shared::error::Error as E;
    match e {
        E::SrtpSsrcDuplicated(..) | E::SrtcpSsrcDuplicated(..) => SrtpError::Replayed,
        _ => SrtpError::Unauthenticated,
    }
}

/// Unprotects what one endpoint sends, with the key from its `a=crypto`.
pub struct SrtpInbound {
    key: SrtpKey,
    ctx: Context,
}

impl fmt::Debug for SrtpInbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpInbound")
            .field("suite", &self.key.suite)
            .finish_non_exhaustive()
    }
}

impl SrtpInbound {
    /// A context for `key`, with replay protection ([`REPLAY_WINDOW`]).
    pub fn new(key: &SrtpKey) -> Result<SrtpInbound, SrtpError> {
        Ok(SrtpInbound {
            key: key.clone(),
            ctx: key.context(true)?,
        })
    }

    /// The key.
    pub fn key(&self) -> &SrtpKey {
        &self.key
    }

    /// Authenticates and decrypts the SRTP packet `buf` in place; returns
    /// the length of the RTP packet now in `buf[..n]`.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() < 12 + self.key.suite.rtp_tag_len() {
            return Err(SrtpError::Unauthenticated);
        }
        let plain = self.ctx.decrypt_rtp(buf).map_err(decrypt_error)?;
        copy_back(buf, &plain)
    }

    /// Authenticates and decrypts the SRTCP packet `buf` in place; returns
    /// the length of the RTCP compound packet now in `buf[..n]`.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag = self.key.suite.rtcp_tag_len();
        let Some(e_at) = buf.len().checked_sub(tag + SRTCP_INDEX_LEN) else {
            return Err(SrtpError::Unauthenticated);
        };
        // rtc-srtp skips the tag check when E is clear; we never allow
        // unencrypted SRTCP, so such a packet is a forgery or a misconfigured
        // peer.
        if e_at < RTCP_CLEAR_PREFIX || buf[e_at] & 0x80 == 0 {
            return Err(SrtpError::Unauthenticated);
        }
        let plain = self.ctx.decrypt_rtcp(buf).map_err(decrypt_error)?;
        copy_back(buf, &plain)
    }
}

/// Protects what the relay sends one endpoint, with the key it was told in
/// the relay's `a=crypto`.
pub struct SrtpOutbound {
    key: SrtpKey,
    ctx: Context,
}

impl fmt::Debug for SrtpOutbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpOutbound")
            .field("suite", &self.key.suite)
            .finish_non_exhaustive()
    }
}

impl SrtpOutbound {
    /// A context for `key`.
    pub fn new(key: &SrtpKey) -> Result<SrtpOutbound, SrtpError> {
        Ok(SrtpOutbound {
            key: key.clone(),
            ctx: key.context(false)?,
        })
    }

    /// The key.
    pub fn key(&self) -> &SrtpKey {
        &self.key
    }

    /// Encrypts and authenticates the RTP packet `buf[..len]` in place;
    /// returns the SRTP length (`len` + the tag). Needs
    /// `buf.len() >= len + tag`.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        if len > buf.len() || buf.len() - len < self.key.suite.rtp_tag_len() {
            return Err(SrtpError::NoRoom);
        }
        let sealed = self
            .ctx
            .encrypt_rtp(&buf[..len])
            .map_err(|_| SrtpError::Protect)?;
        copy_back(buf, &sealed)
    }

    /// Encrypts and authenticates the RTCP compound packet `buf[..len]` in
    /// place; returns the SRTCP length (`len` + 14). Needs
    /// `buf.len() >= len + 14`.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let trailer = SRTCP_INDEX_LEN + self.key.suite.rtcp_tag_len();
        if len > buf.len() || buf.len() - len < trailer {
            return Err(SrtpError::NoRoom);
        }
        let sealed = self
            .ctx
            .encrypt_rtcp(&buf[..len])
            .map_err(|_| SrtpError::Protect)?;
        copy_back(buf, &sealed)
    }
}

fn copy_back(buf: &mut [u8], out: &[u8]) -> Result<usize, SrtpError> {
    let dst = buf.get_mut(..out.len()).ok_or(SrtpError::NoRoom)?;
    dst.copy_from_slice(out);
    Ok(out.len())
}
