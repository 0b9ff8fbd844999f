#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| discv4::proto::fuzzing::decode_packet(data));
