#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kadnode::pex::wire::fuzz_message(data));
