//! Per-call arithmetic and the report (markdown table + JSON).
//!
//! A [`Cell`] is one SUT at one rate: what was measured, or why it was not. [`rows`] turns
//! cells into [`Row`]s: CPU per *successful* call, the ratios to Kamailio at the same rate
//! (total and user CPU, TARGETS.md P1), and the ratio to the floor at the same rate, where the
//! floor per call is [`MESSAGES_PER_CALL`] × the floor relay's CPU per relayed message.
//! CPU is measured over the whole UAC run (no warm-up is discarded), so start-up of the load
//! is inside the figure for every SUT alike.

use crate::floor::RelayCounts;
use crate::sut::SutKind;
use ferrovox_testkit::cpu::CpuTime;

/// Messages a stateful proxy handles per call: INVITE, 100, 180, 200, ACK, BYE, 200.
pub const MESSAGES_PER_CALL: f64 = 7.0;

/// What one SUT at one rate produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measurement {
    pub calls_created: u64,
    pub calls_ok: u64,
    pub calls_failed: u64,
    /// CPU of every process of the SUT over the UAC's run.
    pub sut_cpu: CpuTime,
    pub sut_processes: usize,
    /// CPU of SIPp (UAC + UAS) over the same window.
    pub sipp_cpu: CpuTime,
    pub wall_seconds: f64,
    /// Fraction of the whole machine busy during the window (other users included).
    pub machine_busy: f64,
    /// Datagrams the floor relay relayed (floor only).
    pub relay: Option<RelayCounts>,
}

/// One SUT at one rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cell {
    pub sut: SutKind,
    pub rate: u32,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Measured(Measurement),
    Failed { reason: String },
}

/// The derived figures of one cell.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub sut: SutKind,
    pub rate: u32,
    /// `"ok"`, or why the cell has no figures.
    pub status: String,
    pub calls_ok: u64,
    pub calls_failed: u64,
    pub user_us_per_call: Option<f64>,
    pub system_us_per_call: Option<f64>,
    pub total_us_per_call: Option<f64>,
    pub vs_kamailio_total: Option<f64>,
    pub vs_kamailio_user: Option<f64>,
    /// Total CPU per call ÷ (7 × the floor's CPU per relayed message at this rate).
    pub vs_floor: Option<f64>,
    /// Floor only: CPU per relayed message.
    pub us_per_message: Option<f64>,
    pub messages_relayed: Option<u64>,
    pub sipp_us_per_call: Option<f64>,
    pub machine_busy_percent: Option<f64>,
}

fn per(value: u64, count: u64) -> Option<f64> {
    (count > 0).then(|| value as f64 / count as f64)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn base_row(cell: &Cell) -> Row {
    let mut row = Row {
        sut: cell.sut,
        rate: cell.rate,
        status: "ok".into(),
        calls_ok: 0,
        calls_failed: 0,
        user_us_per_call: None,
        system_us_per_call: None,
        total_us_per_call: None,
        vs_kamailio_total: None,
        vs_kamailio_user: None,
        vs_floor: None,
        us_per_message: None,
        messages_relayed: None,
        sipp_us_per_call: None,
        machine_busy_percent: None,
    };
    match &cell.outcome {
        Outcome::Failed { reason } => row.status = reason.clone(),
        Outcome::Measured(m) => {
            row.calls_ok = m.calls_ok;
            row.calls_failed = m.calls_failed;
            row.user_us_per_call = per(m.sut_cpu.user_us, m.calls_ok);
            row.system_us_per_call = per(m.sut_cpu.system_us, m.calls_ok);
            row.total_us_per_call = per(m.sut_cpu.total_us(), m.calls_ok);
            row.sipp_us_per_call = per(m.sipp_cpu.total_us(), m.calls_ok);
            row.machine_busy_percent = Some(m.machine_busy * 100.0);
            if let Some(relay) = m.relay {
                row.messages_relayed = Some(relay.relayed);
                row.us_per_message = per(m.sut_cpu.total_us(), relay.relayed);
            }
            if m.calls_ok == 0 {
                row.status = "no successful call".into();
            }
        }
    }
    row
}

/// The figures of the anchors at one rate.
struct Anchors {
    kamailio_total: Option<f64>,
    kamailio_user: Option<f64>,
    floor_per_call: Option<f64>,
}

fn anchors(rows: &[Row], rate: u32) -> Anchors {
    let same_rate = |kind| rows.iter().find(|r| r.rate == rate && r.sut == kind);
    let kamailio = same_rate(SutKind::Kamailio);
    Anchors {
        kamailio_total: kamailio.and_then(|k| k.total_us_per_call),
        kamailio_user: kamailio.and_then(|k| k.user_us_per_call),
        floor_per_call: same_rate(SutKind::Floor)
            .and_then(|f| f.us_per_message)
            .map(|m| m * MESSAGES_PER_CALL),
    }
}

/// Rows for all cells, with ratios to Kamailio and the floor at the same rate.
pub fn rows(cells: &[Cell]) -> Vec<Row> {
    let mut rows: Vec<Row> = cells.iter().map(base_row).collect();
    let anchors: Vec<Anchors> = rows.iter().map(|row| anchors(&rows, row.rate)).collect();
    for (row, anchor) in rows.iter_mut().zip(anchors) {
        row.vs_kamailio_total = ratio(row.total_us_per_call, anchor.kamailio_total);
        row.vs_kamailio_user = ratio(row.user_us_per_call, anchor.kamailio_user);
        row.vs_floor = ratio(row.total_us_per_call, anchor.floor_per_call);
    }
    rows
}

fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

fn times(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.2}×"))
}

/// The markdown table (one line per row; failed cells keep their reason).
pub fn markdown_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| SUT | calls/s | ok | failed | user µs/call | sys µs/call | total µs/call | × Kamailio total | × Kamailio user | × floor | µs/message | SIPp µs/call | box busy |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        if row.status != "ok" && row.total_us_per_call.is_none() {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |||||||||\n",
                row.sut.name(),
                row.rate,
                row.calls_ok,
                row.calls_failed,
                row.status.replace('|', "\\|")
            ));
            continue;
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.sut.name(),
            row.rate,
            row.calls_ok,
            row.calls_failed,
            number(row.user_us_per_call, 0),
            number(row.system_us_per_call, 0),
            number(row.total_us_per_call, 0),
            times(row.vs_kamailio_total),
            times(row.vs_kamailio_user),
            times(row.vs_floor),
            number(row.us_per_message, 1),
            number(row.sipp_us_per_call, 0),
            row.machine_busy_percent
                .map_or_else(|| "–".into(), |b| format!("{b:.0}%")),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(sut: SutKind, rate: u32, ok: u64, user: u64, system: u64) -> Cell {
        Cell {
            sut,
            rate,
            outcome: Outcome::Measured(Measurement {
                calls_created: ok,
                calls_ok: ok,
                calls_failed: 0,
                sut_cpu: CpuTime {
                    user_us: user,
                    system_us: system,
                },
                sut_processes: 1,
                sipp_cpu: CpuTime {
                    user_us: 600 * ok,
                    system_us: 0,
                },
                wall_seconds: 20.0,
                machine_busy: 0.5,
                relay: None,
            }),
        }
    }

    fn with_relay(mut cell: Cell, relayed: u64) -> Cell {
        if let Outcome::Measured(m) = &mut cell.outcome {
            m.relay = Some(RelayCounts {
                relayed,
                dropped: 0,
            });
        }
        cell
    }

    #[test]
    fn per_call_figures_and_ratios_use_the_same_rate_only() {
        let cells = [
            measured(SutKind::Kamailio, 200, 4000, 400_000, 1_600_000), // 100 + 400 µs
            with_relay(
                measured(SutKind::Floor, 200, 4000, 100_000, 500_000),
                24_000,
            ), // 25 µs/msg
            measured(SutKind::FerrovoxUring, 200, 4000, 160_000, 840_000), // 40 + 210 µs
            measured(SutKind::Kamailio, 500, 10_000, 1_000_000, 1_000_000), // other rate
        ];
        let rows = rows(&cells);
        let ferrovox = &rows[2];
        assert_eq!(ferrovox.user_us_per_call, Some(40.0));
        assert_eq!(ferrovox.system_us_per_call, Some(210.0));
        assert_eq!(ferrovox.total_us_per_call, Some(250.0));
        assert_eq!(ferrovox.vs_kamailio_total, Some(0.5));
        assert_eq!(ferrovox.vs_kamailio_user, Some(0.4));
        // Floor per call = 7 × 25 µs = 175 µs.
        assert_eq!(rows[1].us_per_message, Some(25.0));
        assert!((ferrovox.vs_floor.unwrap() - 250.0 / 175.0).abs() < 1e-12);
        assert_eq!(ferrovox.sipp_us_per_call, Some(600.0));
        // No floor measured at 500 calls/s: no ratio rather than one from another rate.
        assert_eq!(rows[3].vs_floor, None);
        assert_eq!(rows[3].vs_kamailio_total, Some(1.0));
    }

    #[test]
    fn failed_and_empty_cells_have_no_figures_and_keep_their_reason() {
        let cells = [
            Cell {
                sut: SutKind::FerrovoxPortable,
                rate: 200,
                outcome: Outcome::Failed {
                    reason: "failed to start: exited with exit status: 2".into(),
                },
            },
            measured(SutKind::Kamailio, 200, 0, 1000, 1000),
        ];
        let rows = rows(&cells);
        assert_eq!(
            rows[0].status,
            "failed to start: exited with exit status: 2"
        );
        assert_eq!(rows[0].total_us_per_call, None);
        assert_eq!(rows[1].status, "no successful call");
        assert_eq!(rows[1].total_us_per_call, None);
        let table = markdown_table(&rows);
        assert!(table.contains("| ferrovox-portable | 200 | 0 | 0 | failed to start"));
        assert_eq!(table.lines().count(), 4);
    }

    #[test]
    fn json_names_the_outcome() {
        let cell = Cell {
            sut: SutKind::FerrovoxUring,
            rate: 500,
            outcome: Outcome::Failed { reason: "x".into() },
        };
        let json = serde_json::to_value(&cell).unwrap();
        assert_eq!(json["sut"], "ferrovox-uring");
        assert_eq!(json["status"], "failed");
        assert_eq!(json["reason"], "x");
    }
}
