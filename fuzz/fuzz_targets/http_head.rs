#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kadnode_cli::http::fuzzing::parse_http_request(data));
