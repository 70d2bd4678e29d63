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
use super::pipeline::{self, Partitions, Request, Spent};

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
    /// The SDK's cross-partition pipeline cannot answer it (aggregates, GROUP BY, DISTINCT):
    /// over the whole container, [`super::pipeline`] runs it.
    pub(crate) beyond_sdk_merge: bool,
    /// How many paths the container's partition key has (hierarchical keys have several); a
    /// pinned key with fewer components is a prefix. 0: unknown, every pinned key is whole.
    pub(crate) key_depth: usize,
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
        plan.beyond_sdk_merge = s.beyond_sdk_merge();
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
            beyond_sdk_merge: false,
            key_depth: 0,
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
            beyond_sdk_merge: crate::policy::parse(sql).is_ok_and(|q| q.beyond_sdk_merge()),
            key_depth: 0,
        }
    }

    /// Says how many paths the container's partition key has (see `key_depth`).
    #[must_use]
    pub(crate) fn with_key_depth(mut self, depth: usize) -> Self {
        self.key_depth = depth;
        self
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
    // One logical query over several pinned keys, or aggregates, GROUP BY and DISTINCT over the
    // whole container: the SDK cannot run these (it plans per feed range, refuses partial
    // aggregates, and runs DISTINCT only under a small TOP), so the merge does, from the
    // gateway's plan.
    let merged = plan.whole_result
        && match &plan.partition_keys {
            // A prefix of a hierarchical key spans partitions: the SDK would plan it like a
            // container and refuse aggregates.
            Some(keys) => keys.len() > 1 || keys.iter().any(|k| k.len() < plan.key_depth),
            None => plan.beyond_sdk_merge,
        };
    if merged {
        let partitions = match &plan.partition_keys {
            Some(keys) => Partitions::Keys {
                keys,
                depth: plan.key_depth,
            },
            None => Partitions::Container,
        };
        let request = Request {
            database: &plan.database,
            container: &plan.container,
            sql: &plan.sql,
            params: &plan.params,
            partitions,
            page_size: options.page_size.map(NonZeroU32::get),
            max_fan_out: options.max_fan_out,
        };
        let QueryStats {
            items,
            request_charge,
            pages,
            truncated,
        } = stats;
        let mut spent = Spent {
            pages,
            request_charge,
        };
        let mut counted = Counted { items, truncated };
        return pipeline::run(&cosmos.rest, &request, &mut spent, |docs| {
            counted.emit(plan.max_items, &mut sink, docs)
        })
        .await;
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
            let mut counted = Counted {
                items: &mut stats.items,
                truncated: &mut stats.truncated,
            };
            if !counted.emit(plan.max_items, &mut sink, page.into_items())? {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// What has been handed on so far.
struct Counted<'a> {
    items: &'a mut u64,
    truncated: &'a mut bool,
}

impl Counted<'_> {
    /// Hands one batch to `sink`, counting it and stopping at `max_items`; answers whether more
    /// is wanted.
    fn emit<E, F>(
        &mut self,
        max_items: Option<u64>,
        sink: &mut F,
        mut docs: Vec<Value>,
    ) -> Result<bool, E>
    where
        F: FnMut(Vec<Value>) -> Result<(), E>,
    {
        let mut more = true;
        if let Some(max) = max_items {
            let room = usize::try_from(max.saturating_sub(*self.items)).unwrap_or(usize::MAX);
            if room == 0 {
                // Full already: this page was read only to learn whether the result was cut (an
                // empty page says nothing yet).
                *self.truncated = !docs.is_empty();
                return Ok(docs.is_empty());
            }
            if docs.len() > room {
                *self.truncated = true;
                docs.truncate(room);
                more = false;
            }
        }
        *self.items += docs.len() as u64;
        if !docs.is_empty() {
            sink(docs)?;
        }
        Ok(more)
    }
}
