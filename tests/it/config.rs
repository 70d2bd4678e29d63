//! Configuration: init from flags, precedence (flag > environment > file), located errors.

use crate::harness::TestEnv;

const ISSUER: &str = "http://127.0.0.1:9/";

fn two_profiles(env: &TestEnv) {
    env.write_config(&format!(
        "default_profile = \"a\"\n\n[profiles.a]\nissuer = \"{ISSUER}\"\nclient_id = \"ca\"\n\n[profiles.b]\nissuer = \"{ISSUER}\"\nclient_id = \"cb\"\n"
    ));
}

#[test]
fn init_from_flags_writes_a_valid_profile() {
    let env = TestEnv::new();
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "dev",
        "--issuer",
        "https://example.eu.auth0.com/",
        "--client-id",
        "abc",
        "--audience",
        "https://api.example",
        "--store",
        "keyutils",
        "--endpoint",
        "https://acct.documents.azure.com:443/",
        "--credential",
        "key",
    ])
    .ok();
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    assert!(text.contains("default_profile = \"dev\""), "{text}");
    assert!(text.contains("[profiles.dev.cosmos]"), "{text}");
    // Refuses to overwrite; --force replaces.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "dev",
        "--issuer",
        "https://x.example/",
        "--client-id",
        "x",
    ])
    .code(2)
    .stderr_has("--force");
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "dev",
        "--issuer",
        "https://x.example/",
        "--client-id",
        "x",
        "--force",
    ])
    .ok();
    // A second profile keeps the first and its default.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "prod",
        "--issuer",
        "https://y.example/",
        "--client-id",
        "y",
    ])
    .ok();
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    assert!(
        text.contains("[profiles.prod]") && text.contains("default_profile = \"dev\""),
        "{text}"
    );
}

#[test]
fn init_without_required_flags_or_with_bad_url_changes_nothing() {
    let env = TestEnv::new();
    env.run(&["init", "--no-input", "--issuer", "https://x.example/"])
        .code(2)
        .stderr_has("--client-id");
    env.run(&[
        "init",
        "--no-input",
        "--issuer",
        "http://remote.example/",
        "--client-id",
        "x",
    ])
    .code(2)
    .stderr_has("plain http");
    assert!(!env.config_file().exists());
}

#[test]
fn profile_precedence_is_flag_then_env_then_file() {
    let env = TestEnv::new();
    two_profiles(&env);
    let profile_of = |run: &crate::harness::Run| run.json()["profile"].as_str().map(str::to_string);
    assert_eq!(
        profile_of(env.run(&["status", "-o", "json"]).code(3)),
        Some("a".into())
    );
    let env_b = TestEnv::new().with_env("COSMOSCOPE_PROFILE", "b");
    two_profiles(&env_b);
    assert_eq!(
        profile_of(env_b.run(&["status", "-o", "json"]).code(3)),
        Some("b".into())
    );
    assert_eq!(
        profile_of(
            env_b
                .run(&["status", "-o", "json", "--profile", "a"])
                .code(3)
        ),
        Some("a".into())
    );
}

#[test]
fn config_flag_and_env_choose_the_file() {
    let env = TestEnv::new();
    let other = env.dir.path().join("other.toml");
    std::fs::write(
        &other,
        format!("[profiles.x]\nissuer = \"{ISSUER}\"\nclient_id = \"c\"\n"),
    )
    .expect("write");
    let run = env.run(&[
        "status",
        "-o",
        "json",
        "--config",
        other.to_str().expect("utf8"),
    ]);
    assert_eq!(run.code(3).json()["profile"], "x");
    let env2 = TestEnv::new().with_env("COSMOSCOPE_CONFIG", other.to_str().expect("utf8"));
    assert_eq!(
        env2.run(&["status", "-o", "json"]).code(3).json()["profile"],
        "x"
    );
}

#[test]
fn config_errors_name_file_line_and_column() {
    let env = TestEnv::new();
    env.write_config(&format!(
        "[profiles.dev]\nissuer = \"{ISSUER}\"\nclient_id = \"c\"\nstroe = \"auto\"\n"
    ));
    let path = env.config_file().display().to_string();
    env.run(&["status"])
        .code(1)
        .stderr_has(&format!("{path}:4:1"))
        .stderr_has("stroe");
    env.write_config("[profiles.dev]\nissuer = \"ftp://x\"\nclient_id = \"c\"\n");
    env.run(&["status"])
        .code(1)
        .stderr_has(&format!("{path}:2:10"));
    env.write_config("[profiles.dev\n");
    env.run(&["status"])
        .code(1)
        .stderr_has(&format!("{path}:1:"));
    env.write_config(&format!(
        "[profiles.dev]\nissuer = \"{ISSUER}\"\nclient_id = \"c\"\n"
    ));
    env.run(&["status", "--profile", "nope"])
        .code(1)
        .stderr_has("no profile named \"nope\"")
        .stderr_has("defines: dev");
}

#[test]
fn missing_config_points_at_init() {
    let env = TestEnv::new();
    env.run(&["status"]).code(1).stderr_has("cosmoscope init");
    env.run(&["login"]).code(1).stderr_has("cosmoscope init");
}

/// Writes `profile` as the `dev` profile and checks the file is refused, at `at` (line:column)
/// when given, with `says` in the message.
fn refused(env: &TestEnv, profile: &str, at: Option<&str>, says: &str) {
    env.write_config(&format!("[profiles.dev]\n{profile}"));
    let run = env.run(&["status"]);
    run.code(1).stderr_has(says);
    if let Some(at) = at {
        run.stderr_has(&format!("{}:{at}", env.config_file().display()));
    }
}

#[test]
fn entra_credential_footguns_are_refused_at_their_line_and_column() {
    let env = TestEnv::new();
    let entra = "issuer = \"https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0\"\nclient_id = \"c\"\n";
    let loopback = format!("issuer = \"{ISSUER}\"\nclient_id = \"c\"\n");
    let cosmos = "[profiles.dev.cosmos]\nendpoint = \"https://a.documents.azure.com:443/\"\ncredential = \"entra\"\n";
    // Another provider's token means nothing to Cosmos DB.
    refused(
        &env,
        &format!("issuer = \"https://example.eu.auth0.com/\"\nclient_id = \"c\"\n{cosmos}"),
        Some("6:14"),
        "needs a Microsoft Entra issuer",
    );
    // Entra, but the sign-in does not ask for Cosmos DB.
    refused(
        &env,
        &format!("{entra}{cosmos}"),
        Some("6:14"),
        "https://cosmos.azure.com/.default",
    );
    // Cosmos DB as the audience: its tokens are not ours to verify.
    refused(
        &env,
        &format!("{entra}audience = \"https://cosmos.azure.com\"\n"),
        Some("4:12"),
        "not as the audience",
    );
    // The right shape is accepted (and nobody is signed in yet).
    env.write_config(&format!(
        "[profiles.dev]\n{entra}scopes = [\"openid\", \"offline_access\", \"https://cosmos.azure.com/.default\"]\n{cosmos}"
    ));
    env.run(&["status"]).code(3);
    // A secret where a variable name belongs; a variable that is not a client secret; another
    // tool's secret, which would then be posted to this profile's issuer.
    refused(
        &env,
        &format!("{loopback}client_secret_env = \"GOCSPX-abc/def\"\n"),
        Some("4:21"),
        "never the secret itself",
    );
    refused(
        &env,
        &format!("{loopback}client_secret_env = \"AWS_SECRET_ACCESS_KEY\"\n"),
        None,
        "ending in CLIENT_SECRET",
    );
    refused(
        &env,
        &format!("{loopback}client_secret_env = \"AZURE_CLIENT_SECRET\"\n"),
        None,
        "another tool's secret",
    );
    // Allowed tenants mean something only with a multi-tenant issuer, and never empty.
    refused(
        &env,
        &format!("{entra}allowed_tenants = [\"22222222-2222-2222-2222-222222222222\"]\n"),
        Some("4:19"),
        "multi-tenant issuer",
    );
    refused(
        &env,
        &format!("{loopback}allowed_tenants = []\n"),
        Some("4:19"),
        "allowed_tenants",
    );
}

#[test]
fn init_provider_presets_write_what_each_provider_needs() {
    let env = TestEnv::new();
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "work",
        "--provider",
        "entra",
        "--tenant",
        "11111111-1111-1111-1111-111111111111",
        "--client-id",
        "app",
        "--endpoint",
        "https://acct.documents.azure.com:443/",
    ])
    .ok();
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    assert!(
        text.contains("issuer = \"https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/v2.0\""),
        "{text}"
    );
    assert!(
        text.contains("\"https://cosmos.azure.com/.default\""),
        "{text}"
    );
    assert!(text.contains("credential = \"entra\""), "{text}");
    // Multi-tenant needs the tenants named.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "multi",
        "--provider",
        "entra",
        "--tenant",
        "organizations",
        "--client-id",
        "app",
    ])
    .code(2)
    .stderr_has("--allowed-tenant");
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "multi",
        "--provider",
        "entra",
        "--tenant",
        "organizations",
        "--allowed-tenant",
        "22222222-2222-2222-2222-222222222222",
        "--client-id",
        "app",
    ])
    .ok();
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    assert!(
        text.contains("allowed_tenants = [\"22222222-2222-2222-2222-222222222222\"]"),
        "{text}"
    );
    // Google: the secret's variable, never the secret; no offline_access scope.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "g",
        "--provider",
        "google",
        "--client-id",
        "123.apps.googleusercontent.com",
    ])
    .ok();
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    assert!(
        text.contains("client_secret_env = \"GOOGLE_CLIENT_SECRET\""),
        "{text}"
    );
    // Another provider with an endpoint gets an account key, not Entra's credential.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "a0",
        "--provider",
        "auth0",
        "--tenant",
        "example.eu.auth0.com",
        "--client-id",
        "abc",
        "--endpoint",
        "https://acct.documents.azure.com:443/",
    ])
    .ok();
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    assert!(
        text.contains("issuer = \"https://example.eu.auth0.com/\""),
        "{text}"
    );
    assert!(text.contains("credential = \"key\""), "{text}");
    // Entra names tenants by id in its issuer; a domain would never match discovery.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "dom",
        "--provider",
        "entra",
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-id",
        "app",
    ])
    .code(2)
    .stderr_has("not a tenant id");
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "one",
        "--provider",
        "entra",
        "--tenant",
        "11111111-1111-1111-1111-111111111111",
        "--allowed-tenant",
        "22222222-2222-2222-2222-222222222222",
        "--client-id",
        "app",
    ])
    .code(2)
    .stderr_has("--tenant organizations");
    // A pasted URL is taken for its domain.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "a1",
        "--provider",
        "auth0",
        "--tenant",
        "https://Example.us.auth0.com/",
        "--client-id",
        "abc",
    ])
    .ok();
    let text = std::fs::read_to_string(env.config_file()).expect("written");
    assert!(
        text.contains("issuer = \"https://example.us.auth0.com/\""),
        "{text}"
    );
    // A preset that needs a tenant says so.
    env.run(&[
        "init",
        "--no-input",
        "--profile",
        "o",
        "--provider",
        "okta",
        "--client-id",
        "x",
    ])
    .code(2)
    .stderr_has("needs --tenant");
}
