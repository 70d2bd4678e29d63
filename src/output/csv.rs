//! `-o csv`: flattened dotted columns (`address.city`), chosen from the first page; arrays and
//! empty objects as JSON text.

use std::io::Write;

use serde_json::Value;

use super::documents::{DocumentWriter, cell_text, flatten, io, lookup};
use crate::error::CmdResult;

pub struct CsvWriter {
    out: csv::Writer<Box<dyn Write>>,
    columns: Option<Vec<String>>,
    dropped: std::collections::BTreeSet<String>,
}

impl CsvWriter {
    #[must_use]
    pub fn new(out: Box<dyn Write>) -> Self {
        Self {
            out: csv::Writer::from_writer(out),
            columns: None,
            dropped: std::collections::BTreeSet::new(),
        }
    }
}

fn csv_err(e: csv::Error) -> crate::error::CommandError {
    match e.into_kind() {
        csv::ErrorKind::Io(io_err) => io(&io_err),
        other => crate::error::CommandError::runtime(format!("cannot write CSV: {other:?}")),
    }
}

/// A cell's text. A string that a spreadsheet would run as a formula (it begins with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading `'`, so opening the export cannot run what
/// a document holds (CSV injection). Numbers stay numbers: `-5` is not text.
#[must_use]
pub fn safe_cell(v: &Value) -> String {
    let text = cell_text(v);
    if v.is_string() {
        neutralise(text)
    } else {
        text
    }
}

/// Text a spreadsheet would run as a formula gets a leading `'`.
fn neutralise(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// The union of the flattened paths of `docs`, in order of first appearance.
#[must_use]
pub fn columns_of(docs: &[Value]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut cols = Vec::new();
    for d in docs {
        let mut flat = Vec::new();
        if d.is_object() {
            flatten("", d, &mut flat);
        } else {
            flat.push(("value".to_string(), d.clone()));
        }
        for (k, _) in flat {
            if seen.insert(k.clone()) {
                cols.push(k);
            }
        }
    }
    cols
}

impl DocumentWriter for CsvWriter {
    fn write_page(&mut self, docs: &[Value]) -> CmdResult {
        if self.columns.is_none() {
            let cols = columns_of(docs);
            // Column names come from documents' keys: a header cell is text like any other.
            self.out
                .write_record(cols.iter().map(|c| neutralise(c.clone())))
                .map_err(csv_err)?;
            self.columns = Some(cols);
        }
        let cols = self.columns.as_deref().unwrap_or_default();
        for d in docs {
            let row: Vec<String> = cols
                .iter()
                .map(|c| {
                    if c == "value" && !d.is_object() {
                        safe_cell(d)
                    } else {
                        lookup(d, c).map(safe_cell).unwrap_or_default()
                    }
                })
                .collect();
            self.out.write_record(&row).map_err(csv_err)?;
            if d.is_object() {
                let mut flat = Vec::new();
                flatten("", d, &mut flat);
                for (k, _) in flat {
                    if !cols.contains(&k) {
                        self.dropped.insert(k);
                    }
                }
            }
        }
        self.out.flush().map_err(|e| io(&e))
    }
    fn finish(&mut self) -> CmdResult {
        self.out.flush().map_err(|e| io(&e))
    }
    fn note(&self) -> Option<String> {
        (!self.dropped.is_empty()).then(|| {
            format!(
                "columns come from the first page; later documents also had: {} (use -o ndjson for everything)",
                self.dropped.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_are_not() {
        use serde_json::json;
        assert_eq!(safe_cell(&json!("=HYPERLINK(\"x\")")), "'=HYPERLINK(\"x\")");
        assert_eq!(safe_cell(&json!("+1")), "'+1");
        assert_eq!(safe_cell(&json!("-cmd")), "'-cmd");
        assert_eq!(safe_cell(&json!("@SUM(A1)")), "'@SUM(A1)");
        assert_eq!(safe_cell(&json!("\tx")), "'\tx");
        assert_eq!(safe_cell(&json!(-5)), "-5");
        assert_eq!(safe_cell(&json!("plain, \"quoted\"")), "plain, \"quoted\"");
        // Keys become column names: a header is neutralised too.
        let buf = crate::output::test_support::SharedBuf::default();
        let mut w = CsvWriter::new(Box::new(buf.clone()));
        w.write_page(&[json!({"=1+2": "=x", "n": -1})])
            .expect("page");
        w.finish().expect("finish");
        assert_eq!(buf.text(), "'=1+2,n\n'=x,-1\n");
    }
    use crate::output::test_support::SharedBuf;
    use serde_json::json;

    #[test]
    fn csv_flattens_nested_fields() {
        let buf = SharedBuf::default();
        let mut w = CsvWriter::new(Box::new(buf.clone()));
        w.write_page(&[
            json!({"id": "1", "address": {"city": "Oslo, N"}, "tags": ["a", "b"]}),
            json!({"id": "2", "extra": true}),
        ])
        .expect("page");
        w.finish().expect("finish");
        assert_eq!(
            buf.text(),
            "id,address.city,tags,extra\n1,\"Oslo, N\",\"[\"\"a\"\",\"\"b\"\"]\",\n2,,,true\n"
        );
    }
}
