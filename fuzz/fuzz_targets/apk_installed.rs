#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = sealift::fuzzing::apk_installed(data);
});
