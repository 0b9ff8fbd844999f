#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rlpx::p2p::fuzzing::decode_disconnect_payload(data));
