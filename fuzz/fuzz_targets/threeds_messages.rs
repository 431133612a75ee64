//! The 3-D Secure messages that arrive from outside: base64url `creq`/`cres` and RReq JSON.
#![no_main]
use kapi::threeds::{CReq, CRes, RReq, messages};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = messages::decode_b64url::<CReq>(s);
        let _ = messages::decode_b64url::<CRes>(s);
    }
    let _ = serde_json::from_slice::<RReq>(data);
});
