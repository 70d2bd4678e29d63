//! `-o table`: columns chosen from the first page (`id` first, system properties hidden unless
//! asked for), nested values as truncated JSON, widths fixed from the first page to fit the
//! terminal so later pages line up without holding them all.

use std::io::Write;

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets::NOTHING};
use serde_json::Value;

use super::documents::{DocumentWriter, SYSTEM_PROPERTIES, TableOptions, cell_text, io};
use crate::error::CmdResult;

/// A table in the one style of every table a command prints (no borders, a header row).
#[must_use]
pub fn grid() -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t
}

/// Narrowest a column gets before it is dropped instead.
const MIN_WIDTH: usize = 6;
/// Widest a column starts out (long text is cut with `…`).
const MAX_WIDTH: usize = 48;
/// Space between columns.
const GAP: usize = 2;

pub struct TableWriter {
    out: Box<dyn Write>,
    options: TableOptions,
    layout: Option<Layout>,
}

struct Layout {
    columns: Vec<String>,
    widths: Vec<usize>,
    hidden: usize,
}

impl TableWriter {
    #[must_use]
    pub fn new(out: Box<dyn Write>, options: TableOptions) -> Self {
        Self {
            out,
            options,
            layout: None,
        }
    }
}

pub use crate::text::terminal_text;

/// Cuts `s` to `max` characters, ending with `…` when cut; one line only.
#[must_use]
pub fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Top-level keys in order of first appearance, `id` first, system properties hidden.
fn choose_columns(docs: &[Value], show_system: bool) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for d in docs {
        match d {
            Value::Object(map) => {
                for k in map.keys() {
                    if !cols.contains(k)
                        && (show_system || !SYSTEM_PROPERTIES.contains(&k.as_str()))
                    {
                        cols.push(k.clone());
                    }
                }
            }
            _ => {
                if !cols.iter().any(|c| c == "value") {
                    cols.push("value".into());
                }
            }
        }
    }
    if let Some(i) = cols.iter().position(|c| c == "id") {
        let id = cols.remove(i);
        cols.insert(0, id);
    }
    cols
}

fn cell(doc: &Value, column: &str) -> String {
    match doc {
        Value::Object(map) => map
            .get(column)
            .map(|v| terminal_text(&cell_text(v)))
            .unwrap_or_default(),
        other if column == "value" => terminal_text(&cell_text(other)),
        _ => String::new(),
    }
}

fn layout(docs: &[Value], options: TableOptions) -> Layout {
    let columns = choose_columns(docs, options.show_system);
    let mut widths: Vec<usize> = columns
        .iter()
        .map(|c| {
            docs.iter()
                .map(|d| cell(d, c).chars().count())
                .chain(std::iter::once(c.chars().count()))
                .max()
                .unwrap_or(0)
                .clamp(1, MAX_WIDTH)
        })
        .collect();
    let mut keep = columns.len();
    if let Some(limit) = options.width.map(usize::from) {
        // Shrink the widest column until everything fits; drop trailing columns if even the
        // narrowest layout does not.
        loop {
            let total: usize = widths[..keep].iter().sum::<usize>() + GAP * keep.saturating_sub(1);
            if total <= limit {
                break;
            }
            let (i, w) = widths[..keep]
                .iter()
                .copied()
                .enumerate()
                .max_by_key(|&(_, w)| w)
                .unwrap_or((0, 0));
            if w > MIN_WIDTH {
                widths[i] = (w - (total - limit)).max(MIN_WIDTH);
            } else if keep > 1 {
                keep -= 1;
            } else {
                break;
            }
        }
    }
    Layout {
        hidden: columns.len() - keep,
        columns: columns[..keep].to_vec(),
        widths: widths[..keep].to_vec(),
    }
}

impl DocumentWriter for TableWriter {
    fn write_page(&mut self, docs: &[Value]) -> CmdResult {
        let first = self.layout.is_none();
        let layout = self
            .layout
            .get_or_insert_with(|| layout(docs, self.options));
        let mut table = Table::new();
        table
            .load_preset(NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled);
        if first {
            table.set_header(
                layout
                    .columns
                    .iter()
                    .zip(&layout.widths)
                    .map(|(c, w)| truncate(&terminal_text(&c.to_uppercase()), *w)),
            );
        }
        for d in docs {
            table.add_row(
                layout
                    .columns
                    .iter()
                    .zip(&layout.widths)
                    .map(|(c, w)| truncate(&cell(d, c), *w)),
            );
        }
        let constraints = layout.widths.iter().map(|w| {
            ColumnConstraint::Absolute(Width::Fixed(u16::try_from(*w + GAP).unwrap_or(u16::MAX)))
        });
        table.set_constraints(constraints);
        for column in table.column_iter_mut() {
            column.set_padding((0, 0));
        }
        let text = table
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect::<Vec<_>>()
            .join("\n");
        writeln!(self.out, "{text}").map_err(|e| io(&e))?;
        self.out.flush().map_err(|e| io(&e))
    }
    fn finish(&mut self) -> CmdResult {
        self.out.flush().map_err(|e| io(&e))
    }
    fn note(&self) -> Option<String> {
        self.layout.as_ref().filter(|l| l.hidden > 0).map(|l| {
            format!(
                "{} more column(s) do not fit the terminal; use -o json or -o csv",
                l.hidden
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::test_support::SharedBuf;
    use serde_json::json;

    fn render(docs: &[Value], width: Option<u16>) -> String {
        let buf = SharedBuf::default();
        let mut w = TableWriter::new(
            Box::new(buf.clone()),
            TableOptions {
                width,
                show_system: false,
            },
        );
        w.write_page(docs).expect("page");
        w.write_page(&docs[..1]).expect("page");
        w.finish().expect("finish");
        buf.text()
    }

    #[test]
    fn hides_system_properties_puts_id_first_and_truncates_nested() {
        let docs = [
            json!({"name": "Ada", "id": "1", "_rid": "x", "_ts": 1, "address": {"city": "London", "street": "a very long street name that goes on"}}),
            json!({"name": "Bob", "id": "2"}),
        ];
        let text = render(&docs, Some(40));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID"), "{text}");
        assert!(!text.contains("_rid") && !text.contains("_RID"), "{text}");
        assert!(text.contains('…'), "{text}");
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{text}");
        assert_eq!(
            lines.len(),
            4,
            "header, two rows, one row of the second page: {text}"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let forged = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[Hlogin again at evil\u{202e}txt.exe\u{9b}";
        let shown = terminal_text(forged);
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{shown:?}"
        );
        assert!(shown.contains("\\u{1b}]0;pwned"), "{shown:?}");
        let table = render(&[json!({"id": forged, forged: 1})], Some(200));
        assert!(!table.contains('\u{1b}'), "{table:?}");
    }

    #[test]
    fn truncate_counts_characters() {
        assert_eq!(truncate("æøåæøå", 4), "æøå…");
        assert_eq!(truncate("ab", 4), "ab");
    }
}
