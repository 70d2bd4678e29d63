//! Streaming documents to stdout in the chosen format, page by page: nothing is held beyond the
//! page being written (the table and CSV writers keep only the columns chosen from the first page).

use serde_json::Value;

use super::stdout_error;
use crate::error::CmdResult;

/// System properties hidden from tables by default (they stay in json/ndjson/csv).
pub const SYSTEM_PROPERTIES: [&str; 5] = ["_rid", "_self", "_etag", "_attachments", "_ts"];

/// Writes documents as they arrive.
pub trait DocumentWriter {
    /// Writes one page (never empty).
    fn write_page(&mut self, docs: &[Value]) -> CmdResult;
    /// Ends the output (closes a JSON array, flushes). Called once, also after an interruption.
    fn finish(&mut self) -> CmdResult;
    /// A note for stderr once the output is finished (columns dropped, …).
    fn note(&self) -> Option<String> {
        None
    }
}

/// Options of the human formats.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Terminal width to fit; `None`: no limit (output is not a terminal).
    pub width: Option<u16>,
    pub show_system: bool,
}

/// Maps a write error: a closed pipe is a quiet end.
pub(crate) fn io(e: &std::io::Error) -> crate::error::CommandError {
    stdout_error(e)
}

/// The text of a scalar for table/CSV cells; nested values as compact JSON.
#[must_use]
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Flattens a document into dotted paths (`address.city`); arrays stay whole (as JSON).
pub fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
            for (k, child) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, child, out);
            }
        }
        other => out.push((prefix.to_string(), other.clone())),
    }
}

/// Looks up a dotted path.
#[must_use]
pub fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = doc.get(path) {
        return Some(v);
    }
    let mut cur = doc;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flatten_uses_dotted_paths_and_keeps_arrays() {
        let mut out = Vec::new();
        flatten(
            "",
            &json!({"a": 1, "b": {"c": "x", "d": [1, 2]}, "e": {}}),
            &mut out,
        );
        let keys: Vec<_> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b.c", "b.d", "e"]);
        assert_eq!(lookup(&json!({"b": {"c": 3}}), "b.c"), Some(&json!(3)));
    }
}
