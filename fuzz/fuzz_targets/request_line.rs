//! The scoped engine's request parser: `METHOD PATH?QUERY` → route, or a clear refusal.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth::engine::fuzz::request_line(data));
