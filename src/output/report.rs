//! What a command prints: one value with its machine-readable form and its table form, rendered in
//! one place for every `-o` format (uv's `Printer`, jj's formatter).
//!
//! This file is where each format is rendered: a new `-o` format is its `OutputFormat` variant
//! (`output/mod.rs`) and its arms here (and its document writer, when query results stream in it).
//!
//! A command builds a [`Report`] and hands it to [`Ui::print`](super::Ui::print); it never matches
//! on [`OutputFormat`] itself. A list of records goes through the same writers as query results
//! (one CSV writer, quoted and neutralised); a single object has no CSV form, which the command line
//! refuses before the command runs (`cli::Command::formats`).

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::error::{CmdResult, CommandError};

use super::OutputFormat;
use super::documents::{DocumentWriter, TableOptions};

/// A command's result. Its table form is built only when the table is what gets printed (`status
/// -o json` on a hot path builds no table).
pub struct Report<'a> {
    shape: Shape,
    table: Option<Box<dyn FnOnce() -> String + 'a>>,
    /// Said on stderr when a list is empty and the format is the table.
    empty: Option<&'static str>,
}

enum Shape {
    /// One object: json pretty, ndjson one line; no csv.
    Object(Value),
    /// One object that is one line in json too (results scripts read line by line: `doctor`,
    /// `policy explain`, `policy validate`); no csv.
    Line(Value),
    /// Records: json an array, ndjson a line each, csv a row each.
    Records(Vec<Value>),
    /// One document of the database: json pretty, ndjson one line, table and csv through the
    /// document writers of query results.
    Document(Value),
}

impl<'a> Report<'a> {
    /// A single object with its table form.
    pub fn object(value: &impl Serialize, table: impl FnOnce() -> String + 'a) -> CmdResult<Self> {
        Ok(Self {
            shape: Shape::Object(to_value(value)?),
            table: Some(Box::new(table)),
            empty: None,
        })
    }

    /// A single object printed as one line for json and ndjson alike, with its table form.
    pub fn line(value: &impl Serialize, table: impl FnOnce() -> String + 'a) -> CmdResult<Self> {
        Ok(Self {
            shape: Shape::Line(to_value(value)?),
            table: Some(Box::new(table)),
            empty: None,
        })
    }

    /// A list of records with its table form (made from the records); `empty` is said (on
    /// stderr) for an empty table.
    pub fn records<T: Serialize + 'a>(
        records: Vec<T>,
        table: impl FnOnce(&[T]) -> String + 'a,
        empty: &'static str,
    ) -> CmdResult<Self> {
        let shape = Shape::Records(records.iter().map(to_value).collect::<CmdResult<_>>()?);
        Ok(Self {
            shape,
            table: Some(Box::new(move || table(&records))),
            empty: Some(empty),
        })
    }

    /// One document, as `item get` prints it.
    #[must_use]
    pub fn document(doc: Value) -> Self {
        Self {
            shape: Shape::Document(doc),
            table: None,
            empty: None,
        }
    }

    pub(super) fn render(self, format: OutputFormat, ui: &super::Ui) -> CmdResult {
        match (format, &self.shape) {
            (OutputFormat::Table, Shape::Records(r)) if r.is_empty() => {
                if let Some(empty) = self.empty {
                    ui.info(empty);
                }
                Ok(())
            }
            (OutputFormat::Table | OutputFormat::Csv, Shape::Document(doc)) => {
                let mut w = writer(
                    format,
                    Box::new(std::io::stdout()),
                    TableOptions {
                        width: None,
                        show_system: false,
                    },
                );
                w.write_page(std::slice::from_ref(doc))?;
                w.finish()
            }
            (OutputFormat::Table, _) => ui.out(&self.table.map_or_else(String::new, |t| t())),
            (OutputFormat::Json, Shape::Object(v) | Shape::Document(v)) => ui.out_json_pretty(v),
            (OutputFormat::Json, Shape::Records(r)) => ui.out_json_pretty(&Value::Array(r.clone())),
            (OutputFormat::Ndjson, Shape::Object(v) | Shape::Document(v))
            | (OutputFormat::Json | OutputFormat::Ndjson, Shape::Line(v)) => ui.out_json_line(v),
            (OutputFormat::Ndjson, Shape::Records(r)) => {
                r.iter().try_for_each(|v| ui.out_json_line(v))
            }
            (OutputFormat::Csv, Shape::Records(r)) => {
                let mut w = super::csv::CsvWriter::new(Box::new(std::io::stdout()));
                if !r.is_empty() {
                    w.write_page(r)?;
                }
                w.finish()
            }
            // `cli::Command::formats` refuses this before the command runs; a report is the
            // last line of defence.
            (OutputFormat::Csv, Shape::Object(_) | Shape::Line(_)) => Err(format.unsupported()),
        }
    }
}

/// The writer for `format` over `out` (stdout, or a buffer in tests).
pub fn writer(
    format: OutputFormat,
    out: Box<dyn Write>,
    table: TableOptions,
) -> Box<dyn DocumentWriter> {
    match format {
        OutputFormat::Ndjson => Box::new(super::json::NdjsonWriter::new(out)),
        OutputFormat::Json => Box::new(super::json::JsonArrayWriter::new(out)),
        OutputFormat::Csv => Box::new(super::csv::CsvWriter::new(out)),
        OutputFormat::Table => Box::new(super::table::TableWriter::new(out, table)),
    }
}

fn to_value(v: &impl Serialize) -> CmdResult<Value> {
    serde_json::to_value(v).map_err(|e| CommandError::runtime("cannot encode the result").cause(e))
}
