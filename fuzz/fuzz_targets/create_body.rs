//! The scoped engine's body rewriters (container create, exec, volume and network create).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth::engine::fuzz::create_body(data));
