#![no_main]
//! Any text as config.toml and as policy.toml: parsing never panics, and every error is located.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/fuzz/config.toml");
    if let Err(e) = cosmoscope::settings::Config::parse(path, text) {
        assert!(e.line >= 1 && e.column >= 1, "{e}");
    }
    if let Err(e) = cosmoscope::policy::Policy::from_toml(text, std::path::Path::new("/fuzz/policy.toml")) {
        assert!(e.line >= 1 && e.column >= 1, "{e}");
    }
});
