#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| rlpx::ecies::fuzzing::decode_auth(data));
