#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| enode::fuzzing::decode_enr(data));
