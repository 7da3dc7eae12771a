//! The CRC endpoint's token check: whatever it accepts (and so signs) can never be read as a
//! delivery, which is what keeps the CRC answer from being a signing oracle.
#![no_main]

use hark_shared::channels::x::{CrcToken, MAX_CRC_TOKEN_LEN, crc_response, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Some(accepted) = CrcToken::parse(token) {
        assert!(token.len() <= MAX_CRC_TOKEN_LEN);
        assert!(parse(accepted.as_str().as_bytes()).is_err(), "an accepted CRC token parses as a delivery");
        let answer = crc_response("fuzz-consumer-secret", accepted);
        assert!(answer["response_token"].as_str().is_some_and(|t| t.starts_with("sha256=")));
    }
});
