//! The Dockerfile reader and its canonical writer: what it writes reads back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth::engine::fuzz::dockerfile(data));
