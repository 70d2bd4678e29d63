//! Secrets in memory: what `secrecy` and `zeroize` do not cover by themselves.

use serde_json::Value;
use zeroize::Zeroize as _;

/// JSON that holds secrets (a token endpoint's answer, a credential about to be printed): every
/// string in it is wiped when it is dropped.
pub struct SecretJson(pub Value);

impl std::ops::Deref for SecretJson {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl Drop for SecretJson {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Zeroes every string in `v` in place (keys are names, not secrets, and stay).
fn wipe(v: &mut Value) {
    match v {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nested_string_is_wiped() {
        let mut v = serde_json::json!({
            "access_token": "eyJ.secret.sig",
            "nested": {"list": ["refresh-token", 3, {"id_token": "x"}]},
            "expires_in": 3600
        });
        wipe(&mut v);
        assert_eq!(
            v,
            serde_json::json!({
                "access_token": "",
                "nested": {"list": ["", 3, {"id_token": ""}]},
                "expires_in": 3600
            })
        );
    }
}
