//! DynamoDB as the [`ItemStore`]: conditional single-item writes, batched puts, queries on the table and its GSIs.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt;

use super::sdk_error;
use crate::ports::*;

type AvMap = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoItemStore {
    client: Client,
    table: String,
    indexes: &'static [IndexDef],
}

/// Creates a table with the project's key schema (`pk`/`sk` strings), on-demand billing and the given GSIs
/// (projection ALL) — what template.yaml declares; used by tests and local tooling against emulators.
pub async fn create_table(client: &Client, name: &str, indexes: &[IndexDef]) -> PortResult<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
        ScalarAttributeType,
    };
    let invalid = |e: aws_sdk_dynamodb::error::BuildError| PortError::permanent("dynamodb", e.to_string());
    let attr = |n: &str| {
        AttributeDefinition::builder().attribute_name(n).attribute_type(ScalarAttributeType::S).build().map_err(invalid)
    };
    let key = |n: &str, t| KeySchemaElement::builder().attribute_name(n).key_type(t).build().map_err(invalid);
    let mut req = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    for idx in indexes {
        let gsi = GlobalSecondaryIndex::builder()
            .index_name(idx.name)
            .key_schema(key(idx.pk_attr, KeyType::Hash)?)
            .key_schema(key(idx.sk_attr, KeyType::Range)?)
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .map_err(invalid)?;
        req = req
            .attribute_definitions(attr(idx.pk_attr)?)
            .attribute_definitions(attr(idx.sk_attr)?)
            .global_secondary_indexes(gsi);
    }
    req.send().await.map_err(|e| sdk_error("dynamodb", &e))?;
    Ok(())
}

impl DynamoItemStore {
    pub fn new(client: Client, table: impl Into<String>, indexes: &'static [IndexDef]) -> Self {
        Self { client, table: table.into(), indexes }
    }

    /// One `BatchWriteItem` of at most 25 puts, sending again what DynamoDB left unprocessed (with backoff).
    async fn batch_write_chunk(&self, mut pending: Vec<WriteRequest>) -> PortResult<()> {
        const MAX_ATTEMPTS: u32 = 6;
        let mut attempt = 0;
        while !pending.is_empty() {
            if attempt == MAX_ATTEMPTS {
                return Err(PortError::transient("dynamodb", "unprocessed items after retries"));
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
            }
            attempt += 1;
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", &e))?;
            pending = out.unprocessed_items.and_then(|mut m| m.remove(&self.table)).unwrap_or_default();
        }
        Ok(())
    }
}

fn to_av(item: Item) -> PortResult<AvMap> {
    serde_dynamo::to_item(item).map_err(|e| PortError::permanent("dynamodb", format!("item not representable: {e}")))
}

fn from_av(item: AvMap) -> PortResult<Item> {
    serde_dynamo::from_item(item).map_err(|e| PortError::permanent("dynamodb", format!("item not readable: {e}")))
}

fn json_to_av(v: &serde_json::Value) -> PortResult<AttributeValue> {
    serde_dynamo::to_attribute_value(v).map_err(|e| PortError::permanent("dynamodb", e.to_string()))
}

/// (expression, names, values) for a condition; `None` for [`Condition::Always`].
fn condition_parts(c: &Condition) -> PortResult<Option<(String, AvMap, AvMap)>> {
    Ok(match c {
        Condition::Always => None,
        Condition::NotExists => Some(("attribute_not_exists(#pk)".into(), AvMap::new(), AvMap::new())),
        Condition::NewerThan { attr, value } => Some((
            "attribute_not_exists(#pk) OR attribute_not_exists(#c) OR #c < :c".into(),
            AvMap::from([("#c".to_owned(), AttributeValue::S((*attr).to_owned()))]),
            AvMap::from([(":c".to_owned(), AttributeValue::S(value.clone()))]),
        )),
        Condition::Equals { attr, value } => Some((
            "#c = :c".into(),
            AvMap::from([("#c".to_owned(), AttributeValue::S((*attr).to_owned()))]),
            AvMap::from([(":c".to_owned(), json_to_av(value)?)]),
        )),
    })
}

/// Expression attribute names must be strings; the helper above builds them as `AttributeValue::S`.
fn names_of(m: AvMap, with_pk: bool) -> HashMap<String, String> {
    let mut out: HashMap<String, String> =
        m.into_iter().filter_map(|(k, v)| v.as_s().ok().map(|s| (k, s.clone()))).collect();
    if with_pk {
        out.insert("#pk".into(), PK.into());
    }
    out
}

fn key(pk: &str, sk: &str) -> AvMap {
    AvMap::from([(PK.to_owned(), AttributeValue::S(pk.to_owned())), (SK.to_owned(), AttributeValue::S(sk.to_owned()))])
}

/// A conditional write's result: a failed condition is an outcome, not an error; an item over DynamoDB's
/// 400 KB limit can never be written (permanent: poison, not retry); everything else maps as [`sdk_error`].
/// A macro because PutItem and UpdateItem each have their own error type.
macro_rules! write_outcome {
    ($result:expr) => {
        match $result {
            Ok(_) => Ok(WriteOutcome::Applied),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(WriteOutcome::ConditionFailed)
            }
            Err(e) => {
                let err = sdk_error("dynamodb", &e);
                if e.as_service_error()
                    .and_then(|s| aws_sdk_dynamodb::error::ProvideErrorMetadata::message(s))
                    .is_some_and(|m| m.contains("Item size"))
                {
                    return Err(PortError::permanent("dynamodb", err.to_string()));
                }
                Err(err)
            }
        }
    };
}

/// A single-item write's condition as the request takes it: expression, names and values (each `None` when empty).
type ConditionRequest = (Option<String>, Option<HashMap<String, String>>, Option<AvMap>);

fn condition_request(condition: &Condition) -> PortResult<ConditionRequest> {
    Ok(match condition_parts(condition)? {
        None => (None, None, None),
        Some((expr, names, values)) => {
            let uses_pk = expr.contains("#pk");
            let names = Some(names_of(names, uses_pk)).filter(|m| !m.is_empty());
            (Some(expr), names, Some(values).filter(|m| !m.is_empty()))
        }
    })
}

/// An update as the request takes it: update expression, condition expression, and the names and values both use
/// (each `None` when empty).
struct UpdateRequest {
    update: Option<String>,
    condition: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<AvMap>,
}

fn update_request(set: Item, remove: &[&'static str], condition: &Condition) -> PortResult<UpdateRequest> {
    let mut names = HashMap::new();
    let mut values = AvMap::new();
    let mut sets = Vec::new();
    for (i, (attr, value)) in set.into_iter().enumerate() {
        if attr == PK || attr == SK {
            continue;
        }
        names.insert(format!("#u{i}"), attr);
        values.insert(format!(":u{i}"), json_to_av(&value)?);
        sets.push(format!("#u{i} = :u{i}"));
    }
    let mut expr = String::new();
    if !sets.is_empty() {
        expr = format!("SET {}", sets.join(", "));
    }
    if !remove.is_empty() {
        let removes: Vec<String> = remove
            .iter()
            .enumerate()
            .map(|(i, attr)| {
                names.insert(format!("#r{i}"), (*attr).to_owned());
                format!("#r{i}")
            })
            .collect();
        expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    let mut condition_expr = None;
    if let Some((cexpr, cnames, cvalues)) = condition_parts(condition)? {
        let uses_pk = cexpr.contains("#pk");
        names.extend(names_of(cnames, uses_pk));
        values.extend(cvalues);
        condition_expr = Some(cexpr);
    }
    let expr = expr.trim().to_owned();
    Ok(UpdateRequest {
        update: Some(expr).filter(|e| !e.is_empty()),
        condition: condition_expr,
        names: Some(names).filter(|m| !m.is_empty()),
        values: Some(values).filter(|m| !m.is_empty()),
    })
}

impl DynamoItemStore {
    /// [`ItemStore::update`] with companion items: one `TransactWriteItems` of the update and the puts. A cancelled
    /// transaction whose reasons include the update's failed condition is [`WriteOutcome::ConditionFailed`].
    async fn transact_update(
        &self,
        pk: &str,
        sk: &str,
        request: UpdateRequest,
        puts: Vec<Item>,
    ) -> PortResult<WriteOutcome> {
        use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| PortError::permanent("dynamodb", e.to_string());
        atomic_put_keys((pk, sk), &puts)?;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .set_update_expression(request.update)
            .set_condition_expression(request.condition)
            .set_expression_attribute_names(request.names)
            .set_expression_attribute_values(request.values)
            .build()
            .map_err(invalid)?;
        let mut req =
            self.client.transact_write_items().transact_items(TransactWriteItem::builder().update(update).build());
        for item in puts {
            let put = Put::builder().table_name(&self.table).set_item(Some(to_av(item)?)).build().map_err(invalid)?;
            req = req.transact_items(TransactWriteItem::builder().put(put).build());
        }
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        let e = match req.send().await {
            Ok(_) => return Ok(WriteOutcome::Applied),
            Err(e) => e,
        };
        let reasons = match e.as_service_error() {
            Some(E::TransactionCanceledException(c)) => c.cancellation_reasons(),
            _ => &[],
        };
        if reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed")) {
            return Ok(WriteOutcome::ConditionFailed);
        }
        let too_big = reasons.iter().filter_map(|r| r.message()).any(|m| m.contains("Item size"))
            || e.as_service_error()
                .and_then(|s| aws_sdk_dynamodb::error::ProvideErrorMetadata::message(s))
                .is_some_and(|m| m.contains("Item size"));
        let err = sdk_error("dynamodb", &e);
        if too_big { Err(PortError::permanent("dynamodb", err.to_string())) } else { Err(err) }
    }
}

impl ItemStore for DynamoItemStore {
    async fn put(&self, item: Item, condition: Condition) -> PortResult<WriteOutcome> {
        let req = self.client.put_item().table_name(&self.table).set_item(Some(to_av(item)?));
        let (expr, names, values) = condition_request(&condition)?;
        let req = req
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values);
        write_outcome!(req.send().await)
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> PortResult<WriteOutcome> {
        let key = HashMap::from([
            (PK.to_owned(), AttributeValue::S(pk.to_owned())),
            (SK.to_owned(), AttributeValue::S(sk.to_owned())),
        ]);
        let req = self.client.delete_item().table_name(&self.table).set_key(Some(key));
        let (expr, names, values) = condition_request(&condition)?;
        let req = req
            .set_condition_expression(expr)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values);
        write_outcome!(req.send().await)
    }

    async fn update(
        &self,
        pk: &str,
        sk: &str,
        set: Item,
        remove: &[&'static str],
        condition: Condition,
        puts: Vec<Item>,
    ) -> PortResult<WriteOutcome> {
        let request = update_request(set, remove, &condition)?;
        if puts.is_empty() {
            let req = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .set_update_expression(request.update)
                .set_condition_expression(request.condition)
                .set_expression_attribute_names(request.names)
                .set_expression_attribute_values(request.values);
            return write_outcome!(req.send().await);
        }
        self.transact_update(pk, sk, request, puts).await
    }

    async fn get(&self, pk: &str, sk: &str) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("dynamodb", &e))?;
        out.item.map(from_av).transpose()
    }

    async fn batch_put(&self, items: Vec<Item>) -> PortResult<()> {
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let put = PutRequest::builder()
                .set_item(Some(to_av(item)?))
                .build()
                .map_err(|e| PortError::permanent("dynamodb", e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        // The chunks go out at once: a batch put waits one round trip (plus its retries), not one per 25 items.
        // (Built in a loop: futures made in a `map` closure borrow through a higher-ranked lifetime, and rustc then
        // cannot prove the future `Send`.)
        let mut calls = Vec::with_capacity(requests.len().div_ceil(25));
        for chunk in requests.chunks(25) {
            calls.push(self.batch_write_chunk(chunk.to_vec()));
        }
        let results: Vec<PortResult<()>> =
            futures::stream::iter(calls).buffer_unordered(crate::batch::MAX_IN_FLIGHT).collect().await;
        results.into_iter().collect()
    }

    async fn query(&self, query: Query) -> PortResult<Vec<Item>> {
        let mut names = HashMap::from([("#p".to_owned(), PK.to_owned())]);
        let mut values = AvMap::from([(":p".to_owned(), AttributeValue::S(query.pk.clone()))]);
        let (pk_attr, sk_attr) = match query.index {
            None => (PK.to_owned(), SK.to_owned()),
            Some(name) => {
                let idx = self
                    .indexes
                    .iter()
                    .find(|i| i.name == name)
                    .ok_or_else(|| PortError::permanent("dynamodb", format!("no index {name}")))?;
                (idx.pk_attr.to_owned(), idx.sk_attr.to_owned())
            }
        };
        names.insert("#p".into(), pk_attr);
        let mut expr = "#p = :p".to_owned();
        if let Some((lo, hi)) = &query.sk_between {
            names.insert("#s".into(), sk_attr.clone());
            values.insert(":lo".into(), AttributeValue::S(lo.clone()));
            values.insert(":hi".into(), AttributeValue::S(hi.clone()));
            expr.push_str(" AND #s BETWEEN :lo AND :hi");
        } else if let Some(prefix) = &query.sk_prefix {
            names.insert("#s".into(), sk_attr.clone());
            values.insert(":pre".into(), AttributeValue::S(prefix.clone()));
            expr.push_str(" AND begins_with(#s, :pre)");
        }
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.map(str::to_owned))
                .key_condition_expression(&expr)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("dynamodb", &e))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_av(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || query.limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        if let Some(limit) = query.limit {
            out.truncate(limit);
        }
        Ok(out)
    }
}
