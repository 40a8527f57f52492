//! Shared test helpers: fixture loading.
#![allow(dead_code)]

use ferrovox_sdp::SessionDescription;

/// The five real-world fixtures, by file name.
pub const FIXTURES: &[&str] = &[
    "sipp_pcmu.sdp",
    "kamailio_rtpengine.sdp",
    "chrome_webrtc.sdp",
    "asterisk_g722.sdp",
    "sdes_srtp.sdp",
];

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

pub fn fixture(name: &str) -> SessionDescription {
    SessionDescription::parse(&fixture_bytes(name))
        .unwrap_or_else(|e| panic!("parsing {name}: {e}"))
}

/// The fixture text with every line ending turned into CRLF.
pub fn crlf(bytes: &[u8]) -> String {
    let text = String::from_utf8(bytes.to_vec()).expect("fixture is UTF-8");
    text.lines().map(|l| format!("{l}\r\n")).collect()
}

/// Lines of written output.
pub fn lines(sdp: &SessionDescription) -> Vec<String> {
    sdp.to_string()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Lines of the section of media `index` (from its m= line to the next).
pub fn media_lines(sdp: &SessionDescription, index: usize) -> Vec<String> {
    let all = lines(sdp);
    let starts: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("m="))
        .map(|(i, _)| i)
        .collect();
    let start = starts[index];
    let end = starts.get(index + 1).copied().unwrap_or(all.len());
    all[start..end].to_vec()
}

/// Lines before the first m= line.
pub fn session_lines(sdp: &SessionDescription) -> Vec<String> {
    lines(sdp)
        .into_iter()
        .take_while(|l| !l.starts_with("m="))
        .collect()
}
