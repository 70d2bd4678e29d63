//! Bad input never panics: arbitrary text as a config file, a policy file, a token, a JWKS or a
//! discovery document is either accepted or refused with an error (located, for files). The
//! cargo-fuzz targets under fuzz/ explore the same entry points for longer.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn config_and_policy_files_never_panic(text in "(?s).{0,400}") {
        if let Err(e) = cosmoscope::settings::Config::parse(std::path::Path::new("c.toml"), &text) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
        if let Err(e) = cosmoscope::policy::Policy::from_toml(&text, std::path::Path::new("p.toml")) {
            prop_assert!(e.line >= 1 && e.column >= 1);
        }
    }

    #[test]
    fn toml_shaped_config_never_panics(
        key in "[a-z_]{1,12}",
        value in "\"[^\"\\\\]{0,40}\"|[0-9]{1,5}|true|\\[\\]",
    ) {
        let text = format!("[profiles.x]\nissuer = \"https://a.example/\"\nclient_id = \"c\"\n{key} = {value}\n\n[profiles.x.cosmos]\nendpoint = {value}\ncredential = \"key\"\n");
        let _ = cosmoscope::settings::Config::parse(std::path::Path::new("c.toml"), &text);
        let policy = format!("[[roles]]\nname = \"r\"\nwhen = {{ claim = \"roles\", contains = {value} }}\n  [[roles.grants]]\n  database = {value}\n  containers = [{value}]\n  actions = [\"query\"]\n  partition_key = \"any\"\n  {key} = {value}\n");
        let _ = cosmoscope::policy::Policy::from_toml(&policy, std::path::Path::new("p.toml"));
    }

    #[test]
    fn tokens_and_provider_documents_never_panic(text in "(?s).{0,300}", parts in proptest::collection::vec("[A-Za-z0-9_=-]{0,60}", 0..5)) {
        let token = parts.join(".");
        for t in [text.as_str(), token.as_str()] {
            let _ = cosmoscope::identity::verify::is_jwt(t);
            let _ = cosmoscope::identity::verify::unverified_claims(t);
            let _ = serde_json::from_str::<jsonwebtoken::jwk::JwkSet>(t);
            let _ = serde_json::from_str::<cosmoscope::identity::Metadata>(t);
            let _ = serde_json::from_str::<cosmoscope::identity::DeviceAuthorization>(t);
        }
    }
}
