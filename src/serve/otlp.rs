//! `[server.otlp]`: the audit records also exported as OpenTelemetry log records, over OTLP/HTTP
//! with the JSON encoding (`POST <endpoint>` with an `ExportLogsServiceRequest`). The audit sink
//! (stdout or the file) stays the record of truth: a request fails when *it* cannot be written;
//! the export is best effort, batched, retried a few times, and its losses are logged and counted.

use std::time::Duration;

use serde_json::{Value, json};

/// Records waiting for export beyond this are dropped (and counted), never waited for.
const QUEUE: usize = 10_000;
/// Records per export request.
const BATCH: usize = 200;
/// How long a record may wait for others to share its request.
const LINGER: Duration = Duration::from_millis(500);

pub struct Exporter {
    tx: tokio::sync::mpsc::Sender<Value>,
}

impl Exporter {
    /// Starts the exporting task (on the server's `LocalSet`).
    pub fn start(endpoint: String, dropped: impl Fn(usize) + 'static) -> Exporter {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Value>(QUEUE);
        tokio::task::spawn_local(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default();
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let until = tokio::time::Instant::now() + LINGER;
                while batch.len() < BATCH {
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(r)) => batch.push(r),
                        _ => break,
                    }
                }
                let body = request(&batch);
                let mut sent = false;
                for attempt in 0..3u32 {
                    let answer = client.post(&endpoint).json(&body).send().await;
                    match answer {
                        Ok(r) if r.status().is_success() => {
                            sent = true;
                            break;
                        }
                        // 4xx other than 429: the collector refuses this body; retrying is futile.
                        Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                            super::log(
                                super::Level::Warn,
                                &json!({"otlp_export_refused": r.status().as_u16()}),
                            );
                            break;
                        }
                        _ => tokio::time::sleep(Duration::from_millis(200 << attempt)).await,
                    }
                }
                if !sent {
                    dropped(batch.len());
                    super::log(
                        super::Level::Warn,
                        &json!({"otlp_export_failed": endpoint, "records_dropped": batch.len()}),
                    );
                }
            }
        });
        Exporter { tx }
    }

    /// Queues one audit record (as written to the sink); a full queue drops it (counted).
    pub fn send(&self, record: Value) -> bool {
        self.tx.try_send(record).is_ok()
    }
}

/// An `ExportLogsServiceRequest` (OTLP JSON mapping: 64-bit integers as strings, enums as
/// numbers) with one log record per audit record: the record itself as the body, its main
/// fields as attributes.
fn request(records: &[Value]) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string();
    let logs: Vec<Value> = records
        .iter()
        .map(|r| {
            let attributes: Vec<Value> = [
                "request_id",
                "subject",
                "action",
                "decision",
                "database",
                "container",
                "client",
                "cause",
            ]
            .iter()
            .filter_map(|k| {
                r.get(*k)
                    .and_then(Value::as_str)
                    .map(|v| json!({"key": format!("cosmoscope.{k}"), "value": {"stringValue": v}}))
            })
            .collect();
            let denied = r["decision"] == "denied" || r["decision"] == "error";
            json!({
                "timeUnixNano": time_nanos(r["time"].as_str()).unwrap_or_else(|| now.clone()),
                "observedTimeUnixNano": now,
                "severityNumber": if denied { 13 } else { 9 },
                "severityText": if denied { "WARN" } else { "INFO" },
                "body": {"stringValue": r.to_string()},
                "attributes": attributes,
            })
        })
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "cosmoscope-gateway"}},
            {"key": "service.version", "value": {"stringValue": env!("CARGO_PKG_VERSION")}},
        ]},
        "scopeLogs": [{"scope": {"name": "cosmoscope.audit"}, "logRecords": logs}],
    }]})
}

/// RFC 3339 (`2026-12-02T10:00:00.123Z`) as Unix nanoseconds, in the OTLP JSON form (a string).
fn time_nanos(rfc3339: Option<&str>) -> Option<String> {
    let t = humantime::parse_rfc3339_weak(rfc3339?.trim_end_matches('Z')).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_nanos().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_otlp_log_records() {
        let body = request(&[json!({
            "time": "2026-12-02T10:00:00.5Z", "action": "query", "decision": "denied",
            "subject": "alice", "request_id": "abc"
        })]);
        let rec = &body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0];
        assert_eq!(rec["timeUnixNano"], "1796205600500000000");
        assert_eq!(rec["severityNumber"], 13);
        assert!(
            rec["body"]["stringValue"]
                .as_str()
                .is_some_and(|b| b.contains("alice"))
        );
        assert!(
            rec["attributes"]
                .to_string()
                .contains("cosmoscope.request_id")
        );
    }
}
