//! Fuzz target: any bytes through the SIP parser, typed headers, validation, rewriting and the
//! response builder (`ferrovox_sip::fuzz_parse`). A crash or panic here is a bug reachable from
//! one UDP datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrovox_sip::fuzz_parse(data);
});
