//! `doctor`: a ✓/✗ table (or JSON) with a fix for every ✗.

use crate::fixtures::{login_as, setup};
use crate::harness::TestEnv;
use crate::require;

#[test]
fn doctor_passes_with_a_session_and_names_fixes_otherwise() {
    let (oidc, env) = require!(setup(&[], "cosmoscope-cli"), crate::harness::PROVIDER);
    let run = env.run(&["doctor", "-o", "json"]);
    run.code(1);
    let v = run.json();
    let session = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "session")
        .cloned()
        .expect("session check");
    assert_eq!(session["ok"], false);
    assert!(
        session["fix"]
            .as_str()
            .is_some_and(|f| f.contains("cosmoscope login"))
    );
    login_as(&env, &oidc, "alice").ok();
    let run = env.run(&["doctor", "-o", "json"]);
    run.ok();
    let v = run.json();
    assert_eq!(v["ok"], true, "{v}");
    let names: Vec<&str> = v["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["config", "provider", "keyring", "session"]);
    env.run(&["doctor"]).ok();
}

#[test]
fn doctor_without_config_says_run_init() {
    let env = TestEnv::new();
    env.run(&["doctor"])
        .code(1)
        .stderr_has("1 check(s) failed: config");
    let run = env.run(&["doctor", "-o", "json"]);
    assert!(run.stdout.contains("cosmoscope init"), "{}", run.stdout);
}
