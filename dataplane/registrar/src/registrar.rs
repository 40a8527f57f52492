//! The registrar: REGISTER processing (RFC 3261 §10.3), digest
//! authentication of any request (§22), location lookup for the proxy.
//!
//! [`Registrar::register`] follows §10.3 in order: (source throttled →
//! 403), validation (400), `Require` (420 unless only `path`), step 3
//! authentication (401 with one challenge per algorithm, in the configured
//! order — by default SHA-256 first as RFC 8760 asks), step 4 authorisation (the authenticated user must be the
//! To user: 403), step 5 the To AOR (404 unless SIP), step 6 Contact
//! checks (`*` only alone and with `Expires: 0`: 400), step 7 expiry (a
//! contact's `expires` parameter beats the Expires header, which beats
//! `default_expires`; non-zero values under `min_expires` → 423 with
//! Min-Expires; values over `max_expires` are clamped; 0 removes) and
//! Call-ID/CSeq ordering (same Call-ID with a CSeq not higher → 500, as
//! §10.3 says the request "fails"), step 8 the 200 listing every current
//! binding with its remaining time, plus Date.
//!
//! [`Registrar::authenticate`] answers for any request (INVITE through a
//! proxy uses `proxy = true`: Proxy-Authorization, 407, Proxy-Authenticate).
//! An unknown user and a wrong password take the same path — a digest is
//! computed against a dummy HA1 for unknown users — and produce the same
//! challenge with a fresh nonce. A digest that is right but carries an
//! expired, unknown-secret or replayed (nonce count not higher) nonce gets
//! a challenge with `stale=true`, so the client retries without asking its
//! user; only wrong digests and unusable credentials count as failures
//! for throttling. Credentials for other realms are ignored (they are for
//! another hop).
//!
//! Not done: several realms/domains per registrar (one realm; the
//! Request-URI domain is not checked — routing REGISTERs for foreign
//! domains elsewhere is the proxy's decision, §10.3 step 1), third-party
//! registration policy beyond "user must match", RFC 5626 outbound and
//! GRUU, `auth-int`.

use crate::credentials::Credentials;
use crate::digest::{Algorithm, Challenge, DigestResponse, ha1};
use crate::error::LocationError;
use crate::location::{
    Binding, BindingChange, ContactChange, Locations, Target, aor_of_uri, aor_user, normalize_aor,
    received_for,
};
use crate::nonce::{NonceCheck, NonceMint, ReplayGuard};
use crate::reply::{Reply, sip_date};
use crate::throttle::{FailureThrottle, ThrottleConfig};
use ferrovox_sip::transaction::Peer;
use ferrovox_sip::validate::validate_request;
use ferrovox_sip::{Contact, HeaderName, Message, Method, SipUri, unescape_quoted};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Registrar settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Digest realm (protection space).
    pub realm: String,
    /// Key of the nonce MAC; share it between cores and nodes that should
    /// accept each other's nonces.
    pub nonce_secret: [u8; 32],
    /// Nonce lifetime (default 300 s).
    pub nonce_ttl: Duration,
    /// Shortest non-zero registration accepted (default 60 s).
    pub min_expires: u32,
    /// Longest registration granted; longer requests are clamped (default
    /// 3600 s).
    pub max_expires: u32,
    /// Registration time when the request names none (default 3600 s).
    pub default_expires: u32,
    /// Whether REGISTER must be authenticated.
    pub require_auth: bool,
    /// Algorithms to challenge with, in this order. Clients take the first one
    /// they support — and some (baresip 1.0) give up at the first one they do
    /// not, so deployments with such phones put MD5 first.
    pub algorithms: Vec<Algorithm>,
    /// Failure throttling.
    pub throttle: ThrottleConfig,
    /// Most nonces whose counts are remembered for replay detection.
    pub replay_capacity: usize,
}

impl std::fmt::Debug for RegistrarConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrarConfig")
            .field("realm", &self.realm)
            .field("nonce_secret", &"<secret>")
            .field("nonce_ttl", &self.nonce_ttl)
            .field("min_expires", &self.min_expires)
            .field("max_expires", &self.max_expires)
            .field("default_expires", &self.default_expires)
            .field("require_auth", &self.require_auth)
            .field("algorithms", &self.algorithms)
            .field("throttle", &self.throttle)
            .field("replay_capacity", &self.replay_capacity)
            .finish()
    }
}

impl RegistrarConfig {
    /// Defaults for `realm`: authentication required, SHA-256 and MD5,
    /// 300 s nonces, 60–3600 s registrations, 5 failures in 60 s block a
    /// source for 300 s.
    pub fn new(realm: impl Into<String>, nonce_secret: [u8; 32]) -> RegistrarConfig {
        RegistrarConfig {
            realm: realm.into(),
            nonce_secret,
            nonce_ttl: Duration::from_secs(300),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            require_auth: true,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            throttle: ThrottleConfig::default(),
            replay_capacity: 65_536,
        }
    }
}

/// Outcome of [`Registrar::authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    /// Authenticated as `username`.
    Ok {
        /// The digest username.
        username: String,
    },
    /// Send this 401/407 challenge.
    Challenge(Reply),
    /// The source is blocked: send this 403, or drop the request.
    Throttled(Reply),
}

/// A sans-IO registrar; share it between proxy cores with `Arc`.
pub struct Registrar {
    config: RegistrarConfig,
    credentials: Arc<dyn Credentials>,
    locations: Arc<dyn Locations>,
    mint: NonceMint,
    opaque: String,
    dummy_password: String,
    replay: Mutex<ReplayGuard>,
    throttle: Mutex<FailureThrottle>,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn forbidden() -> Reply {
    Reply::new(403, "Forbidden")
}

fn bad_request() -> Reply {
    Reply::new(400, "Bad Request")
}

/// `q` in thousandths as a qvalue (`500` → `0.5`, `1000` → `1`).
fn qvalue(q: u16) -> String {
    if q >= 1000 {
        return "1".into();
    }
    let mut s = format!("0.{q:03}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// Whether the digest-uri names the Request-URI: equal text ignoring
/// case, or equal SIP user, host (ignoring case) and port.
fn digest_uri_matches(digest_uri: &str, request_uri: &[u8]) -> bool {
    if digest_uri.as_bytes().eq_ignore_ascii_case(request_uri) {
        return true;
    }
    match (
        SipUri::parse(digest_uri.as_bytes()),
        SipUri::parse(request_uri),
    ) {
        (Ok(a), Ok(b)) => {
            a.user == b.user && a.host_raw.eq_ignore_ascii_case(b.host_raw) && a.port == b.port
        }
        _ => false,
    }
}

enum Verdict {
    Ok(String),
    Stale,
    Failed,
    NoCredentials,
}

impl Registrar {
    /// A registrar over these stores.
    pub fn new(
        config: RegistrarConfig,
        credentials: Arc<dyn Credentials>,
        locations: Arc<dyn Locations>,
    ) -> Registrar {
        let mint = NonceMint::new(config.nonce_secret, &config.realm);
        let opaque = mint.opaque();
        // Unknown users are checked against this password, which nobody
        // can know, so their cost and outcome match a wrong password.
        let dummy_password = NonceMint::new(config.nonce_secret, "dummy-user").opaque();
        let replay = Mutex::new(ReplayGuard::new(config.replay_capacity));
        let throttle = Mutex::new(FailureThrottle::new(config.throttle));
        Registrar {
            config,
            credentials,
            locations,
            mint,
            opaque,
            dummy_password,
            replay,
            throttle,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Whether requests from `ip` are refused at `now`.
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_blocked(ip, now)
    }

    /// A 401 (or 407 when `proxy`) with one challenge per configured
    /// algorithm, in the configured order, all with the same fresh nonce.
    pub fn challenge(&self, proxy: bool, stale: bool, wall: SystemTime) -> Reply {
        let nonce = self.mint.issue(wall);
        let (code, reason, header) = if proxy {
            (407, "Proxy Authentication Required", "Proxy-Authenticate")
        } else {
            (401, "Unauthorized", "WWW-Authenticate")
        };
        let mut reply = Reply::new(code, reason);
        let mut offered = Vec::with_capacity(2);
        for &algorithm in &self.config.algorithms {
            if !offered.contains(&algorithm) {
                offered.push(algorithm);
                let value = Challenge {
                    realm: &self.config.realm,
                    nonce: &nonce,
                    opaque: &self.opaque,
                    algorithm,
                    stale,
                }
                .header_value();
                reply = reply.with_header(header, value);
            }
        }
        reply
    }

    /// Authenticate `msg` (any request) from `source`: `proxy` selects
    /// Proxy-Authorization / 407 instead of Authorization / 401.
    pub fn authenticate(
        &self,
        msg: &Message<'_>,
        source: Peer,
        proxy: bool,
        now: Instant,
        wall: SystemTime,
    ) -> AuthResult {
        let ip = source.addr.ip();
        if self.is_blocked(ip, now) {
            return AuthResult::Throttled(forbidden());
        }
        match self.verify(msg, proxy, wall) {
            Verdict::Ok(username) => AuthResult::Ok { username },
            Verdict::Stale => AuthResult::Challenge(self.challenge(proxy, true, wall)),
            Verdict::NoCredentials => AuthResult::Challenge(self.challenge(proxy, false, wall)),
            Verdict::Failed => {
                let blocked = self
                    .throttle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record_failure(ip, now);
                if blocked {
                    AuthResult::Throttled(forbidden())
                } else {
                    AuthResult::Challenge(self.challenge(proxy, false, wall))
                }
            }
        }
    }

    fn verify(&self, msg: &Message<'_>, proxy: bool, wall: SystemTime) -> Verdict {
        let Some(line) = msg.request_line() else {
            return Verdict::Failed;
        };
        let kind = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        let realm = self.config.realm.as_str();
        let mut malformed = false;
        let mut candidate: Option<DigestResponse> = None;
        for auth in msg.auth(kind) {
            let Ok(auth) = auth else {
                malformed = true;
                continue;
            };
            if !auth.scheme.eq_ignore_ascii_case(b"Digest") {
                continue;
            }
            let for_us = auth
                .get(b"realm")
                .is_none_or(|r| r.unescaped().as_ref() == realm.as_bytes());
            if !for_us {
                continue;
            }
            match DigestResponse::from_auth(&auth) {
                Ok(d) if self.config.algorithms.contains(&d.algorithm) => {
                    candidate = Some(d);
                    break;
                }
                Ok(_) | Err(_) => malformed = true,
            }
        }
        let Some(digest) = candidate else {
            if malformed {
                tracing::debug!("unusable credentials");
                return Verdict::Failed;
            }
            return Verdict::NoCredentials;
        };
        if !digest_uri_matches(&digest.uri, line.uri_raw) {
            tracing::debug!(uri = %digest.uri, "digest uri does not name the Request-URI");
            return Verdict::Failed;
        }
        let method = String::from_utf8_lossy(line.method.as_bytes());
        let stored = self
            .credentials
            .lookup(&digest.username, realm)
            .and_then(|c| c.ha1_for(digest.algorithm, &digest.username, realm));
        let right = match &stored {
            Some(h) => digest.matches(&method, h),
            None => {
                let dummy = ha1(
                    digest.algorithm,
                    &digest.username,
                    realm,
                    &self.dummy_password,
                );
                // Evaluated for its cost only: nobody knows the password.
                let _ = digest.matches(&method, &dummy);
                false
            }
        };
        if !right {
            return Verdict::Failed;
        }
        let opaque_ok = digest.opaque.as_deref().is_none_or(|o| o == self.opaque);
        let id = match self.mint.check(&digest.nonce, wall, self.config.nonce_ttl) {
            NonceCheck::Fresh(id) if opaque_ok => id,
            state => {
                tracing::debug!(?state, "right digest with a stale nonce");
                return Verdict::Stale;
            }
        };
        // A response without qop has no count: its nonce is good once.
        let nc = digest.nonce_count().unwrap_or(1);
        let oldest_live_ms = wall
            .checked_sub(self.config.nonce_ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let fresh = self
            .replay
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .accept(id, nc, oldest_live_ms);
        if !fresh {
            tracing::debug!(nc, "nonce count replayed");
            return Verdict::Stale;
        }
        Verdict::Ok(digest.username)
    }

    /// Process a REGISTER from `source` (module docs) and return the
    /// response to send.
    pub fn register(
        &self,
        msg: &Message<'_>,
        source: Peer,
        now: Instant,
        wall: SystemTime,
    ) -> Reply {
        if self.is_blocked(source.addr.ip(), now) {
            return forbidden();
        }
        if msg.method() != Some(Method::Register) {
            return Reply::new(405, "Method Not Allowed").with_header("Allow", "REGISTER");
        }
        let info = match validate_request(msg) {
            Ok(info) => info,
            Err(e) => return Reply::new(e.status_code(), e.reason_phrase()),
        };
        let mut unsupported = Vec::new();
        for tag in msg.tokens(HeaderName::Require) {
            match tag {
                Ok(t) if t.eq_ignore_ascii_case(b"path") => {}
                Ok(t) => unsupported.push(String::from_utf8_lossy(t).into_owned()),
                Err(_) => return bad_request(),
            }
        }
        if !unsupported.is_empty() {
            return Reply::new(420, "Bad Extension")
                .with_header("Unsupported", unsupported.join(", "));
        }
        let authenticated = if self.config.require_auth {
            match self.authenticate(msg, source, false, now, wall) {
                AuthResult::Ok { username } => Some(username),
                AuthResult::Challenge(r) | AuthResult::Throttled(r) => return r,
            }
        } else {
            None
        };
        let Some(aor) = aor_of_uri(&info.to.uri) else {
            return Reply::new(404, "Not Found");
        };
        if let Some(user) = &authenticated
            && aor_user(&aor) != Some(user.as_str())
        {
            tracing::info!(%user, %aor, "authenticated user may not register this AOR");
            return forbidden();
        }
        let contacts: Vec<Contact<'_>> = match msg.contacts().collect() {
            Ok(c) => c,
            Err(_) => return bad_request(),
        };
        let header_expires = match msg.expires() {
            Ok(e) => e,
            Err(_) => return bad_request(),
        };
        let call_id = String::from_utf8_lossy(info.call_id).into_owned();
        let cseq = info.cseq.seq;
        let change = if contacts.is_empty() {
            None
        } else if contacts.iter().any(|c| matches!(c, Contact::Star)) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return bad_request();
            }
            Some(BindingChange::RemoveAll { call_id, cseq })
        } else {
            match self.contact_changes(msg, &aor, &contacts, header_expires, &source, now) {
                Ok(changes) => Some(BindingChange::Contacts(changes)),
                Err(reply) => return reply,
            }
        };
        let bindings = match change {
            None => self.locations.bindings(&aor, now),
            Some(change) => match self.locations.update(&aor, &change, now) {
                Ok(b) => b,
                Err(LocationError::OutOfOrder) => {
                    return Reply::new(500, "Server Internal Error");
                }
                Err(LocationError::TooManyContacts) => return forbidden(),
                Err(LocationError::Full) => return Reply::new(503, "Service Unavailable"),
            },
        };
        let mut reply = Reply::new(200, "OK");
        for b in &bindings {
            let mut value = format!("<{}>;expires={}", b.contact, b.expires_in(now));
            if let Some(q) = b.q {
                value.push_str(";q=");
                value.push_str(&qvalue(q));
            }
            reply = reply.with_header("Contact", value);
        }
        let supports_path = msg
            .tokens(HeaderName::Supported)
            .any(|t| t.is_ok_and(|t| t.eq_ignore_ascii_case(b"path")));
        if supports_path {
            for p in path_values(msg) {
                reply = reply.with_header("Path", p);
            }
        }
        reply.with_header("Date", sip_date(wall))
    }

    fn contact_changes(
        &self,
        msg: &Message<'_>,
        aor: &str,
        contacts: &[Contact<'_>],
        header_expires: Option<u32>,
        source: &Peer,
        now: Instant,
    ) -> Result<Vec<ContactChange>, Reply> {
        let call_id = msg
            .call_id()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .map_err(|_| bad_request())?;
        let cseq = msg.cseq().map(|c| c.seq).map_err(|_| bad_request())?;
        let path = path_values(msg);
        let mut changes = Vec::with_capacity(contacts.len());
        for c in contacts {
            let Contact::Addr { addr, expires, q } = c else {
                return Err(bad_request());
            };
            let expires = expires
                .or(header_expires)
                .unwrap_or(self.config.default_expires);
            if expires != 0 && expires < self.config.min_expires {
                return Err(Reply::new(423, "Interval Too Brief")
                    .with_header("Min-Expires", self.config.min_expires.to_string()));
            }
            let granted = expires.min(self.config.max_expires);
            let contact = String::from_utf8_lossy(addr.uri_raw).into_owned();
            let instance = addr
                .params
                .get(b"+sip.instance")
                .flatten()
                .map(|v| String::from_utf8_lossy(&unescape_quoted(v)).into_owned());
            changes.push(ContactChange {
                binding: Binding {
                    aor: aor.to_owned(),
                    received: received_for(&contact, source),
                    contact,
                    expires_at: now + Duration::from_secs(u64::from(granted)),
                    transport: source.transport,
                    q: *q,
                    call_id: call_id.clone(),
                    cseq,
                    path: path.clone(),
                    instance,
                },
                remove: expires == 0,
            });
        }
        Ok(changes)
    }

    /// Unexpired bindings of the AOR named by `uri` (any SIP URI naming it:
    /// port, parameters and host case do not matter — see
    /// [`crate::location`]), most preferred (`q`) first; empty when `uri`
    /// is not a SIP URI.
    pub fn lookup(&self, uri: &str, now: Instant) -> Vec<Binding> {
        let Some(aor) = normalize_aor(uri) else {
            return Vec::new();
        };
        let mut bindings = self.locations.bindings(&aor, now);
        bindings.sort_by_key(|b| std::cmp::Reverse(b.q.unwrap_or(1000)));
        bindings
    }

    /// [`Registrar::lookup`] as forwarding targets (Request-URI, next hop,
    /// route set), in the same order.
    pub fn targets(&self, uri: &str, now: Instant) -> Vec<Target> {
        self.lookup(uri, now)
            .iter()
            .filter_map(Binding::target)
            .collect()
    }

    /// Drop expired bindings; how many were dropped. Call it now and then.
    pub fn purge_expired(&self, now: Instant) -> usize {
        self.locations.purge_expired(now)
    }

    /// 200 OK to an OPTIONS addressed to the registrar's domain (keep-alive
    /// and capability query).
    pub fn options_reply(&self) -> Reply {
        Reply::new(200, "OK")
            .with_header("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER")
            .with_header("Accept", "application/sdp")
            .with_header("Supported", "path")
    }
}

/// Path header values (RFC 3327), one per header line, unfolded.
fn path_values(msg: &Message<'_>) -> Vec<String> {
    msg.headers_named(b"Path")
        .map(|h| {
            let mut v = Vec::new();
            h.unfolded().write_to(&mut v);
            String::from_utf8_lossy(&v).into_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qvalues_are_written_minimally() {
        assert_eq!(qvalue(1000), "1");
        assert_eq!(qvalue(500), "0.5");
        assert_eq!(qvalue(75), "0.075");
        assert_eq!(qvalue(0), "0");
    }

    #[test]
    fn digest_uri_may_differ_in_case_only() {
        assert!(digest_uri_matches("sip:Example.com", b"sip:example.com"));
        assert!(digest_uri_matches(
            "sip:example.com;transport=udp",
            b"sip:example.com"
        ));
        assert!(!digest_uri_matches(
            "sip:example.com:5070",
            b"sip:example.com"
        ));
        assert!(!digest_uri_matches("sip:other.com", b"sip:example.com"));
    }
}
