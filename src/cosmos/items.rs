//! Point operations (get, upsert, delete) and listing databases and containers.
//!
//! An upsert never blindly overwrites: it reads first, then creates (a concurrent create then
//! fails with 409 instead of being overwritten) or replaces with `If-Match` on the etag it read
//! (a concurrent change then fails with 412). A failed write is reported, never retried into a
//! duplicate.

use azure_data_cosmos::PartitionKey;
use azure_data_cosmos::clients::ContainerClient;
use azure_data_cosmos::models::PartitionKeyValue;
use azure_data_cosmos::options::{ItemWriteOptions, Precondition};
use futures::StreamExt as _;
use serde_json::Value;

use super::client::Cosmos;
use super::error::{CosmosError, Resource};

/// Turns a partition-key value — `"t1"`, `42`, `true`, `null`, or a hierarchical `["a", 1]` given
/// as its components — into the SDK's key. `{}` is "undefined" (documents without the key).
pub fn partition_key(components: &[Value]) -> Result<PartitionKey, CosmosError> {
    let values = components
        .iter()
        .map(component)
        .collect::<Result<Vec<_>, _>>()?;
    match values.len() {
        0 => Err(CosmosError::PartitionKey("an empty partition key".into())),
        1 => Ok(PartitionKey::from(
            values.into_iter().next().unwrap_or(PartitionKeyValue::NULL),
        )),
        _ => PartitionKey::try_from(values).map_err(|e| CosmosError::PartitionKey(e.to_string())),
    }
}

fn component(v: &Value) -> Result<PartitionKeyValue, CosmosError> {
    match v {
        Value::String(s) => Ok(PartitionKeyValue::from(s.clone())),
        Value::Bool(b) => Ok(PartitionKeyValue::from(*b)),
        Value::Null => Ok(PartitionKeyValue::NULL),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(PartitionKeyValue::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(PartitionKeyValue::from(u))
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                PartitionKeyValue::try_from(f).map_err(|e| CosmosError::PartitionKey(e.to_string()))
            }
        }
        Value::Object(o) if o.is_empty() => Ok(PartitionKeyValue::UNDEFINED),
        other => Err(CosmosError::PartitionKey(format!(
            "{other} is not a string, number, boolean, null or {{}}"
        ))),
    }
}

/// A `--partition-key` argument: one JSON value, or a JSON array of the components of a
/// hierarchical key.
pub fn parse_partition_key_arg(raw: &str) -> Result<Vec<Value>, String> {
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        format!("--partition-key must be JSON (a string needs quotes: '\"t1\"'): {e}")
    })?;
    Ok(match v {
        Value::Array(parts) => parts,
        one => vec![one],
    })
}

/// Where an item lives.
#[derive(Debug, Clone)]
pub struct ItemRef {
    pub database: String,
    pub container: String,
    pub partition_key: Vec<Value>,
    pub id: String,
}

impl ItemRef {
    fn resource(&self) -> Resource {
        Resource::Item {
            database: self.database.clone(),
            container: self.container.clone(),
            id: self.id.clone(),
        }
    }
}

async fn container(cosmos: &Cosmos, item: &ItemRef) -> Result<ContainerClient, CosmosError> {
    cosmos
        .client
        .database_client(item.database.as_str())
        .container_client(item.container.as_str(), None)
        .await
        .map_err(|e| {
            CosmosError::from_sdk(
                &e,
                Resource::Container {
                    database: item.database.clone(),
                    container: item.container.clone(),
                },
                &cosmos.endpoint,
            )
        })
}

fn charge(h: &azure_data_cosmos::models::ResponseHeaders) -> f64 {
    h.request_charge().map_or(0.0, |c| c.value())
}

/// Reads one item; `Ok(None)` when it does not exist (the container does).
pub async fn get(
    cosmos: &Cosmos,
    item: &ItemRef,
) -> Result<Option<(Value, Option<String>, f64)>, CosmosError> {
    let c = container(cosmos, item).await?;
    let pk = partition_key(&item.partition_key)?;
    match c.read_item(pk, &item.id, None).await {
        Ok(resp) => {
            let rc = charge(resp.headers());
            let etag = resp.headers().etag().map(ToString::to_string);
            let doc: Value = resp
                .into_model()
                .map_err(|e| CosmosError::from_sdk(&e, item.resource(), &cosmos.endpoint))?;
            Ok(Some((doc, etag, rc)))
        }
        Err(e) => match CosmosError::from_sdk(&e, item.resource(), &cosmos.endpoint) {
            CosmosError::NotFound {
                resource: Resource::Item { .. },
            } => Ok(None),
            other => Err(other),
        },
    }
}

/// What an upsert will do, decided by reading first.
#[derive(Debug, Clone)]
pub enum UpsertTarget {
    /// Nothing there: create (409 if someone else creates it meanwhile).
    Create,
    /// An item exists: replace it only if it is still the version read (412 otherwise).
    Replace { etag: Option<String> },
}

/// What an upsert will do, the stored item it replaces (if any), and the read's charge.
pub async fn upsert_target(
    cosmos: &Cosmos,
    item: &ItemRef,
) -> Result<(UpsertTarget, Option<Value>, f64), CosmosError> {
    Ok(match get(cosmos, item).await? {
        None => (UpsertTarget::Create, None, 0.0),
        Some((current, etag, rc)) => (UpsertTarget::Replace { etag }, Some(current), rc),
    })
}

/// Writes `document` as `target` decided. One attempt: a failure is reported, not retried.
pub async fn write(
    cosmos: &Cosmos,
    item: &ItemRef,
    document: &Value,
    target: &UpsertTarget,
) -> Result<f64, CosmosError> {
    let c = container(cosmos, item).await?;
    let pk = partition_key(&item.partition_key)?;
    let result = match target {
        UpsertTarget::Create => c.create_item(pk, &item.id, document, None).await,
        UpsertTarget::Replace { etag, .. } => {
            let options = etag.as_ref().map(|e| {
                ItemWriteOptions::default()
                    .with_precondition(Precondition::IfMatch(e.clone().into()))
            });
            c.replace_item(pk, &item.id, document, options).await
        }
    };
    result
        .map(|r| charge(r.headers()))
        .map_err(|e| CosmosError::from_sdk(&e, item.resource(), &cosmos.endpoint))
}

/// Deletes one item; a missing item is `NotFound`.
pub async fn delete(cosmos: &Cosmos, item: &ItemRef) -> Result<f64, CosmosError> {
    let c = container(cosmos, item).await?;
    let pk = partition_key(&item.partition_key)?;
    c.delete_item(pk, &item.id, None)
        .await
        .map(|r| charge(r.headers()))
        .map_err(|e| CosmosError::from_sdk(&e, item.resource(), &cosmos.endpoint))
}

/// The ids of the account's databases.
pub async fn list_databases(cosmos: &Cosmos) -> Result<Vec<String>, CosmosError> {
    let sdk = |e: &azure_data_cosmos::CosmosError| {
        CosmosError::from_sdk(e, Resource::Account, &cosmos.endpoint)
    };
    let mut it = cosmos
        .client
        .query_databases("SELECT * FROM root", None)
        .await
        .map_err(|e| sdk(&e))?;
    let mut out = Vec::new();
    while let Some(db) = it.next().await {
        if let Some(id) = db.map_err(|e| sdk(&e))?.id {
            out.push(id);
        }
    }
    out.sort();
    Ok(out)
}

/// One container's partition-key paths, from a read of that container alone: what a data-plane
/// role assigned on the container allows (listing the database's containers needs the role at
/// database scope).
pub async fn container_partition_key_paths(
    cosmos: &Cosmos,
    database: &str,
    container: &str,
) -> Result<Vec<String>, CosmosError> {
    let resource = Resource::Container {
        database: database.to_string(),
        container: container.to_string(),
    };
    let sdk = |e: &azure_data_cosmos::CosmosError| {
        CosmosError::from_sdk(e, resource.clone(), &cosmos.endpoint)
    };
    let properties = cosmos
        .client
        .database_client(database)
        .container_client(container, None)
        .await
        .map_err(|e| sdk(&e))?
        .read(None)
        .await
        .map_err(|e| sdk(&e))?
        .into_model()
        .map_err(|e| sdk(&e))?;
    Ok(properties
        .partition_key
        .paths()
        .iter()
        .map(ToString::to_string)
        .collect())
}

/// The containers of a database: id and partition-key paths.
pub async fn list_containers(
    cosmos: &Cosmos,
    database: &str,
) -> Result<Vec<(String, Vec<String>)>, CosmosError> {
    let sdk = |e: &azure_data_cosmos::CosmosError| {
        CosmosError::from_sdk(
            e,
            Resource::Database {
                database: database.to_string(),
            },
            &cosmos.endpoint,
        )
    };
    let mut it = cosmos
        .client
        .database_client(database)
        .query_containers("SELECT * FROM root", None)
        .await
        .map_err(|e| sdk(&e))?;
    let mut out = Vec::new();
    while let Some(c) = it.next().await {
        let c = c.map_err(|e| sdk(&e))?;
        let paths = c
            .partition_key
            .paths()
            .iter()
            .map(ToString::to_string)
            .collect();
        out.push((c.id.to_string(), paths));
    }
    out.sort();
    Ok(out)
}

#[allow(clippy::result_unit_err)] // the one failure is "cannot be matched up"; callers word it
/// Copies the value at `path` in `from` (if any) into `to`, creating objects on the way; `Err` when
/// a step is not an object on either side (an array's elements cannot be matched up safely).
pub fn carry_over(from: &Value, to: &mut Value, path: &[String]) -> Result<(), ()> {
    let Some((first, rest)) = path.split_first() else {
        *to = from.clone();
        return Ok(());
    };
    let (Value::Object(src), Value::Object(dst)) = (from, &mut *to) else {
        return Err(());
    };
    match src.get(first) {
        None => {
            dst.remove(first);
            Ok(())
        }
        Some(v) if rest.is_empty() => {
            dst.insert(first.clone(), v.clone());
            Ok(())
        }
        Some(v) => {
            let next = dst
                .entry(first.clone())
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            carry_over(v, next, rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_key_args() {
        assert_eq!(
            parse_partition_key_arg("\"t1\"").expect("ok"),
            vec![Value::from("t1")]
        );
        assert_eq!(
            parse_partition_key_arg("[\"a\", 1]").expect("ok"),
            vec![Value::from("a"), Value::from(1)]
        );
        assert!(
            parse_partition_key_arg("t1")
                .unwrap_err()
                .contains("quotes")
        );
        assert!(partition_key(&[Value::from("t1")]).is_ok());
        assert!(partition_key(&[serde_json::json!([1])]).is_err());
        assert!(partition_key(&[]).is_err());
    }
}
