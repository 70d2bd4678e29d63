#![no_main]
//! Any UTF-8 input as a resource name (database, container, item id) and as a profile name:
//! `policy::resource_name_problem` and `settings::profile_name_problem` never panic, and what they
//! accept is safe to use:
//! - an accepted resource name is 1 to 255 bytes, is not "." or "..", and holds no '/', '\\', '?',
//!   '#', '%' nor control character; put into a request path unencoded
//!   (`https://127.0.0.1/dbs/shop/colls/orders/docs/{name}`) and parsed by the `url` crate, the path
//!   still starts with `/dbs/shop/colls/orders/docs/` and has exactly one segment more (the name
//!   cannot address another item, container or database);
//! - an accepted profile name is 1 to 64 characters of `[A-Za-z0-9._-]`, not starting with '.'
//!   or '-' (it becomes a file name and a keyring entry name).

use cosmoscope::policy::resource_name_problem;
use cosmoscope::settings::profile_name_problem;
use libfuzzer_sys::fuzz_target;

const PREFIX: &str = "/dbs/shop/colls/orders/docs/";

fn check_resource_name(name: &str) {
    if resource_name_problem(name).is_some() {
        return;
    }
    assert!(!name.is_empty(), "accepted an empty name");
    assert!(name.len() <= 255, "accepted a name of {} bytes", name.len());
    assert!(name != "." && name != "..", "accepted {name:?}");
    assert!(
        !name.contains(['/', '\\', '?', '#', '%']),
        "accepted a name with a path character: {name:?}"
    );
    assert!(
        !name.chars().any(char::is_control),
        "accepted a name with a control character: {name:?}"
    );
    let text = format!("https://127.0.0.1{PREFIX}{name}");
    let url = url::Url::parse(&text)
        .unwrap_or_else(|e| panic!("an accepted name makes no URL: {name:?}: {e}"));
    let path = url.path();
    assert!(
        path.starts_with(PREFIX),
        "name {name:?} leaves the container: path {path:?}"
    );
    let segments = url.path_segments().map_or(0, Iterator::count);
    let expected = PREFIX.trim_matches('/').split('/').count() + 1;
    assert_eq!(
        segments, expected,
        "name {name:?} changes the path's depth: {path:?}"
    );
}

fn check_profile_name(name: &str) {
    if profile_name_problem(name).is_some() {
        return;
    }
    let n = name.chars().count();
    assert!((1..=64).contains(&n), "accepted a profile name of {n} characters: {name:?}");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
        "accepted a profile name with other characters: {name:?}"
    );
    assert!(
        !name.starts_with(['.', '-']),
        "accepted a profile name starting with '.' or '-': {name:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_resource_name(text);
    check_profile_name(text);
});
