//! One logical query over several partitions, with the service's semantics: the way the .NET and
//! Python SDKs run a query the gateway cannot serve alone.
//!
//! 1. The gateway's query plan says what the query needs (ORDER BY, TOP, OFFSET/LIMIT, DISTINCT,
//!    aggregates, GROUP BY, COUNT of DISTINCT) and gives the rewritten query each partition runs:
//!    partial aggregates (`[{"item": COUNT(1)}]`, AVG as `{"sum", "count"}`), group keys beside
//!    their payload (`groupByItems`, `payload`), sort keys beside the document (`orderByItems`).
//! 2. The rewritten query is sent to every partition: one request per pinned partition key (the
//!    `x-ms-documentdb-partitionkey` header: the service reads nothing else, whatever the query
//!    text says) or, for the whole container, per physical partition-key range.
//! 3. The answers are merged here: a k-way merge on the sort keys, partial aggregates combined,
//!    groups merged by their keys, then DISTINCT, COUNT of DISTINCT, OFFSET, LIMIT and TOP over the
//!    merged stream.
//!
//! Memory: an ordered or plain query keeps one page per partition; an aggregate keeps one value
//! per aggregate; GROUP BY keeps one row per group; DISTINCT keeps one hash per distinct value.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet, VecDeque};

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use super::error::CosmosError;
use super::rest::{PkRange, Rest, Target};

/// The placeholder the service leaves in a rewritten ORDER BY query for the client's resume
/// filter; a query that starts from the beginning fills it with `true`.
const ORDER_BY_FILTER: &str = "{documentdb-formattableorderbyquery-filter}";
/// The SDKs' default bound on how many physical partitions one query may reach.
pub(crate) const DEFAULT_MAX_FAN_OUT: u32 = 100;

/// The parts of the gateway's `queryInfo` the merge follows.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct QueryInfo {
    pub distinct_type: DistinctType,
    pub top: Option<u64>,
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub order_by: Vec<SortOrder>,
    pub group_by_expressions: Vec<String>,
    pub group_by_aliases: Vec<String>,
    pub aggregates: Vec<String>,
    pub group_by_alias_to_aggregate_type: Map<String, Value>,
    pub rewritten_query: Option<String>,
    pub has_select_value: bool,
    pub d_count_info: Option<DCountInfo>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum DistinctType {
    #[default]
    None,
    Ordered,
    Unordered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum SortOrder {
    Ascending,
    Descending,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct DCountInfo {
    pub d_count_alias: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GatewayPlan {
    query_info: Option<QueryInfo>,
    query_ranges: Vec<QueryRange>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryRange {
    min: Value,
    max: Value,
}

/// Where the partitions of one query are.
pub(crate) enum Partitions<'a> {
    /// Pinned logical partitions: full keys, or prefixes of a hierarchical key when shorter than
    /// `depth` (the container's number of key paths; 0 when unknown: all full keys).
    Keys {
        keys: &'a [Vec<Value>],
        depth: usize,
    },
    /// The whole container.
    Container,
}

/// What one query asks of the merge, and where it runs.
pub(crate) struct Request<'a> {
    pub database: &'a str,
    pub container: &'a str,
    pub sql: &'a str,
    pub params: &'a [(String, Value)],
    pub partitions: Partitions<'a>,
    pub page_size: Option<u32>,
    pub max_fan_out: Option<u32>,
}

/// Counters the caller reports, kept up to date as pages arrive (a command stopped early still
/// knows what it spent).
pub(crate) struct Spent<'a> {
    pub pages: &'a mut u64,
    pub request_charge: &'a mut f64,
}

/// Runs `request` and hands the merged results to `emit` in batches; `emit` answers whether to
/// go on (`false`: enough, stop fetching).
pub(crate) async fn run<E>(
    rest: &Rest,
    request: &Request<'_>,
    spent: &mut Spent<'_>,
    mut emit: impl FnMut(Vec<Value>) -> Result<bool, E>,
) -> Result<(), E>
where
    E: From<CosmosError>,
{
    let body = spec(request.sql, request.params);
    let plan: GatewayPlan = serde_json::from_value(
        rest.query_plan(request.database, request.container, &body)
            .await?,
    )
    .map_err(|e| CosmosError::Service {
        status: 200,
        substatus: None,
        message: format!("the query plan is not the gateway's shape: {e}"),
    })?;
    let info = plan.query_info.unwrap_or_default();
    // The physical ranges the plan reaches, fetched once when a target needs them.
    let mut ranges: Option<Vec<PkRange>> = None;
    let mut targets = Vec::new();
    let (keys, depth) = match request.partitions {
        Partitions::Keys { keys, depth } => (Some(keys), depth),
        Partitions::Container => (None, 0),
    };
    for key in keys.into_iter().flatten() {
        if key.len() >= depth {
            targets.push(Owned::Key(key.clone()));
            continue;
        }
        // A prefix of a hierarchical key spans logical partitions, possibly in several ranges:
        // each range is asked for the prefix's part of it (the key header still bounds it).
        for r in reached(rest, request, &plan.query_ranges, &mut ranges).await? {
            targets.push(Owned::Prefix(key.clone(), r.clone()));
        }
    }
    if keys.is_none() {
        for r in reached(rest, request, &plan.query_ranges, &mut ranges).await? {
            targets.push(Owned::Range(r.clone()));
        }
    }
    let rewritten = match info.rewritten_query.as_deref() {
        Some(q) if !q.trim().is_empty() => q.replace(ORDER_BY_FILTER, "true"),
        _ => request.sql.to_string(),
    };
    let body = spec(&rewritten, request.params);
    let mut cursors: Vec<Cursor> = targets.into_iter().map(Cursor::new).collect();
    let ctx = Ctx {
        rest,
        request,
        body: &body,
    };
    let mut post = Post::new(&info);

    if !info.aggregates.is_empty() && info.group_by_expressions.is_empty() && info.has_select_value
    {
        // SELECT VALUE aggregate: one partial array per partition (or per page).
        let mut acc: Vec<Aggregator> = info.aggregates.iter().map(|a| Aggregator::new(a)).collect();
        for cursor in &mut cursors {
            while let Some(doc) = cursor.next(&ctx, spent).await? {
                let parts = doc.as_array().cloned().unwrap_or_else(|| vec![doc]);
                for (agg, part) in acc.iter_mut().zip(parts.iter()) {
                    agg.add(Some(part))?;
                }
            }
        }
        // The service allows one aggregate in a VALUE (compositions are refused); its undefined
        // value is no row at all.
        let values: Vec<Value> = acc.into_iter().filter_map(Aggregator::finish).collect();
        post.feed(values, &mut emit)?;
        return post.finish(&mut emit);
    }

    if !info.group_by_alias_to_aggregate_type.is_empty() || !info.group_by_expressions.is_empty() {
        let mut groups = Groups::new(&info);
        for cursor in &mut cursors {
            while let Some(doc) = cursor.next(&ctx, spent).await? {
                groups.add(doc)?;
            }
        }
        post.feed(groups.finish(), &mut emit)?;
        return post.finish(&mut emit);
    }

    if !info.order_by.is_empty() {
        // k-way merge on the sort keys; ties go to the partition listed first.
        loop {
            let mut best: Option<usize> = None;
            for i in 0..cursors.len() {
                if cursors[i].peek(&ctx, spent).await?.is_none() {
                    continue;
                }
                best = match best {
                    None => Some(i),
                    Some(b) => {
                        let (x, y) = (cursors[i].head(), cursors[b].head());
                        if compare_order_items(x, y, &info.order_by) == Ordering::Less {
                            Some(i)
                        } else {
                            Some(b)
                        }
                    }
                };
            }
            let Some(b) = best else { break };
            let doc = cursors[b].take();
            if let Some(payload) = doc.and_then(|mut d| d.get_mut("payload").map(Value::take))
                && !post.feed(vec![payload], &mut emit)?
            {
                return Ok(());
            }
        }
        return post.finish(&mut emit);
    }

    // DISTINCT, TOP, OFFSET/LIMIT, COUNT of DISTINCT over a plain stream: partition after
    // partition.
    for cursor in &mut cursors {
        while cursor.peek(&ctx, spent).await?.is_some() {
            let batch: Vec<Value> = cursor.buf.drain(..).collect();
            if !post.feed(batch, &mut emit)? {
                return Ok(());
            }
        }
    }
    post.finish(&mut emit)
}

/// The query spec the REST API takes.
fn spec(sql: &str, params: &[(String, Value)]) -> Vec<u8> {
    let parameters: Vec<Value> = params
        .iter()
        .map(|(name, value)| {
            let name = if name.starts_with('@') {
                name.clone()
            } else {
                format!("@{name}")
            };
            serde_json::json!({"name": name, "value": value})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"query": sql, "parameters": parameters}))
        .unwrap_or_default()
}

fn bound(v: &Value) -> String {
    match v {
        Value::String(s) if s == "Infinity" => "FF".into(),
        Value::String(s) => s.to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// Whether a physical range overlaps one of the plan's EPK ranges (`[min, max)`, with a point
/// range `min == max` meaning that one key).
fn overlaps(r: &PkRange, ranges: &[QueryRange]) -> bool {
    let (lo, hi) = (r.min.to_ascii_uppercase(), r.max.to_ascii_uppercase());
    ranges.iter().any(|q| {
        let (min, max) = (bound(&q.min), bound(&q.max));
        if min == max {
            min >= lo && min < hi
        } else {
            min < hi && max > lo
        }
    })
}

enum Owned {
    Key(Vec<Value>),
    Range(PkRange),
    Prefix(Vec<Value>, PkRange),
}

/// The container's physical ranges that overlap the plan's EPK ranges, read once; more than the
/// allowed fan-out is refused like the SDK refuses it.
async fn reached<'r>(
    rest: &Rest,
    request: &Request<'_>,
    query_ranges: &[QueryRange],
    cache: &'r mut Option<Vec<PkRange>>,
) -> Result<&'r [PkRange], CosmosError> {
    if cache.is_none() {
        let ranges: Vec<PkRange> = rest
            .partition_key_ranges(request.database, request.container)
            .await?
            .into_iter()
            .filter(|r| query_ranges.is_empty() || overlaps(r, query_ranges))
            .collect();
        let most = request.max_fan_out.unwrap_or(DEFAULT_MAX_FAN_OUT);
        if ranges.len() > most as usize {
            return Err(CosmosError::QueryShape {
                substatus: super::error::SUBSTATUS_FAN_OUT,
                message: format!(
                    "the query reaches {} physical partitions, more than the {most} allowed",
                    ranges.len()
                ),
            });
        }
        *cache = Some(ranges);
    }
    Ok(cache.as_deref().unwrap_or_default())
}

struct Ctx<'a> {
    rest: &'a Rest,
    request: &'a Request<'a>,
    body: &'a [u8],
}

/// One partition's stream: the page in hand and where the next one starts.
struct Cursor {
    target: Owned,
    buf: VecDeque<Value>,
    continuation: Option<String>,
    started: bool,
}

impl Cursor {
    fn new(target: Owned) -> Self {
        Self {
            target,
            buf: VecDeque::new(),
            continuation: None,
            started: false,
        }
    }

    fn done(&self) -> bool {
        self.started && self.continuation.is_none()
    }

    /// Fetches until a document is in hand or the partition is drained.
    async fn peek(
        &mut self,
        ctx: &Ctx<'_>,
        spent: &mut Spent<'_>,
    ) -> Result<Option<&Value>, CosmosError> {
        while self.buf.is_empty() && !self.done() {
            let target = match &self.target {
                Owned::Key(k) => Target::Key(k),
                Owned::Range(r) => Target::Range(&r.id),
                Owned::Prefix(k, r) => Target::PrefixInRange(k, &r.id),
            };
            let page = ctx
                .rest
                .query_page(
                    ctx.request.database,
                    ctx.request.container,
                    ctx.body,
                    target,
                    self.continuation.as_deref(),
                    ctx.request.page_size,
                )
                .await?;
            self.started = true;
            *spent.pages += 1;
            *spent.request_charge += page.charge;
            self.continuation = page.continuation;
            self.buf.extend(page.docs);
        }
        Ok(self.buf.front())
    }

    fn head(&self) -> Option<&Value> {
        self.buf.front()
    }

    fn take(&mut self) -> Option<Value> {
        self.buf.pop_front()
    }

    async fn next(
        &mut self,
        ctx: &Ctx<'_>,
        spent: &mut Spent<'_>,
    ) -> Result<Option<Value>, CosmosError> {
        self.peek(ctx, spent).await?;
        Ok(self.take())
    }
}

fn compare_order_items(
    left: Option<&Value>,
    right: Option<&Value>,
    orders: &[SortOrder],
) -> Ordering {
    let items = |doc: Option<&Value>| -> Vec<Option<Value>> {
        doc.and_then(|d| d.get("orderByItems"))
            .and_then(Value::as_array)
            .map(|list| list.iter().map(|i| i.get("item").cloned()).collect())
            .unwrap_or_default()
    };
    let (lefts, rights) = (items(left), items(right));
    for (i, order) in orders.iter().enumerate() {
        let ordering = compare_values(
            lefts.get(i).and_then(Option::as_ref),
            rights.get(i).and_then(Option::as_ref),
        );
        let ordering = if *order == SortOrder::Descending {
            ordering.reverse()
        } else {
            ordering
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

/// The service's order across types: undefined < null < booleans < numbers < strings < arrays <
/// objects; within a type, the natural order.
pub(crate) fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None => 0,
            Some(Value::Null) => 1,
            Some(Value::Bool(_)) => 2,
            Some(Value::Number(_)) => 3,
            Some(Value::String(_)) => 4,
            Some(Value::Array(_)) => 5,
            Some(Value::Object(_)) => 6,
        }
    }
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(x @ (Value::Array(_) | Value::Object(_))), Some(y))
            if rank(Some(x)) == rank(Some(y)) =>
        {
            canonical(x).cmp(&canonical(y))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

/// JSON with object keys sorted: equal values, equal text.
pub(crate) fn canonical(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Number(n) => {
            // 1 and 1.0 are the same number.
            match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    #[allow(clippy::cast_possible_truncation)]
                    out.push_str(&(f as i64).to_string());
                }
                _ => out.push_str(&n.to_string()),
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

/// One aggregate being put together from partial results.
#[derive(Debug)]
enum Aggregator {
    Count(Sum),
    /// `None`: undefined (a value that is not a number somewhere).
    Sum(Option<Sum>),
    Avg(Option<(f64, u64)>),
    /// The best value so far, or `Err(())` once some partition's was undefined.
    Min(Result<Option<Value>, ()>),
    Max(Result<Option<Value>, ()>),
}

/// A sum that stays an integer while every part is one.
#[derive(Debug, Clone, Copy)]
enum Sum {
    Int(i64),
    Float(f64),
}

impl Sum {
    #[allow(clippy::cast_precision_loss)]
    fn add(self, n: &Number) -> Sum {
        match (self, n.as_i64()) {
            (Sum::Int(a), Some(b)) => a
                .checked_add(b)
                .map_or(Sum::Float(a as f64 + b as f64), Sum::Int),
            (Sum::Int(a), None) => Sum::Float(a as f64 + n.as_f64().unwrap_or(0.0)),
            (Sum::Float(a), _) => Sum::Float(a + n.as_f64().unwrap_or(0.0)),
        }
    }

    fn value(self) -> Option<Value> {
        match self {
            Sum::Int(i) => Some(Value::from(i)),
            Sum::Float(f) => Number::from_f64(f).map(Value::Number),
        }
    }
}

impl Aggregator {
    fn new(kind: &str) -> Self {
        match kind.to_ascii_lowercase().as_str() {
            "count" => Aggregator::Count(Sum::Int(0)),
            "sum" => Aggregator::Sum(Some(Sum::Int(0))),
            "average" | "avg" => Aggregator::Avg(Some((0.0, 0))),
            "min" => Aggregator::Min(Ok(None)),
            _ => Aggregator::Max(Ok(None)),
        }
    }

    /// Adds one partition's partial result: the object `{"item": …}` the rewritten query puts
    /// each aggregate in (MIN and MAX also carry `"item2": {"min"|"max", "count"}`), `None`
    /// when the partition gave nothing.
    fn add(&mut self, part: Option<&Value>) -> Result<(), CosmosError> {
        let item = part.and_then(|p| p.get("item"));
        let want = if matches!(self, Aggregator::Min(_)) {
            Ordering::Less
        } else {
            Ordering::Greater
        };
        match self {
            Aggregator::Count(total) => match item {
                Some(Value::Number(n)) => *total = total.add(n),
                None => {}
                Some(_) => {
                    return Err(CosmosError::Service {
                        status: 200,
                        substatus: None,
                        message: "a partition answered a count that is not a number".into(),
                    });
                }
            },
            // Undefined in one partition (a value there that is not a number) is undefined for
            // the whole.
            Aggregator::Sum(total) => match (item, total.as_mut()) {
                (Some(Value::Number(n)), Some(t)) => *t = t.add(n),
                _ => *total = None,
            },
            Aggregator::Avg(acc) => {
                let sum = item.and_then(|p| p.get("sum"));
                let count = item.and_then(|p| p.get("count")).and_then(Value::as_u64);
                match (sum, count, acc.as_mut()) {
                    (_, Some(0), _) => {}
                    (Some(Value::Number(s)), Some(c), Some((total, n))) => {
                        *total += s.as_f64().unwrap_or(f64::NAN);
                        *n += c;
                    }
                    _ => *acc = None,
                }
            }
            Aggregator::Min(best) | Aggregator::Max(best) => {
                let value = match part.and_then(|p| p.get("item2")) {
                    // `count` values were seen there: undefined with a count means a value
                    // that cannot be ordered (an object or array), so the whole is undefined.
                    Some(detail) => {
                        let count = detail.get("count").and_then(Value::as_u64).unwrap_or(0);
                        match (count, detail.get("min").or_else(|| detail.get("max"))) {
                            (0, _) => return Ok(()),
                            (_, None) => {
                                *best = Err(());
                                return Ok(());
                            }
                            (_, Some(v)) => v.clone(),
                        }
                    }
                    None => match item {
                        None => return Ok(()),
                        Some(v) => v.clone(),
                    },
                };
                if let Ok(slot) = best
                    && slot
                        .as_ref()
                        .is_none_or(|b| compare_values(Some(&value), Some(b)) == want)
                {
                    *slot = Some(value);
                }
            }
        }
        Ok(())
    }

    #[allow(clippy::cast_precision_loss)]
    fn finish(self) -> Option<Value> {
        match self {
            Aggregator::Count(total) => total.value(),
            Aggregator::Sum(total) => total.and_then(Sum::value),
            Aggregator::Avg(acc) => acc
                .filter(|(_, n)| *n > 0)
                .and_then(|(s, n)| Number::from_f64(s / n as f64))
                .map(Value::Number),
            Aggregator::Min(best) | Aggregator::Max(best) => best.ok().flatten(),
        }
    }
}

/// GROUP BY (and aggregates without VALUE, which are one group): rows merged by their group
/// keys, in the order the groups were first seen.
struct Groups<'a> {
    info: &'a QueryInfo,
    index: HashMap<String, usize>,
    rows: Vec<Group>,
}

enum Group {
    /// `SELECT VALUE expr … GROUP BY`: the first value seen.
    Value(Value),
    /// `SELECT VALUE aggregate … GROUP BY`.
    Aggregate(Aggregator),
    /// Named columns: a group key's value, or an aggregate.
    Columns(Vec<(String, Column)>),
}

enum Column {
    Plain(Option<Value>),
    Aggregate(Aggregator),
}

impl<'a> Groups<'a> {
    fn new(info: &'a QueryInfo) -> Self {
        Self {
            info,
            index: HashMap::new(),
            rows: Vec::new(),
        }
    }

    fn add(&mut self, mut doc: Value) -> Result<(), CosmosError> {
        let key = doc
            .get("groupByItems")
            .map_or_else(|| "[]".to_string(), canonical);
        let payload = doc.get_mut("payload").map(Value::take);
        let info = self.info;
        let slot = if let Some(&i) = self.index.get(&key) {
            &mut self.rows[i]
        } else {
            let row = if info.has_select_value && !info.aggregates.is_empty() {
                Group::Aggregate(Aggregator::new(&info.aggregates[0]))
            } else if info.has_select_value {
                // The first row of a group is its value; later ones are the same.
                match payload.clone() {
                    Some(v) => Group::Value(v),
                    None => return Ok(()),
                }
            } else {
                let mut columns = Vec::new();
                let names: Vec<String> = if info.group_by_aliases.is_empty() {
                    payload
                        .as_ref()
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default()
                } else {
                    info.group_by_aliases.clone()
                };
                for name in names {
                    let column = match info.group_by_alias_to_aggregate_type.get(&name) {
                        Some(Value::String(kind)) => Column::Aggregate(Aggregator::new(kind)),
                        _ => Column::Plain(None),
                    };
                    columns.push((name, column));
                }
                Group::Columns(columns)
            };
            self.index.insert(key, self.rows.len());
            self.rows.push(row);
            self.rows.last_mut().unwrap_or_else(|| unreachable!())
        };
        match slot {
            Group::Value(_) => {}
            Group::Aggregate(agg) => {
                let part = payload
                    .as_ref()
                    .and_then(|p| p.as_array())
                    .and_then(|a| a.first());
                agg.add(part)?;
            }
            Group::Columns(columns) => {
                let payload = payload.as_ref().and_then(Value::as_object);
                for (name, column) in columns {
                    let part = payload.and_then(|p| p.get(name.as_str()));
                    match column {
                        Column::Aggregate(agg) => agg.add(part)?,
                        Column::Plain(v) => {
                            if v.is_none() {
                                *v = part.cloned();
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Vec<Value> {
        self.rows
            .into_iter()
            .filter_map(|row| match row {
                Group::Value(v) => Some(v),
                Group::Aggregate(agg) => agg.finish(),
                Group::Columns(columns) => {
                    let mut out = Map::new();
                    for (name, column) in columns {
                        let v = match column {
                            Column::Plain(v) => v,
                            Column::Aggregate(agg) => agg.finish(),
                        };
                        if let Some(v) = v {
                            out.insert(name, v);
                        }
                    }
                    Some(Value::Object(out))
                }
            })
            .collect()
    }
}

/// What happens to the merged stream: DISTINCT, COUNT of DISTINCT, OFFSET, then LIMIT and TOP.
struct Post {
    distinct: DistinctType,
    seen: HashSet<String>,
    last: Option<String>,
    dcount: Option<(String, u64)>,
    skip: u64,
    take: Option<u64>,
}

impl Post {
    fn new(info: &QueryInfo) -> Self {
        let take = match (info.limit, info.top) {
            (Some(l), Some(t)) => Some(l.min(t)),
            (l, t) => l.or(t),
        };
        Self {
            distinct: info.distinct_type,
            seen: HashSet::new(),
            last: None,
            dcount: info
                .d_count_info
                .as_ref()
                .map(|d| (d.d_count_alias.clone(), 0)),
            skip: info.offset.unwrap_or(0),
            take,
        }
    }

    /// Passes `batch` on; answers whether more is wanted.
    fn feed<E>(
        &mut self,
        batch: Vec<Value>,
        emit: &mut impl FnMut(Vec<Value>) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let mut out = Vec::with_capacity(batch.len());
        for v in batch {
            match self.distinct {
                DistinctType::None => {}
                DistinctType::Unordered => {
                    if !self.seen.insert(canonical(&v)) {
                        continue;
                    }
                }
                DistinctType::Ordered => {
                    let c = canonical(&v);
                    if self.last.as_ref() == Some(&c) {
                        continue;
                    }
                    self.last = Some(c);
                }
            }
            if let Some((_, n)) = &mut self.dcount {
                *n += 1;
                continue;
            }
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            if self.take == Some(0) {
                break;
            }
            if let Some(t) = &mut self.take {
                *t -= 1;
            }
            out.push(v);
        }
        let more = self.take != Some(0);
        if !out.is_empty() && !emit(out)? {
            return Ok(false);
        }
        Ok(more)
    }

    fn finish<E>(&mut self, emit: &mut impl FnMut(Vec<Value>) -> Result<bool, E>) -> Result<(), E> {
        if let Some((alias, n)) = self.dcount.take() {
            let v = if alias.is_empty() {
                Value::from(n)
            } else {
                let mut m = Map::new();
                m.insert(alias, Value::from(n));
                Value::Object(m)
            };
            self.feed(vec![v], emit)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(kind: &str, parts: &[Value]) -> Option<Value> {
        let mut a = Aggregator::new(kind);
        for p in parts {
            a.add(Some(p)).expect("adds");
        }
        a.finish()
    }

    #[test]
    fn partial_aggregates_merge_like_the_service() {
        assert_eq!(
            merged("Count", &[json!({"item": 2}), json!({"item": 3})]),
            Some(json!(5))
        );
        assert_eq!(
            merged("Sum", &[json!({"item": 2}), json!({"item": 1.5})]),
            Some(json!(3.5))
        );
        // A partition where SUM was undefined makes the whole undefined.
        assert_eq!(merged("Sum", &[json!({"item": 2}), json!({})]), None);
        assert_eq!(
            merged(
                "Average",
                &[
                    json!({"item": {"sum": 6, "count": 2}}),
                    json!({"item": {"sum": 0, "count": 0}}),
                    json!({"item": {"sum": 4, "count": 2}})
                ]
            ),
            Some(json!(2.5))
        );
        let min = |v: Value, n: u64| json!({"item": v, "item2": {"min": v, "count": n}});
        assert_eq!(
            merged(
                "Min",
                &[
                    min(json!(5), 1),
                    json!({"item2": {"count": 0}}),
                    min(json!(2), 3)
                ]
            ),
            Some(json!(2))
        );
        // Types order: a number is below a string.
        assert_eq!(
            merged("Min", &[min(json!("a"), 1), min(json!(9), 1)]),
            Some(json!(9))
        );
        // Undefined with values seen (an object there): undefined for the whole.
        assert_eq!(
            merged("Min", &[min(json!(1), 1), json!({"item2": {"count": 2}})]),
            None
        );
        assert_eq!(
            merged("Max", &[json!({"item": 1}), json!({"item": 7})]),
            Some(json!(7))
        );
        assert_eq!(merged("Max", &[json!({}), json!({})]), None);
    }

    #[test]
    fn values_order_across_types() {
        let order = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1),
            json!(2.5),
            json!(""),
            json!("a"),
        ];
        assert_eq!(compare_values(None, Some(&order[0])), Ordering::Less);
        for w in order.windows(2) {
            assert_eq!(
                compare_values(Some(&w[0]), Some(&w[1])),
                Ordering::Less,
                "{w:?}"
            );
        }
        assert_eq!(
            canonical(&json!({"b": 1, "a": [1.0, {"d": 2, "c": 3}]})),
            r#"{"a":[1,{"c":3,"d":2}],"b":1}"#
        );
    }

    #[test]
    fn groups_merge_by_key_and_keep_first_seen_order() {
        let info = QueryInfo {
            group_by_expressions: vec!["c.s".into()],
            group_by_aliases: vec!["s".into(), "n".into(), "t".into()],
            group_by_alias_to_aggregate_type: json!({"n": "Count", "s": null, "t": "Sum"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            ..QueryInfo::default()
        };
        let mut g = Groups::new(&info);
        let row = |s: &str, n: u64, t: f64| json!({"groupByItems": [{"item": s}], "payload": {"s": s, "n": {"item": n}, "t": {"item": t}}});
        for doc in [row("b", 1, 2.0), row("a", 2, 1.0), row("b", 3, 0.5)] {
            g.add(doc).expect("adds");
        }
        assert_eq!(
            g.finish(),
            vec![
                json!({"s": "b", "n": 4, "t": 2.5}),
                json!({"s": "a", "n": 2, "t": 1.0})
            ]
        );
    }

    #[test]
    fn distinct_offset_limit_and_dcount_apply_after_the_merge() {
        let info = QueryInfo {
            distinct_type: DistinctType::Unordered,
            offset: Some(1),
            limit: Some(2),
            ..QueryInfo::default()
        };
        let mut post = Post::new(&info);
        let mut got = Vec::new();
        let mut emit = |b: Vec<Value>| -> Result<bool, CosmosError> {
            got.extend(b);
            Ok(true)
        };
        let more = post
            .feed(
                vec![json!(1), json!(1), json!(2), json!(3), json!(2), json!(4)],
                &mut emit,
            )
            .expect("feeds");
        assert!(!more);
        assert_eq!(got, vec![json!(2), json!(3)]);

        let info = QueryInfo {
            distinct_type: DistinctType::Unordered,
            d_count_info: Some(DCountInfo {
                d_count_alias: "n".into(),
            }),
            ..QueryInfo::default()
        };
        let mut post = Post::new(&info);
        let mut got = Vec::new();
        let mut emit = |b: Vec<Value>| -> Result<bool, CosmosError> {
            got.extend(b);
            Ok(true)
        };
        post.feed(vec![json!("x"), json!("y"), json!("x")], &mut emit)
            .expect("feeds");
        post.finish(&mut emit).expect("finishes");
        assert_eq!(got, vec![json!({"n": 2})]);
    }
}
