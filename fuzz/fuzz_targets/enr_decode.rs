#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| discv4::record::fuzzing::decode_enr(data));
