#![no_main]
// Entry shared with tests/fuzz_corpus.rs, which replays the committed corpus on stable Rust.
libfuzzer_sys::fuzz_target!(|data: &[u8]| gpuplan::plan::fuzz_entry::engine_cmd(data));
