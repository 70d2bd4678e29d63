//! Running a query page by page: the SDK follows the continuation tokens, each page is handed to
//! a sink and dropped, so memory stays flat however many documents come back.

use std::num::NonZeroU32;

use azure_data_cosmos::options::{MaxItemCountHint, QueryOptions};
use azure_data_cosmos::{FeedScope, Query};
use futures::StreamExt as _;
use serde_json::Value;

use super::client::Cosmos;
use super::error::{CosmosError, Resource};
use super::items::partition_key;

/// A query the policy engine has allowed, ready to run. Only the policy engine (from its
/// `ScopedQuery`) builds one; the Cosmos layer cannot run an unchecked query.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    pub(crate) database: String,
    pub(crate) container: String,
    pub(crate) sql: String,
    /// `@name` → value.
    pub(crate) params: Vec<(String, Value)>,
    /// Pinned partitions: one request per value (each a full, possibly hierarchical, key), results
    /// concatenated in this order. `None`: the whole container.
    pub(crate) partition_keys: Option<Vec<Vec<Value>>>,
    /// Stop after this many documents.
    pub(crate) max_items: Option<u64>,
    /// The answer is a property of the whole result (ORDER BY, TOP, DISTINCT, OFFSET/LIMIT,
    /// GROUP BY, aggregates): it cannot be put together from per-key answers.
    pub(crate) whole_result: bool,
}

impl QueryPlan {
    /// The plan of a query the policy engine allowed: its normalised text (what was analysed is
    /// what runs), parameters, and the partitions it is pinned to.
    #[must_use]
    pub(crate) fn from_scoped(s: &crate::policy::ScopedQuery) -> Option<Self> {
        let mut plan = Self::new(
            s.database().to_string(),
            s.container().to_string(),
            s.sql()?.to_string(),
            s.params()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            s.partition_keys().map(<[Vec<Value>]>::to_vec),
            s.max_items(),
        );
        plan.whole_result = s.whole_result();
        Some(plan)
    }

    #[must_use]
    pub(crate) fn new(
        database: String,
        container: String,
        sql: String,
        params: Vec<(String, Value)>,
        partition_keys: Option<Vec<Vec<Value>>>,
        max_items: Option<u64>,
    ) -> Self {
        Self {
            database,
            container,
            sql,
            params,
            partition_keys,
            max_items,
            whole_result: false,
        }
    }

    /// TEST ONLY: builds a plan without the policy engine, for integration tests and the export
    /// benchmark. Never call it from a command.
    #[doc(hidden)]
    #[must_use]
    pub fn for_tests(
        database: &str,
        container: &str,
        sql: &str,
        params: Vec<(String, Value)>,
        partition_keys: Option<Vec<Vec<Value>>>,
        max_items: Option<u64>,
    ) -> Self {
        Self {
            database: database.to_string(),
            container: container.to_string(),
            sql: sql.to_string(),
            params,
            partition_keys,
            max_items,
            whole_result: crate::policy::parse(sql).is_ok_and(|q| q.needs_whole_result()),
        }
    }

    fn resource(&self) -> Resource {
        Resource::Container {
            database: self.database.clone(),
            container: self.container.clone(),
        }
    }
}

/// What a query cost.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryStats {
    pub items: u64,
    /// Total request units over every page (`x-ms-request-charge`).
    pub request_charge: f64,
    pub pages: u64,
    /// `max_items` cut the result short.
    pub truncated: bool,
}

/// How to execute (not what: that is the plan).
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecOptions {
    /// Documents per page (`x-ms-max-item-count`); `None`: the service decides.
    pub page_size: Option<NonZeroU32>,
    /// How many physical partitions a query may reach; `None`: the SDK's default (100).
    pub max_fan_out: Option<u32>,
}

/// Runs `plan`, calling `sink` with each page's documents in order. `stats` is updated as pages
/// arrive, so a caller that stops early (Ctrl-C) still knows what was spent.
pub async fn execute<E, F>(
    cosmos: &Cosmos,
    plan: &QueryPlan,
    options: ExecOptions,
    stats: &mut QueryStats,
    mut sink: F,
) -> Result<(), E>
where
    E: From<CosmosError>,
    F: FnMut(Vec<Value>) -> Result<(), E>,
{
    // Per-key answers of an ordered, windowed, distinct, grouped or aggregated query, one after
    // the other, are not the query's answer (TOP 5 over 3 keys gives 15 rows, COUNT three
    // counts): refused rather than wrong.
    if plan.whole_result
        && let Some(keys) = plan.partition_keys.as_ref().filter(|k| k.len() > 1)
    {
        return Err(CosmosError::PinnedMerge { keys: keys.len() }.into());
    }
    let sdk = |e: &azure_data_cosmos::CosmosError| {
        CosmosError::from_sdk(e, plan.resource(), &cosmos.endpoint)
    };
    let container = cosmos
        .client
        .database_client(plan.database.as_str())
        .container_client(plan.container.as_str(), None)
        .await
        .map_err(|e| sdk(&e))?;
    let mut query = Query::from(plan.sql.as_str());
    for (name, value) in &plan.params {
        let name = if name.starts_with('@') {
            name.clone()
        } else {
            format!("@{name}")
        };
        query =
            query
                .with_parameter(name.as_str(), value)
                .map_err(|e| CosmosError::BadRequest {
                    message: format!("parameter {name}: {e}"),
                })?;
    }
    let scopes: Vec<FeedScope> = match &plan.partition_keys {
        None => vec![FeedScope::full_container()],
        Some(keys) => keys
            .iter()
            .map(|k| partition_key(k).map(FeedScope::partition))
            .collect::<Result<_, _>>()?,
    };
    for scope in scopes {
        let mut query_options = QueryOptions::default();
        if let Some(n) = options.page_size {
            query_options = query_options.with_max_item_count(MaxItemCountHint::Limit(n));
        }
        if let Some(n) = options.max_fan_out {
            let feed = query_options.feed.clone().with_max_fan_out(n);
            query_options = query_options.with_feed_options(feed);
        }
        let mut pages = container
            .query_items::<Value>(query.clone(), scope, Some(query_options))
            .await
            .map_err(|e| sdk(&e))?
            .into_pages();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk(&e))?;
            stats.pages += 1;
            if let Some(charge) = page.headers().request_charge() {
                stats.request_charge += charge.value();
            }
            let mut docs = page.into_items();
            if let Some(max) = plan.max_items {
                let room = usize::try_from(max.saturating_sub(stats.items)).unwrap_or(usize::MAX);
                if docs.len() >= room {
                    stats.truncated = docs.len() > room;
                    docs.truncate(room);
                    stats.items += docs.len() as u64;
                    sink(docs)?;
                    return Ok(());
                }
            }
            stats.items += docs.len() as u64;
            if !docs.is_empty() {
                sink(docs)?;
            }
        }
    }
    Ok(())
}
