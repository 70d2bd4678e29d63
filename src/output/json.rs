//! `-o ndjson` (one document per line, nothing else) and `-o json` (one array, streamed).

use std::io::Write;

use serde_json::Value;

use super::documents::{DocumentWriter, io};
use crate::error::CmdResult;

pub struct NdjsonWriter {
    out: std::io::BufWriter<Box<dyn Write>>,
}

impl NdjsonWriter {
    #[must_use]
    pub fn new(out: Box<dyn Write>) -> Self {
        Self {
            out: std::io::BufWriter::with_capacity(64 * 1024, out),
        }
    }
}

impl DocumentWriter for NdjsonWriter {
    fn write_page(&mut self, docs: &[Value]) -> CmdResult {
        for d in docs {
            serde_json::to_writer(&mut self.out, d)
                .map_err(std::io::Error::from)
                .map_err(|e| io(&e))?;
            self.out.write_all(b"\n").map_err(|e| io(&e))?;
        }
        self.out.flush().map_err(|e| io(&e))
    }
    fn finish(&mut self) -> CmdResult {
        self.out.flush().map_err(|e| io(&e))
    }
}

/// `[`, the documents one per line separated by commas, `]` — valid JSON at every page boundary
/// once finished, and never more than a page in memory.
pub struct JsonArrayWriter {
    out: std::io::BufWriter<Box<dyn Write>>,
    started: bool,
    any: bool,
}

impl JsonArrayWriter {
    #[must_use]
    pub fn new(out: Box<dyn Write>) -> Self {
        Self {
            out: std::io::BufWriter::with_capacity(64 * 1024, out),
            started: false,
            any: false,
        }
    }
    fn start(&mut self) -> CmdResult {
        if !self.started {
            self.out.write_all(b"[").map_err(|e| io(&e))?;
            self.started = true;
        }
        Ok(())
    }
}

impl DocumentWriter for JsonArrayWriter {
    fn write_page(&mut self, docs: &[Value]) -> CmdResult {
        self.start()?;
        for d in docs {
            self.out
                .write_all(if self.any { b",\n" } else { b"\n" })
                .map_err(|e| io(&e))?;
            serde_json::to_writer(&mut self.out, d)
                .map_err(std::io::Error::from)
                .map_err(|e| io(&e))?;
            self.any = true;
        }
        self.out.flush().map_err(|e| io(&e))
    }
    fn finish(&mut self) -> CmdResult {
        self.start()?;
        self.out
            .write_all(if self.any { b"\n]\n" } else { b"]\n" })
            .map_err(|e| io(&e))?;
        self.out.flush().map_err(|e| io(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_support::SharedBuf;
    use serde_json::json;

    #[test]
    fn json_array_is_valid_across_pages_and_when_empty() {
        let buf = SharedBuf::default();
        let mut w = JsonArrayWriter::new(Box::new(buf.clone()));
        w.write_page(&[json!({"a": 1})]).expect("page");
        w.write_page(&[json!({"a": 2}), json!({"a": 3})])
            .expect("page");
        w.finish().expect("finish");
        let v: Value = serde_json::from_str(&buf.text()).expect("valid JSON");
        assert_eq!(v, json!([{"a": 1}, {"a": 2}, {"a": 3}]));

        let buf = SharedBuf::default();
        let mut w = JsonArrayWriter::new(Box::new(buf.clone()));
        w.finish().expect("finish");
        assert_eq!(buf.text(), "[]\n");
    }

    #[test]
    fn ndjson_is_one_document_per_line() {
        let buf = SharedBuf::default();
        let mut w = NdjsonWriter::new(Box::new(buf.clone()));
        w.write_page(&[json!({"a": 1}), json!("x")]).expect("page");
        w.finish().expect("finish");
        assert_eq!(buf.text(), "{\"a\":1}\n\"x\"\n");
    }
}
