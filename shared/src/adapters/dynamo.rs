//! DynamoDB adapter: one table, typed keys.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | conversation | `CONV#{id}` | `CONV` |
//! | message (in or out) | `CONV#{id}` | `MSG#{created_at}#{message id}` |
//! | outbox record | `CONV#{id}` | `OUTBOX#ack#{answered message id}`, `OUTBOX#reply#{idempotency key}` |
//! | escalation record | `CONV#{id}` | `ESC#{SLA clock start}#{level:04}` |
//! | message reference (dedupe + threading) | `MSGREF#{channel}#{account}#{message id}` | `MSGREF` |
//! | open DM pointer | `OPENDM#{channel}#{account}#{customer}` | `OPENDM` |
//! | customer profile | `CUST#{channel}#{account}#{customer}` | `PROFILE` |
//! | OAuth tokens | `TOKEN#{provider}#{account}` | `TOKEN` |
//! | disabled help-desk endpoint | `ENDPOINT#webhook#{id}` | `ENDPOINT` |
//! | a native help desk's ticket | `CONV#{id}` | `TICKET#{desk}` |
//!
//! The due index (`due-index`: `due_shard`, `due_at`) is sparse: it holds only what something
//! must look at by a given time. Conversations waiting for a reply and escalations whose
//! notification is unconfirmed sit in shards `0`..`n`, read by the escalator; outbox records
//! that are not finished sit in shards `outbox#0`..`outbox#n`, read by the outbox sweep; and
//! failed outbox records sit in `outbox#failed`, where ops list and redrive them.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, ReturnValue, TransactWriteItem, Update, WriteRequest};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use crate::domain::api_key::{ApiKeyRecord, Scope};
use crate::domain::care::ConversationFacts;
use crate::domain::mention::{Channel, Direction, Mention, MentionKind, MessageAction};
use crate::domain::oauth::{Seed, StoredTokens};
use crate::domain::secret::Secret;
use crate::domain::sla::SlaClock;
use crate::error::{Error, Result};
use crate::ports::{
    Amended, Amendment, Claim, ConversationId, ConversationState, ConversationStore, Escalation, FastTrackRecord,
    InboundRecord, KnownMessage, NewConversation, OutboundRecord, OutboxEntry, OutboxKey, OutboxMessage, OutboxPurpose,
    OutboxRef, OutboxStatus, OutboxStore, QueuedReply, Recorded, ReplyQueue, ReplyTarget, SendOutcome,
};
use crate::ports::{
    ApiKeyStore, ConversationFilter, ConversationPage, ConversationReader, ConversationResolver, ConversationSummary,
    ConversationView, CustomerRef, EscalationView, LIST_MONTHS, ListCursor, MessageView, OutboundView, Resolution,
    SlaView, TokenStore,
};

use crate::ports::{
    CUSTOMER_HISTORY, CustomerConversation, CustomerProfile, CustomerReader, EndpointSwitch, TicketLink, TicketLinks,
    TicketView,
};

pub const DUE_INDEX: &str = "due-index";
type Item = HashMap<String, AttributeValue>;

mod api_keys;
mod cursors;
mod escalations;
mod incidents;
mod outbox;
mod rates;
mod reader;
mod tickets;
mod tokens;

use outbox::{outbox_item, parse_outbox};

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How long finished outbox records are kept as idempotency records (TTL).
    outbox_retention: TimeDelta,
}

impl DynamoStore {
    pub fn from_config(aws: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(super::aws_usage::clients::dynamodb(aws), table)
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore { client, table: table.into(), outbox_retention: TimeDelta::days(30) }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}
fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}
fn ts(at: DateTime<Utc>) -> AttributeValue {
    s(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}
fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}
fn conversation_pk(id: &ConversationId) -> String {
    format!("CONV#{id}")
}
fn message_ref_key(channel: impl std::fmt::Display, account: &str, message_id: &str) -> Item {
    key(format!("MSGREF#{channel}#{account}#{message_id}"), "MSGREF")
}
fn open_dm_key(channel: Channel, account: &str, customer: &str) -> Item {
    key(format!("OPENDM#{channel}#{account}#{customer}"), "OPENDM")
}
fn customer_pk(channel: Channel, account: &str, customer: &str) -> String {
    format!("CUST#{channel}#{account}#{customer}")
}
fn customer_key(mention: &Mention) -> Item {
    key(customer_pk(mention.channel, &mention.account_id, &mention.customer_id), "PROFILE")
}
/// A customer's conversations, newest first (`customer_pk`, `created_at`).
const CUSTOMER_INDEX: &str = "customer-index";
const OUTBOX_PREFIX: &str = "OUTBOX#";
/// A customer's thank-yous: `thanked_{template id}` = when.
const THANKED_PREFIX: &str = "thanked_";
/// Conversations by the month they opened (`list_pk`), newest first (`list_sk`).
const LIST_INDEX: &str = "list-index";
/// Where failed outbox records wait for ops (the sweep never reads it).
pub const OUTBOX_FAILED_SHARD: &str = "outbox#failed";

fn outbox_key(conversation: &ConversationId, record: &OutboxKey) -> Item {
    key(conversation_pk(conversation), &format!("{OUTBOX_PREFIX}{record}"))
}
/// The record a sort key names (`OUTBOX#{purpose tag}#{id}`).
fn outbox_record_key(sk: &str) -> Option<OutboxKey> {
    let (tag, id) = sk.strip_prefix(OUTBOX_PREFIX)?.split_once('#')?;
    Some(OutboxKey { purpose: OutboxPurpose::from_tag(tag)?, id: id.to_owned() })
}
/// The outbox record a table key names, if it names one: for readers of the table's
/// stream, which see keys, not records.
pub fn outbox_ref(pk: &str, sk: &str) -> Option<OutboxRef> {
    let conversation = pk.strip_prefix("CONV#")?;
    Some(OutboxRef { conversation: ConversationId(conversation.to_owned()), key: outbox_record_key(sk)? })
}
fn outbox_shard(shard: u32) -> String {
    format!("outbox#{shard}")
}
/// Keyed by the SLA clock as well as the level: every clock climbs its own ladder, so a
/// returning customer's new clock never collides with the levels an earlier one reached.
fn escalation_key(conversation: &ConversationId, clock_started_at: DateTime<Utc>, level: u32) -> Item {
    let clock = clock_started_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    key(conversation_pk(conversation), &format!("ESC#{clock}#{level:04}"))
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}
fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}
fn get_ts(item: &Item, name: &str) -> Option<DateTime<Utc>> {
    get_s(item, name).and_then(|v| DateTime::parse_from_rfc3339(v).ok()).map(|t| t.with_timezone(&Utc))
}
fn list_month(at: DateTime<Utc>) -> String {
    at.format("%Y-%m").to_string()
}
fn list_pk(month: &str) -> String {
    format!("CONVS#{month}")
}
fn list_sk(created_at: DateTime<Utc>, id: &ConversationId) -> String {
    format!("{}#{id}", created_at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// What the viral fast track reads of a conversation item.
fn conversation_facts(item: &Item) -> ConversationFacts {
    let running = (get_s(item, "status") == Some("awaiting_reply"))
        .then(|| {
            let clock = SlaClock {
                started_at: get_ts(item, "sla_started_at")?,
                ideal_due_at: get_ts(item, "ideal_due_at")?,
                breach_due_at: get_ts(item, "breach_due_at")?,
            };
            Some((clock, get_n(item, "escalation_level").unwrap_or(0)))
        })
        .flatten();
    ConversationFacts {
        customer_id: get_s(item, "customer_id").map(str::to_owned),
        followers: get_n(item, "customer_followers"),
        verified: item.get("customer_verified").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        valued: get_s(item, "customer_tier").map(str::to_owned),
        engagement: get_n(item, "engagement").unwrap_or(0),
        risks: get_ss(item, "risks")
            .into_iter()
            .filter_map(|r| serde_json::from_value(serde_json::Value::String(r)).ok())
            .collect(),
        viral: item.contains_key("viral_at"),
        running,
    }
}

fn get_ss(item: &Item, name: &str) -> Vec<String> {
    item.get(name).and_then(|v| v.as_ss().ok()).cloned().unwrap_or_default()
}

/// What stops an SLA clock and takes a conversation out of the due index.
const CLOCK_ATTRIBUTES: [&str; 10] = [
    "sla_started_at",
    "ideal_due_at",
    "breach_due_at",
    "escalation_level",
    "due_shard",
    "due_at",
    "ack_queued_at",
    "sla_exhausted_at",
    "needs_person",
    "needs_person_at",
];

fn required<T>(value: Option<T>, item: &str, field: &str) -> Result<T> {
    value.ok_or_else(|| Error::store("decode", format!("{item} item lacks {field}")))
}

/// Builds an update from named parts so optional attributes stay readable.
#[derive(Default)]
struct UpdateBuilder {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: Item,
}

impl UpdateBuilder {
    fn placeholder(&mut self, attr: &str, value: AttributeValue) -> (String, String) {
        let name = format!("#{attr}");
        let placeholder = format!(":{attr}");
        self.names.insert(name.clone(), attr.to_owned());
        self.values.insert(placeholder.clone(), value);
        (name, placeholder)
    }
    fn set(mut self, attr: &str, value: AttributeValue) -> Self {
        let (name, value) = self.placeholder(attr, value);
        self.set.push(format!("{name} = {value}"));
        self
    }
    fn set_opt(self, attr: &str, value: Option<AttributeValue>) -> Self {
        match value {
            Some(value) => self.set(attr, value),
            None => self,
        }
    }
    fn set_if_absent(mut self, attr: &str, value: AttributeValue) -> Self {
        let (name, value) = self.placeholder(attr, value);
        self.set.push(format!("{name} = if_not_exists({name}, {value})"));
        self
    }
    fn set_if_absent_opt(self, attr: &str, value: Option<AttributeValue>) -> Self {
        match value {
            Some(value) => self.set_if_absent(attr, value),
            None => self,
        }
    }
    fn add(mut self, attr: &str, by: i64) -> Self {
        let (name, value) = self.placeholder(attr, n(by));
        self.add.push(format!("{name} {value}"));
        self
    }
    fn add_to_set(mut self, attr: &str, members: &[String]) -> Self {
        if members.is_empty() {
            return self;
        }
        let (name, value) = self.placeholder(attr, AttributeValue::Ss(members.to_vec()));
        self.add.push(format!("{name} {value}"));
        self
    }
    fn remove(mut self, attr: &str) -> Self {
        let name = format!("#{attr}");
        self.names.insert(name.clone(), attr.to_owned());
        self.remove.push(name);
        self
    }
    /// A condition value, named apart from the updated attributes.
    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }
    fn name(mut self, attr: &str) -> Self {
        self.names.insert(format!("#{attr}"), attr.to_owned());
        self
    }
    fn expression(&self) -> String {
        let mut parts = Vec::new();
        for (keyword, list) in [("SET", &self.set), ("ADD", &self.add), ("REMOVE", &self.remove)] {
            if !list.is_empty() {
                parts.push(format!("{keyword} {}", list.join(", ")));
            }
        }
        parts.join(" ")
    }
    fn build(self, table: &str, key: Item, condition: Option<&str>) -> Result<Update> {
        Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.expression())
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(Some(self.names))
            .set_expression_attribute_values((!self.values.is_empty()).then_some(self.values))
            .build()
            .map_err(|e| Error::store("build update", e))
    }
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(|e| Error::store("build put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}
fn update(update: Update) -> TransactWriteItem {
    TransactWriteItem::builder().update(update).build()
}

const NOT_EXISTS: Option<&str> = Some("attribute_not_exists(pk)");

/// Which items of a cancelled transaction failed their condition (by position).
fn failed_conditions(err: &SdkError<TransactWriteItemsError>) -> Option<Vec<bool>> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => Some(
            cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code() == Some("ConditionalCheckFailed"))
                .collect(),
        ),
        _ => None,
    }
}

fn is_conditional_failure(err: &SdkError<UpdateItemError>) -> bool {
    matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_)))
}

fn claim_token() -> String {
    // Unique per claim; not a secret, so the std hasher's random keys are plenty.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128);
    format!("{:016x}", hasher.finish())
}

fn kind_name(kind: MentionKind) -> &'static str {
    match kind {
        MentionKind::Post => "post",
        MentionKind::Reply => "reply",
        MentionKind::Quote => "quote",
        MentionKind::DirectMessage => "direct_message",
    }
}

fn message_sk(mention: &Mention) -> String {
    format!("MSG#{}#{}", mention.created_at.to_rfc3339_opts(SecondsFormat::Millis, true), mention.message_id)
}

fn message_item(mention: &Mention, conversation: &ConversationId) -> Item {
    let mut item = key(conversation_pk(conversation), &message_sk(mention));
    let a = &mention.author;
    let fields = [
        ("item_type", Some(s("message"))),
        ("conversation_id", Some(s(&conversation.0))),
        ("direction", Some(s(if mention.direction == Direction::Inbound { "inbound" } else { "outbound" }))),
        ("kind", Some(s(kind_name(mention.kind)))),
        ("message_id", Some(s(&mention.message_id))),
        ("parent_id", mention.parent_id.as_ref().map(s)),
        ("quoted_id", mention.quoted_id.as_ref().map(s)),
        ("author_id", Some(s(&a.id))),
        ("author_handle", a.handle.as_ref().map(s)),
        ("author_name", a.name.as_ref().map(s)),
        ("text", Some(s(&mention.text))),
        ("language", mention.language.as_ref().map(s)),
        ("created_at", Some(ts(mention.created_at))),
        ("received_at", Some(ts(mention.received_at))),
        ("raw_ref", Some(s(&mention.raw_ref))),
    ];
    item.extend(fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))));
    if mention.listening {
        item.insert("listening".into(), AttributeValue::Bool(true));
    }
    item
}

fn message_ref_item(mention: &Mention, conversation: &ConversationId) -> Item {
    let mut item = message_ref_key(mention.channel, &mention.account_id, &mention.message_id);
    item.insert("item_type".into(), s("message_ref"));
    item.insert("conversation_id".into(), s(&conversation.0));
    // Where the message itself is, for an edit or a removal that names only its id.
    item.insert("message_sk".into(), s(message_sk(mention)));
    item
}

/// Text excerpt kept on the conversation for alerts and listings.
fn excerpt(text: &str) -> String {
    text.chars().take(280).collect()
}

impl DynamoStore {
    /// One item, read consistently. `operation` names it in errors.
    async fn get_consistent(&self, key: Item, operation: &'static str) -> Result<Option<Item>> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store(operation, e.into_service_error()))?
            .item)
    }

    /// Every item of one partition, across pages.
    async fn partition(&self, pk: String, operation: &'static str) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::store(operation, e.into_service_error()))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// The conversation item, read consistently.
    /// An escalation's record: in the due index (`due_shard`) until its notification is
    /// confirmed sent.
    /// An escalation record, pending in the due index from `notify_at` until its notice is
    /// confirmed sent.
    fn escalation_item(&self, escalation: &Escalation, shard: &str, notify_at: DateTime<Utc>) -> Result<Item> {
        let notice = serde_json::to_string(escalation).map_err(|e| Error::store("encode", e))?;
        let mut record = escalation_key(&escalation.conversation_id, escalation.sla_started_at, escalation.level);
        record.extend([
            ("item_type".to_owned(), s("escalation")),
            ("conversation_id".to_owned(), s(&escalation.conversation_id.0)),
            ("level".to_owned(), n(escalation.level)),
            ("level_name".to_owned(), s(&escalation.level_name)),
            ("sla_started_at".to_owned(), ts(escalation.sla_started_at)),
            ("escalated_at".to_owned(), ts(escalation.escalated_at)),
            ("notice".to_owned(), s(notice)),
            ("due_shard".to_owned(), s(shard)),
            ("due_at".to_owned(), n(notify_at.timestamp())),
        ]);
        Ok(record)
    }

    /// Puts whole items, 25 to a request.
    async fn batch_put(&self, items: Vec<Item>, what: &'static str) -> Result<()> {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let requests = items
                .by_ref()
                .take(25)
                .map(|item| {
                    let put =
                        PutRequest::builder().set_item(Some(item)).build().map_err(|e| Error::store("build put", e))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>>>()?;
            self.batch_write(requests, what).await?;
        }
        Ok(())
    }

    /// One BatchWriteItem of up to 25 requests. DynamoDB may hand some back under load:
    /// they are sent again, with a growing pause.
    async fn batch_write(&self, mut requests: Vec<WriteRequest>, what: &'static str) -> Result<()> {
        for attempt in 0..8u32 {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(|e| Error::store(what, e.into_service_error()))?;
            requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
        Err(Error::store(what, "items left unprocessed after 8 attempts"))
    }

    async fn conversation_item(&self, id: &ConversationId) -> Result<Option<Item>> {
        self.get_consistent(key(conversation_pk(id), "CONV"), "GetItem conversation").await
    }

    async fn conversation_state(&self, id: &ConversationId, created: bool) -> Result<Option<ConversationState>> {
        let item = self.conversation_item(id).await?;
        Ok(item.map(|item| ConversationState {
            id: id.clone(),
            created,
            acknowledged: item.contains_key("ack_queued_at"),
            thanked: item.contains_key("thanked_at"),
            answered_at: get_ts(&item, "answered_at"),
            facts: conversation_facts(&item),
        }))
    }

    async fn existing_conversation(&self, id: &ConversationId) -> Result<ConversationState> {
        self.conversation_state(id, false)
            .await?
            .ok_or_else(|| Error::store("GetItem conversation", format!("conversation {id} vanished")))
    }

    /// Moves the conversation to its next checkpoint, or, past the ladder's last rung, ends
    /// the clock: the conversation stays awaiting a reply but leaves the due index, and the
    /// customer's next message starts a new clock.
    fn move_checkpoint(update: UpdateBuilder, next_due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> UpdateBuilder {
        match next_due {
            Some(at) => update.set("due_at", n(at.timestamp())),
            None => ["sla_started_at", "ideal_due_at", "breach_due_at", "escalation_level", "due_shard", "due_at"]
                .into_iter()
                .fold(update.set("sla_exhausted_at", ts(now)), UpdateBuilder::remove),
        }
    }

    /// Up to `limit` items of one due-index shard due at or before `now`, earliest first.
    async fn query_due(&self, shard: String, now: DateTime<Utc>, limit: i32) -> Result<Vec<Item>> {
        Ok(self.query_due_page(shard, now, limit, None).await?.0)
    }

    /// One page of a due-index shard, and where the next one starts.
    async fn query_due_page(
        &self,
        shard: String,
        now: DateTime<Utc>,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>)> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(DUE_INDEX)
            .key_condition_expression("due_shard = :shard AND due_at <= :now")
            .expression_attribute_values(":shard", s(shard))
            .expression_attribute_values(":now", n(now.timestamp()))
            .set_exclusive_start_key(start)
            .limit(limit)
            .send()
            .await
            .map_err(|e| Error::store("Query due index", e.into_service_error()))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    async fn message_ref(&self, channel: Channel, account: &str, message_id: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(message_ref_key(channel, account, message_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store("GetItem message ref", e.into_service_error()))?;
        Ok(out.item)
    }

    /// A removed message is not answered: its acknowledgement is cancelled unless it is on
    /// its way, and a conversation that only it opened stops waiting for a reply. An
    /// acknowledgement that already failed (the platform no longer found the message) is
    /// cancelled too, which takes it off the list ops are alarmed about.
    async fn after_removal(&self, conversation: &ConversationId, message_id: &str, now: DateTime<Utc>) -> Result<()> {
        let cancel = UpdateBuilder::default()
            .set("status", s(OutboxStatus::Cancelled.as_str()))
            .set("last_error", s("the message it answers was removed"))
            .set("finished_at", ts(now))
            .set("expires_at", n((now + self.outbox_retention).timestamp()))
            .remove("due_shard")
            .remove("due_at")
            .value(":pending", s(OutboxStatus::Pending.as_str()))
            .value(":unknown", s(OutboxStatus::Unknown.as_str()))
            .value(":failed", s(OutboxStatus::Failed.as_str()))
            .build(
                &self.table,
                outbox_key(conversation, &OutboxKey::acknowledgement(message_id)),
                Some("#status IN (:pending, :unknown, :failed)"),
            )?;
        let mut close = UpdateBuilder::default().set("status", s("removed")).value(":one", n(1));
        for attr in ["sla_started_at", "ideal_due_at", "breach_due_at", "escalation_level", "due_shard", "due_at"] {
            close = close.remove(attr);
        }
        let close = close.name("inbound_count").name("opened_by").value(":opened_by", s(message_id)).build(
            &self.table,
            key(conversation_pk(conversation), "CONV"),
            Some("#inbound_count = :one AND #opened_by = :opened_by"),
        )?;
        for (what, update) in [("cancel acknowledgement", cancel), ("close conversation", close)] {
            match self.update_item(update).await {
                Ok(_) => {}
                // Nothing to cancel, or others are still waiting in the conversation.
                Err(err) if is_conditional_failure(&err) => {}
                Err(err) => {
                    return Err(Error::store(
                        "UpdateItem after removal",
                        format!("{what}: {}", err.into_service_error()),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> std::result::Result<(), SdkError<TransactWriteItemsError>> {
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ())
    }

    async fn update_item(&self, update: Update) -> std::result::Result<Option<Item>, SdkError<UpdateItemError>> {
        self.client
            .update_item()
            .table_name(update.table_name())
            .set_key(Some(update.key().clone()))
            .update_expression(update.update_expression())
            .set_condition_expression(update.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(update.expression_attribute_names().cloned())
            .set_expression_attribute_values(update.expression_attribute_values().cloned())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map(|out| out.attributes)
    }
}

impl ConversationStore for DynamoStore {
    async fn thanks_given(
        &self,
        channel: Channel,
        account: &str,
        customer: &str,
    ) -> Result<HashMap<String, DateTime<Utc>>> {
        let item = self
            .get_consistent(key(customer_pk(channel, account, customer), "PROFILE"), "GetItem customer thanks")
            .await?
            .unwrap_or_default();
        Ok(item
            .keys()
            .filter_map(|name| Some((name.strip_prefix(THANKED_PREFIX)?.to_owned(), get_ts(&item, name)?)))
            .collect())
    }

    async fn conversation(&self, id: &ConversationId) -> Result<Option<ConversationState>> {
        self.conversation_state(id, false).await
    }

    async fn known_message(&self, channel: Channel, account: &str, message_id: &str) -> Result<Option<KnownMessage>> {
        Ok(self.message_ref(channel, account, message_id).await?.as_ref().map(|item| {
            match get_s(item, "conversation_id") {
                Some(id) => KnownMessage::In(ConversationId(id.to_owned())),
                None => KnownMessage::RemovedUnseen,
            }
        }))
    }

    async fn amend_message(&self, amendment: &Amendment<'_>) -> Result<Amended> {
        let m = amendment.mention;
        // Two tries: a removal racing the message's own first delivery finds it on the second.
        for _ in 0..2 {
            let reference = self.message_ref(m.channel, &m.account_id, &m.message_id).await?;
            let (conversation, sk) = match &reference {
                Some(item) => match (get_s(item, "conversation_id"), get_s(item, "message_sk")) {
                    (Some(conversation), Some(sk)) => (ConversationId(conversation.to_owned()), sk.to_owned()),
                    (None, _) => return Ok(Amended::RemovedUnseen),
                    // Hark's own message, referenced when it was sent: nothing of it is stored.
                    (Some(_), None) => return Ok(Amended::NotStored),
                },
                None if m.action == MessageAction::Removed => {
                    let mut tombstone = message_ref_key(m.channel, &m.account_id, &m.message_id);
                    tombstone.insert("item_type".into(), s("message_ref"));
                    tombstone.insert("removed_at".into(), ts(m.received_at));
                    match self.transact(vec![put(&self.table, tombstone, NOT_EXISTS)?]).await {
                        Ok(()) => return Ok(Amended::RemovedUnseen),
                        Err(err) if failed_conditions(&err).is_some() => continue,
                        Err(err) => return Err(Error::store("TransactWriteItems tombstone", err.into_service_error())),
                    }
                }
                None => return Ok(Amended::NotStored),
            };
            let message = match (m.action, amendment.text) {
                (MessageAction::Removed, _) => UpdateBuilder::default().set_if_absent("removed_at", ts(m.received_at)),
                (_, text) => {
                    let update = UpdateBuilder::default()
                        .set("text", s(text.unwrap_or(&m.text)))
                        .set("edited_at", ts(m.received_at));
                    if amendment.redacted.is_empty() {
                        update.remove("redacted")
                    } else {
                        update.set("redacted", AttributeValue::Ss(amendment.redacted.to_vec()))
                    }
                }
            }
            .build(&self.table, key(conversation_pk(&conversation), &sk), Some("attribute_exists(pk)"))?;
            self.update_item(message)
                .await
                .map_err(|e| Error::store("UpdateItem amend message", e.into_service_error()))?;
            if m.action == MessageAction::Removed {
                self.after_removal(&conversation, &m.message_id, m.received_at).await?;
            }
            return Ok(Amended::Updated { conversation });
        }
        Err(Error::store("amend message", "the message reference changed twice while it was amended"))
    }

    async fn open_direct_conversation(
        &self,
        channel: Channel,
        account: &str,
        customer: &str,
    ) -> Result<Option<ConversationState>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(open_dm_key(channel, account, customer)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store("GetItem open DM", e.into_service_error()))?;
        match out.item.as_ref().and_then(|i| get_s(i, "conversation_id")) {
            Some(id) => Ok(Some(self.existing_conversation(&ConversationId(id.to_owned())).await?)),
            None => Ok(None),
        }
    }

    async fn open_conversation(&self, new: &NewConversation<'_>) -> Result<ConversationState> {
        let m = new.opened_by;
        let direct = m.kind.is_private();
        let mut conversation = key(conversation_pk(&new.id), "CONV");
        conversation.extend([
            ("item_type".to_owned(), s("conversation")),
            ("conversation_id".to_owned(), s(&new.id.0)),
            ("channel".to_owned(), s(m.channel.as_str())),
            ("account_id".to_owned(), s(&m.account_id)),
            ("customer_id".to_owned(), s(&m.customer_id)),
            ("kind".to_owned(), s(if direct { "direct" } else { "public" })),
            ("opened_by".to_owned(), s(&m.message_id)),
            ("created_at".to_owned(), ts(m.received_at)),
            ("status".to_owned(), s("open")),
            // The customer's history, and the listing index: by the month it opened.
            ("customer_pk".to_owned(), s(customer_pk(m.channel, &m.account_id, &m.customer_id))),
            ("list_pk".to_owned(), s(list_pk(&list_month(m.received_at)))),
            ("list_sk".to_owned(), s(list_sk(m.received_at, &new.id))),
        ]);
        if let Some(handle) = &m.author.handle {
            conversation.insert("customer_handle".into(), s(handle));
        }
        // Facebook gives a name and no handle.
        if let Some(name) = &m.author.name {
            conversation.insert("customer_name".into(), s(name));
        }
        // Opened by a search hit: a person decides whether and how to answer.
        if m.listening {
            conversation.insert("listening".into(), AttributeValue::Bool(true));
        }
        let mut items = vec![put(&self.table, conversation, NOT_EXISTS)?];
        if direct {
            let mut pointer = open_dm_key(m.channel, &m.account_id, &m.customer_id);
            pointer.insert("conversation_id".into(), s(&new.id.0));
            pointer.insert("item_type".into(), s("open_dm"));
            items.push(put(&self.table, pointer, NOT_EXISTS)?);
        }
        let customer =
            UpdateBuilder::default().add("conversation_count", 1).build(&self.table, customer_key(m), None)?;
        items.push(update(customer));

        match self.transact(items).await {
            Ok(()) => Ok(ConversationState {
                id: new.id.clone(),
                created: true,
                acknowledged: false,
                thanked: false,
                answered_at: None,
                facts: ConversationFacts { customer_id: Some(m.customer_id.clone()), ..Default::default() },
            }),
            Err(err) => match failed_conditions(&err) {
                // Another message opened a DM conversation with this customer first: join it.
                Some(failed) if direct && failed.get(1) == Some(&true) => self
                    .open_direct_conversation(m.channel, &m.account_id, &m.customer_id)
                    .await?
                    .ok_or_else(|| Error::store("open conversation", "open DM pointer vanished")),
                Some(failed) if failed.first() == Some(&true) => self.existing_conversation(&new.id).await,
                _ => Err(Error::store("TransactWriteItems open conversation", err.into_service_error())),
            },
        }
    }

    async fn record_inbound(&self, record: &InboundRecord<'_>) -> Result<Recorded> {
        let m = record.mention;
        let c = record.classification;
        let sentiment = Some(c.sentiment.as_str().to_owned());
        let intent = Some(c.intent.as_str().to_owned());
        let mut message = message_item(m, record.conversation);
        message.insert("sentiment".into(), s(c.sentiment.as_str()));
        message.insert("sentiment_score".into(), n(c.score));
        message.insert("sentiment_confidence".into(), n(c.confidence));
        message.insert("thank".into(), AttributeValue::Bool(c.thank.thank));
        message.insert("intent".into(), s(c.intent.as_str()));
        message.insert("priority".into(), n(c.priority));
        message.insert("language".into(), s(c.language.code));
        if !c.urgency.is_empty() {
            let kinds =
                c.urgency.iter().map(|u| serde_json::to_value(u.kind).ok().and_then(|v| v.as_str().map(str::to_owned)));
            message.insert("urgency".into(), AttributeValue::Ss(kinds.flatten().collect()));
        }
        // Personal data posted in public is stored redacted; the kinds say what was there.
        let (stored_text, redacted) = crate::domain::classify::stored_form(&m.text, &c.privacy);
        if !redacted.is_empty() {
            message.insert("redacted".into(), AttributeValue::Ss(redacted));
        }
        message.insert("text".into(), s(stored_text.as_ref()));

        let a = &m.author;
        let conversation_update = |with_ack: bool, with_thanks: bool, fast: Option<&FastTrackRecord>| {
            let clock = record.sla;
            // A fast track shortens the clock that was running.
            let shorten = fast.and_then(|f| f.next_due.map(|due| (f.clock, due)));
            let mut update = UpdateBuilder::default()
                .set("last_message_at", ts(m.created_at))
                .set("last_text", s(excerpt(&stored_text)))
                // A conversation the brand's answer opened before the customer's message
                // came learns who they are from it.
                .set_if_absent_opt(
                    "customer_handle",
                    (a.id == m.customer_id).then(|| a.handle.clone()).flatten().map(s),
                )
                .set_if_absent_opt("customer_name", (a.id == m.customer_id).then(|| a.name.clone()).flatten().map(s))
                .set_opt("last_sentiment", sentiment.clone().map(s))
                .set_opt("last_intent", intent.clone().map(s))
                // For the KPIs: how the conversation opened (its sentiment mix and trend).
                .set_if_absent_opt("first_sentiment", sentiment.clone().map(s))
                .set_opt("ack_queued_at", with_ack.then(|| ts(m.received_at)))
                .set_opt("thanked_at", with_thanks.then(|| ts(m.received_at)))
                .set_opt("viral_at", fast.map(|_| ts(m.received_at)))
                // Who the conversation's customer is, as far as their own messages say.
                .set_if_absent_opt(
                    "customer_followers",
                    (a.id == m.customer_id).then_some(a.followers).flatten().map(n),
                )
                .set_if_absent_opt(
                    "customer_verified",
                    (a.id == m.customer_id && a.verified).then_some(AttributeValue::Bool(true)),
                )
                .set_opt("customer_tier", record.customer_tier.as_ref().map(s))
                .add_to_set("risks", &record.risks_added);
            if record.starts_clock {
                update = update
                    .set("status", s("awaiting_reply"))
                    .set("priority", n(c.priority))
                    // A running clock keeps its start; an answered conversation starts a new one.
                    .set_if_absent("sla_started_at", ts(clock.started_at))
                    // Kept when the clock stops: the KPIs count what ever asked for an answer.
                    .set_if_absent("first_clock_at", ts(clock.started_at))
                    .set_if_absent("escalation_level", n(0))
                    .set_if_absent("due_shard", s(record.due_shard.to_string()));
                if shorten.is_none() {
                    update = update
                        .set_if_absent("ideal_due_at", ts(clock.ideal_due_at))
                        .set_if_absent("breach_due_at", ts(clock.breach_due_at))
                        .set_if_absent("due_at", n(clock.first_due().timestamp()));
                }
            }
            if let Some((fast_clock, due)) = shorten {
                update = update
                    .set("ideal_due_at", ts(fast_clock.ideal_due_at))
                    .set("breach_due_at", ts(fast_clock.breach_due_at))
                    .set("due_at", n(due.timestamp()));
            }
            if record.engagement_added > 0 {
                update = update.add("engagement", record.engagement_added as i64);
            }
            update.add("message_count", 1).add("inbound_count", 1).build(
                &self.table,
                key(conversation_pk(record.conversation), "CONV"),
                // Two messages of one thread racing: only one acknowledgement per clock, one
                // thank-you per conversation.
                Some(match (with_ack, with_thanks) {
                    (true, _) => "attribute_exists(pk) AND attribute_not_exists(#ack_queued_at)",
                    (false, true) => "attribute_exists(pk) AND attribute_not_exists(#thanked_at)",
                    (false, false) => "attribute_exists(pk)",
                }),
            )
        };

        let customer = |with_thanks: bool| {
            let mut customer = UpdateBuilder::default()
                .set("item_type", s("customer"))
                .set("channel", s(m.channel.as_str()))
                .set("account_id", s(&m.account_id))
                .set("customer_id", s(&m.customer_id))
                .set_opt("handle", a.handle.as_ref().map(s))
                .set_opt("name", a.name.as_ref().map(s))
                .set_opt("followers", a.followers.map(n))
                .set("verified", AttributeValue::Bool(a.verified))
                .set_if_absent("first_seen_at", ts(m.created_at))
                .set("last_seen_at", ts(m.created_at))
                .set_opt("last_sentiment", sentiment.clone().map(s))
                .add("message_count", 1);
            // The customer's thank-yous, one attribute per template: the next one differs.
            if let (true, Some((_, template))) = (with_thanks, &record.thanks) {
                customer = customer.set(&format!("{THANKED_PREFIX}{template}"), ts(m.received_at));
            }
            customer.build(&self.table, customer_key(m), None)
        };

        let mut with_ack = record.acknowledgement.is_some();
        let mut with_thanks = record.thanks.is_some();
        let mut fast = record.fast_track.as_ref();
        loop {
            let mut items = vec![
                put(&self.table, message_ref_item(m, record.conversation), NOT_EXISTS)?,
                put(&self.table, message.clone(), None)?,
                update(conversation_update(with_ack, with_thanks, fast)?),
                update(customer(with_thanks)?),
            ];
            if let Some(fast) = fast {
                // Index 4: once a conversation, whichever message got there first.
                let mut marker = key(conversation_pk(record.conversation), "VIRAL");
                marker.insert("item_type".into(), s("viral_marker"));
                items.push(put(&self.table, marker, NOT_EXISTS)?);
                let e = &fast.escalation;
                items.push(put(
                    &self.table,
                    self.escalation_item(e, &record.due_shard.to_string(), e.escalated_at)?,
                    NOT_EXISTS,
                )?);
                let forward = crate::domain::forward::escalated(e);
                items.push(put(
                    &self.table,
                    outbox_item(record.conversation, &forward, e.escalated_at, record.due_shard),
                    None,
                )?);
            }
            if let (true, Some(ack)) = (with_ack, &record.acknowledgement) {
                let item = outbox_item(record.conversation, ack, m.received_at, record.due_shard);
                items.push(put(&self.table, item, NOT_EXISTS)?);
            }
            if let (true, Some((thanks, _))) = (with_thanks, &record.thanks) {
                let item = outbox_item(record.conversation, thanks, m.received_at, record.due_shard);
                items.push(put(&self.table, item, NOT_EXISTS)?);
            }
            for forward in &record.forwards {
                items.push(put(
                    &self.table,
                    outbox_item(record.conversation, forward, m.received_at, record.due_shard),
                    None,
                )?);
            }
            match self.transact(items).await {
                Ok(()) => return Ok(Recorded::Stored { acknowledgement_queued: with_ack || with_thanks }),
                Err(err) => match failed_conditions(&err) {
                    Some(failed) if failed.first() == Some(&true) => return Ok(Recorded::Duplicate),
                    Some(failed) if fast.is_some() && failed.get(4) == Some(&true) => fast = None,
                    Some(failed) if (with_ack || with_thanks) && failed.get(2) == Some(&true) => {
                        with_ack = false;
                        with_thanks = false;
                    }
                    _ => return Err(Error::store("TransactWriteItems inbound message", err.into_service_error())),
                },
            }
        }
    }

    async fn record_outbound(&self, record: &OutboundRecord<'_>) -> Result<Recorded> {
        let m = record.mention;
        let mut message = message_item(m, record.conversation);
        message.insert("automated".into(), AttributeValue::Bool(record.automated));
        let mut conversation =
            UpdateBuilder::default().set("last_message_at", ts(m.created_at)).add("message_count", 1);
        if !record.automated {
            // A human reply stops the clock and takes the conversation out of the due index.
            conversation = conversation
                .set("status", s("answered"))
                .set("answered_at", ts(m.created_at))
                .set_if_absent("first_response_at", ts(m.created_at));
            for attr in CLOCK_ATTRIBUTES {
                conversation = conversation.remove(attr);
            }
        }
        let conversation = conversation.build(
            &self.table,
            key(conversation_pk(record.conversation), "CONV"),
            Some("attribute_exists(pk)"),
        )?;
        let items = vec![
            put(&self.table, message_ref_item(m, record.conversation), NOT_EXISTS)?,
            put(&self.table, message, None)?,
            update(conversation),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Recorded::Stored { acknowledgement_queued: false }),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if failed.first() == Some(&true) => Ok(Recorded::Duplicate),
                _ => Err(Error::store("TransactWriteItems outbound message", err.into_service_error())),
            },
        }
    }
}
