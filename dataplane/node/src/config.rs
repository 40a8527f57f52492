//! What a media node needs to start.

use ferrovox_contract::NodeId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_id: NodeId,
    /// Admin HTTP: `/health`, `/ready`, `/metrics`.
    pub admin: SocketAddr,
    /// rtpengine-compatible ng control (UDP).
    pub ng: SocketAddr,
    /// The address media is anchored on (advertised in SDP).
    pub interface: IpAddr,
    /// UDP ports the relay allocates media ports from.
    pub rtp_ports: PortRange,
    /// The SIP edge (proxy, registrar, carrier routing); `None` turns SIP off (a bare relay).
    pub sip: Option<crate::sip::SipEdgeConfig>,
    /// The media relay's IO backend (io_uring in production, portable epoll/recvmmsg).
    pub media_backend: ferrovox_runtime::Backend,
    /// Media core threads; 0 = one per available CPU.
    pub media_threads: usize,
}

/// An inclusive UDP port range such as `30000-60000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("port range {text:?} is invalid: {reason} (expected FIRST-LAST, e.g. 30000-60000)")]
pub struct PortRangeError {
    text: String,
    reason: &'static str,
}

impl FromStr for PortRange {
    type Err = PortRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| PortRangeError {
            text: text.to_owned(),
            reason,
        };
        let (first, last) = text.split_once('-').ok_or_else(|| error("no '-'"))?;
        let first: u16 = first
            .trim()
            .parse()
            .map_err(|_| error("first port is not a number 1-65535"))?;
        let last: u16 = last
            .trim()
            .parse()
            .map_err(|_| error("last port is not a number 1-65535"))?;
        if first == 0 {
            return Err(error("port 0 is not a port"));
        }
        if first > last {
            return Err(error("first port is above the last"));
        }
        // RTP takes an even port and RTCP the next one: a range needs room for one pair.
        if last - first < 1 {
            return Err(error("the range must hold at least one RTP/RTCP pair"));
        }
        Ok(Self { first, last })
    }
}

impl TryFrom<String> for PortRange {
    type Error = PortRangeError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<PortRange> for String {
    fn from(range: PortRange) -> Self {
        range.to_string()
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operator_ranges_and_names_mistakes() {
        assert_eq!(
            "30000-60000".parse(),
            Ok(PortRange {
                first: 30000,
                last: 60000
            })
        );
        for (bad, why) in [
            ("30000", "no '-'"),
            ("a-b", "not a number"),
            ("60000-30000", "above the last"),
            ("0-10", "port 0"),
            ("5000-5000", "RTP/RTCP pair"),
            ("1-70000", "not a number"),
        ] {
            let error = bad.parse::<PortRange>().unwrap_err().to_string();
            assert!(error.contains(why) && error.contains(bad), "{bad}: {error}");
        }
    }
}
