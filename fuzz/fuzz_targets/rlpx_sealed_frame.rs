#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rlpx::frame::fuzzing::decode_sealed_frames(data);
});
