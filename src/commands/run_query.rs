//! Executing an allowed query and printing its documents: the function the `query` command calls
//! once the policy engine has turned the user's query into a [`QueryPlan`].

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use crate::cosmos::query::execute;
use crate::cosmos::{Cosmos, ExecOptions, QueryPlan, QueryStats};
use crate::error::{CmdResult, CommandError, Exit};
use crate::output::OutputFormat;
use crate::output::Ui;
use crate::output::documents::TableOptions;

/// Streams `plan`'s documents to `out`. Ctrl-C ends the output cleanly (a JSON array is closed,
/// the count so far is reported) and returns exit 130.
pub async fn stream_query(
    ui: &Ui,
    cosmos: &Cosmos,
    plan: &QueryPlan,
    format: OutputFormat,
    exec: ExecOptions,
    out: Box<dyn Write>,
) -> CmdResult<QueryStats> {
    stream_from(ui, Source::Cosmos { cosmos, plan, exec }, format, out).await
}

/// Where a query's documents come from.
pub enum Source<'a> {
    /// Cosmos DB itself, running an allowed plan.
    Cosmos {
        cosmos: &'a Cosmos,
        plan: &'a QueryPlan,
        exec: ExecOptions,
    },
    /// A cosmoscope gateway (`cosmoscope serve`), which decides and runs the query itself.
    Gateway(super::gateway::GatewayQuery<'a>),
}

/// [`stream_query`] from any [`Source`].
pub async fn stream_from(
    ui: &Ui,
    source: Source<'_>,
    format: OutputFormat,
    out: Box<dyn Write>,
) -> CmdResult<QueryStats> {
    let table = TableOptions {
        width: std::io::stdout()
            .is_terminal()
            .then(|| comfy_table::Table::new().width())
            .flatten(),
        show_system: false,
    };
    let mut writer = crate::output::report::writer(format, out, table);
    let spinner = ui.can_animate().then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message("querying…");
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });
    let mut stats = QueryStats::default();
    let finished = {
        let writer = &mut writer;
        let spinner = spinner.as_ref();
        let mut seen: u64 = 0;
        let sink = |docs: Vec<serde_json::Value>| -> CmdResult {
            seen += docs.len() as u64;
            match spinner {
                Some(pb) => {
                    pb.set_message(format!("{seen} items…"));
                    pb.suspend(|| writer.write_page(&docs))
                }
                None => writer.write_page(&docs),
            }
        };
        let run: std::pin::Pin<Box<dyn Future<Output = CmdResult> + '_>> = match source {
            Source::Cosmos { cosmos, plan, exec } => {
                Box::pin(execute(cosmos, plan, exec, &mut stats, sink))
            }
            Source::Gateway(query) => Box::pin(query.run(&mut stats, sink)),
        };
        tokio::select! {
            r = run => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    };
    if let Some(pb) = &spinner {
        pb.finish_and_clear();
    }
    // Close the output even after an error or Ctrl-C, so what was printed stays valid JSON.
    let closed = writer.finish();
    if let Some(note) = writer.note() {
        ui.warn(note);
    }
    let interrupted = match finished {
        Some(Err(e)) => return Err(e),
        Some(Ok(())) => false,
        None => true,
    };
    closed?;
    ui.info(summary(&stats));
    if interrupted {
        return Err(CommandError::new(Exit::Interrupted, "interrupted")
            .cause(format!("stopped after {}", summary(&stats))));
    }
    Ok(stats)
}

/// "42 items · 12.3 RU" (and "(truncated by --max-items)").
#[must_use]
pub fn summary(stats: &QueryStats) -> String {
    let noun = if stats.items == 1 { "item" } else { "items" };
    let mut s = format!("{} {noun} · {:.1} RU", stats.items, stats.request_charge);
    if stats.truncated {
        s.push_str(" (stopped at --max-items)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reads_well() {
        let s = QueryStats {
            items: 42,
            request_charge: 12.34,
            pages: 1,
            truncated: false,
        };
        assert_eq!(summary(&s), "42 items · 12.3 RU");
        let one = QueryStats { items: 1, ..s };
        assert_eq!(summary(&one), "1 item · 12.3 RU");
    }
}
