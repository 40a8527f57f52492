//! [`Reply`]: the response the registrar decided on, as a status and extra
//! headers. The caller writes it with [`Reply::write`] (which copies Via,
//! From, To, Call-ID and CSeq from the request through ferrovox-sip's
//! [`ResponseBuilder`]) or folds it into its own transaction handling.

use ferrovox_sip::build::ResponseBuilder;
use ferrovox_sip::{Message, RewriteError};
use std::time::{SystemTime, UNIX_EPOCH};

/// A response to send: status, reason and headers beyond the ones copied
/// from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub code: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Extra headers in order, `(name, value)`.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// A reply without extra headers.
    pub fn new(code: u16, reason: &'static str) -> Reply {
        Reply {
            code,
            reason,
            headers: Vec::new(),
        }
    }

    /// Add a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Values of the headers called `name` (case-insensitive), in order.
    pub fn headers_named<'s, 'n>(
        &'s self,
        name: &'n str,
    ) -> impl Iterator<Item = &'s str> + use<'s, 'n> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Write the response to `request` into `out` (cleared first), adding
    /// `to_tag` to To when the request's To has none.
    pub fn write(
        &self,
        request: &Message<'_>,
        to_tag: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RewriteError> {
        let headers: Vec<(&[u8], &[u8])> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        ResponseBuilder::new(self.code, self.reason.as_bytes())
            .to_tag(to_tag)
            .headers(&headers)
            .write(request, out)
    }
}

/// `wall` as an RFC 1123 date in GMT (RFC 3261 §20.17), e.g.
/// `Sat, 13 Nov 2010 23:29:00 GMT`.
pub fn sip_date(wall: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS.get((days % 7) as usize).copied().unwrap_or("Thu"),
        day,
        MONTHS
            .get(month.saturating_sub(1) as usize)
            .copied()
            .unwrap_or("Jan"),
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month 1–12, day 1–31), proleptic
/// Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_match_rfc_1123() {
        // RFC 3261 §20.17's example.
        let t = UNIX_EPOCH + Duration::from_secs(1_289_690_940);
        assert_eq!(sip_date(t), "Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(sip_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(sip_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
