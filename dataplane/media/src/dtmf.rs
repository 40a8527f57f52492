//! RFC 4733 telephone-event payload and per-stream de-duplication: an
//! event is reported once, when its first end packet arrives (the end
//! packet is normally sent three times), or, if its end was lost, when the
//! next event starts.

/// One RFC 4733 event payload (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// Event code (0–9, 10 `*`, 11 `#`, 12–15 A–D, 16 flash).
    pub event: u8,
    /// End bit.
    pub end: bool,
    /// Volume, 0 to -63 dBm0 (as a positive number).
    pub volume: u8,
    /// Duration in timestamp units.
    pub duration: u16,
}

impl EventPayload {
    /// Parses the first 4 bytes of a telephone-event payload.
    #[inline]
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let &[event, flags, d0, d1] = payload.first_chunk::<4>()?;
        Some(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }
}

/// A DTMF event seen on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// Event code (see [`EventPayload::event`]).
    pub event: u8,
    /// Duration in timestamp units (at the stream's clock rate).
    pub duration: u16,
    /// Volume (0 to 63, meaning 0 to -63 dBm0).
    pub volume: u8,
    /// RTP timestamp of the event (its start).
    pub timestamp: u32,
    /// `true` when an end packet was seen; `false` when the event was cut
    /// short by the next one (its end packets were lost).
    pub end: bool,
}

impl DtmfEvent {
    /// The digit as a character: `0`–`9`, `*`, `#`, `A`–`D`; `None` for
    /// other events.
    pub fn digit(&self) -> Option<char> {
        match self.event {
            0..=9 => Some(char::from(b'0' + self.event)),
            10 => Some('*'),
            11 => Some('#'),
            12..=15 => Some(char::from(b'A' + self.event - 12)),
            _ => None,
        }
    }
}

/// Per-stream de-duplication state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtmfTracker {
    /// Event in progress: (timestamp, last payload), not yet reported.
    pending: Option<(u32, EventPayload)>,
    /// Timestamp of the last reported event.
    reported: Option<u32>,
}

impl DtmfTracker {
    /// Feeds one telephone-event packet; returns up to two events to
    /// report (a previous event cut short, and this one if it ended).
    #[inline]
    pub fn on_packet(&mut self, ts: u32, p: EventPayload) -> [Option<DtmfEvent>; 2] {
        let mut out = [None, None];
        if self.reported == Some(ts) {
            return out; // retransmitted end packet
        }
        if let Some((pts, pp)) = self.pending
            && pts != ts
        {
            out[0] = Some(event(pts, pp, false));
            self.pending = None;
        }
        if p.end {
            self.pending = None;
            self.reported = Some(ts);
            out[1] = Some(event(ts, p, true));
        } else {
            self.pending = Some((ts, p));
        }
        out
    }
}

fn event(ts: u32, p: EventPayload, end: bool) -> DtmfEvent {
    DtmfEvent {
        event: p.event,
        duration: p.duration,
        volume: p.volume,
        timestamp: ts,
        end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(event: u8, end: bool, duration: u16) -> EventPayload {
        EventPayload {
            event,
            end,
            volume: 10,
            duration,
        }
    }

    #[test]
    fn one_report_per_event() {
        let mut t = DtmfTracker::default();
        assert_eq!(t.on_packet(100, p(5, false, 160)), [None, None]);
        assert_eq!(t.on_packet(100, p(5, false, 320)), [None, None]);
        let [a, b] = t.on_packet(100, p(5, true, 800));
        assert_eq!(a, None);
        let e = b.unwrap();
        assert_eq!((e.digit(), e.duration, e.end), (Some('5'), 800, true));
        assert_eq!(t.on_packet(100, p(5, true, 800)), [None, None]);
        assert_eq!(t.on_packet(100, p(5, true, 800)), [None, None]);
    }

    #[test]
    fn lost_end_reported_when_next_starts() {
        let mut t = DtmfTracker::default();
        t.on_packet(100, p(11, false, 160));
        let [a, b] = t.on_packet(2000, p(10, false, 160));
        assert_eq!(b, None);
        let a = a.unwrap();
        assert_eq!((a.digit(), a.end, a.timestamp), (Some('#'), false, 100));
    }

    #[test]
    fn payload_parse_and_digits() {
        let e = EventPayload::parse(&[12, 0x8a, 0x03, 0x20]).unwrap();
        assert_eq!(
            e,
            EventPayload {
                event: 12,
                end: true,
                volume: 10,
                duration: 800
            }
        );
        assert!(EventPayload::parse(&[1, 2, 3]).is_none());
        let d = |event| {
            DtmfEvent {
                event,
                duration: 0,
                volume: 0,
                timestamp: 0,
                end: true,
            }
            .digit()
        };
        assert_eq!(
            (d(0), d(9), d(10), d(15), d(16)),
            (Some('0'), Some('9'), Some('*'), Some('D'), None)
        );
    }
}
