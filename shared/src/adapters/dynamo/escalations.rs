//! The escalator's store: the due index read page by page, each level raised once with a
//! conditional transaction, and notices claimed and recorded as sent.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::{
    DynamoStore, Item, NOT_EXISTS, UpdateBuilder, conversation_pk, escalation_key, failed_conditions, get_n, get_s,
    get_ts, is_conditional_failure, key, n, outbox_item, put, required, s, ts, update,
};
use crate::domain::sla::SlaClock;
use crate::error::{Error, Result};
use crate::ports::{ConversationId, DueConversation, DueCursor, DueItem, DuePage, Escalation, EscalationStore};

fn parse_due(item: &Item) -> Result<DueItem> {
    match get_s(item, "item_type") {
        Some("conversation") => {
            let what = "due conversation";
            Ok(DueItem::Conversation(DueConversation {
                id: ConversationId(required(get_s(item, "conversation_id"), what, "conversation_id")?.to_owned()),
                channel: required(get_s(item, "channel"), what, "channel")?.to_owned(),
                account_id: required(get_s(item, "account_id"), what, "account_id")?.to_owned(),
                customer_id: required(get_s(item, "customer_id"), what, "customer_id")?.to_owned(),
                customer_handle: get_s(item, "customer_handle").map(str::to_owned),
                clock: SlaClock {
                    started_at: required(get_ts(item, "sla_started_at"), what, "sla_started_at")?,
                    ideal_due_at: required(get_ts(item, "ideal_due_at"), what, "ideal_due_at")?,
                    breach_due_at: required(get_ts(item, "breach_due_at"), what, "breach_due_at")?,
                },
                level: get_n(item, "escalation_level").unwrap_or(0),
                shard: required(get_s(item, "due_shard"), what, "due_shard")?.to_owned(),
                due_at: required(get_n(item, "due_at"), what, "due_at")?,
                last_text: get_s(item, "last_text").map(str::to_owned),
                needs_person: get_s(item, "needs_person").map(str::to_owned),
            }))
        }
        Some("escalation") => {
            let body = required(get_s(item, "notice"), "escalation", "notice")?;
            let escalation = serde_json::from_str(body).map_err(|e| Error::store("decode", e))?;
            Ok(DueItem::PendingNotification {
                escalation,
                due_at: required(get_n(item, "due_at"), "escalation", "due_at")?,
            })
        }
        other => Err(Error::store("decode", format!("unexpected item type {other:?} in the due index"))),
    }
}

/// A page's last evaluated key as text: the due index's keys are strings and numbers.
fn encode_cursor(key: &Item) -> Result<DueCursor> {
    let mut fields = serde_json::Map::new();
    for (name, value) in key {
        let typed = match value {
            AttributeValue::S(v) => serde_json::json!({"S": v}),
            AttributeValue::N(v) => serde_json::json!({"N": v}),
            other => return Err(Error::store("encode cursor", format!("{name} is {other:?}, not a string or number"))),
        };
        fields.insert(name.clone(), typed);
    }
    Ok(DueCursor(serde_json::Value::Object(fields).to_string()))
}

fn decode_cursor(cursor: &DueCursor) -> Result<Item> {
    let bad = |why: &str| Error::store("decode cursor", format!("{why}: {}", cursor.0));
    let fields: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&cursor.0).map_err(|_| bad("not a JSON object"))?;
    fields
        .into_iter()
        .map(|(name, typed)| {
            let value = match (typed.get("S").and_then(|v| v.as_str()), typed.get("N").and_then(|v| v.as_str())) {
                (Some(v), None) => AttributeValue::S(v.to_owned()),
                (None, Some(v)) => AttributeValue::N(v.to_owned()),
                _ => return Err(bad("a key that is not one string or number")),
            };
            Ok((name, value))
        })
        .collect()
}

impl EscalationStore for DynamoStore {
    async fn due_items(
        &self,
        shard: u32,
        until: DateTime<Utc>,
        limit: i32,
        after: Option<DueCursor>,
    ) -> Result<DuePage> {
        let start = after.as_ref().map(decode_cursor).transpose()?;
        let (items, last) = self.query_due_page(shard.to_string(), until, limit, start).await?;
        let items = items
            .iter()
            .map(|item| {
                parse_due(item).unwrap_or_else(|e| DueItem::Unreadable {
                    key: format!("{}/{}", get_s(item, "pk").unwrap_or("?"), get_s(item, "sk").unwrap_or("?")),
                    reason: e.to_string(),
                })
            })
            .collect();
        Ok(DuePage { items, next: last.as_ref().map(encode_cursor).transpose()? })
    }

    async fn escalate(
        &self,
        due: &DueConversation,
        escalation: &Escalation,
        next_due: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let mut advance = UpdateBuilder::default()
            .set("last_escalated_at", ts(escalation.escalated_at))
            // Kept when the clock stops, unlike the level: the KPIs count breaches answered later.
            .add("escalations", 1)
            .name("status")
            .name("escalation_level")
            .name("due_at")
            .value(":awaiting", s("awaiting_reply"))
            .value(":seen_level", n(due.level))
            .value(":seen_due", n(due.due_at));
        if next_due.is_some() {
            advance = advance.set("escalation_level", n(escalation.level));
        }
        if (crate::domain::sla::BREACH..crate::domain::sla::VIRAL).contains(&escalation.level) {
            advance = advance.set_if_absent("breached_at", ts(escalation.escalated_at));
        }
        let advance = Self::move_checkpoint(advance, next_due, escalation.escalated_at).build(
            &self.table,
            key(conversation_pk(&due.id), "CONV"),
            // Overlapping runs and a reply that just landed both make this fail: exactly once per level.
            Some("#status = :awaiting AND #escalation_level = :seen_level AND #due_at = :seen_due"),
        )?;
        // The run that escalates sends the notice; only if it has not confirmed it in time
        // does a later run send it.
        let record = self.escalation_item(
            escalation,
            &due.shard,
            escalation.escalated_at + crate::ports::UNCONFIRMED_NOTICE_RETRY,
        )?;
        // Help desks hear of it too (the sweep fans it out to the endpoints that take it).
        let shard = due.shard.parse().unwrap_or(0);
        let forward =
            outbox_item(&due.id, &crate::domain::forward::escalated(escalation), escalation.escalated_at, shard);
        let items = vec![update(advance), put(&self.table, record, NOT_EXISTS)?, put(&self.table, forward, None)?];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(err) => match failed_conditions(&err) {
                // Someone else escalated or answered first.
                Some(failed) if failed.first() == Some(&true) => Ok(false),
                // The conversation had not moved on, yet this clock's level is already recorded:
                // the store is inconsistent. Reported, never taken for a lost race, so it
                // cannot silently hold its place at the front of the due index.
                Some(failed) if failed.get(1) == Some(&true) => Err(Error::store(
                    "TransactWriteItems escalate",
                    format!("escalation {} of {} is already recorded", escalation.level, due.id),
                )),
                _ => Err(Error::store("TransactWriteItems escalate", err.into_service_error())),
            },
        }
    }

    async fn reschedule(
        &self,
        due: &DueConversation,
        next_due: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let update = UpdateBuilder::default().name("due_at").value(":seen_due", n(due.due_at));
        let update = Self::move_checkpoint(update, next_due, now).build(
            &self.table,
            key(conversation_pk(&due.id), "CONV"),
            Some("#due_at = :seen_due"),
        )?;
        match self.update_item(update).await {
            Ok(_) => Ok(()),
            Err(err) if is_conditional_failure(&err) => Ok(()),
            Err(err) => Err(Error::store("UpdateItem reschedule", err.into_service_error())),
        }
    }

    async fn claim_notification(
        &self,
        escalation: &Escalation,
        seen_due_at: i64,
        retry_at: DateTime<Utc>,
    ) -> Result<bool> {
        let update =
            UpdateBuilder::default().set("due_at", n(retry_at.timestamp())).value(":seen_due", n(seen_due_at)).build(
                &self.table,
                escalation_key(&escalation.conversation_id, escalation.sla_started_at, escalation.level),
                Some("#due_at = :seen_due"),
            )?;
        match self.update_item(update).await {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_failure(&err) => Ok(false),
            Err(err) => Err(Error::store("UpdateItem claim notification", err.into_service_error())),
        }
    }

    async fn mark_notified(&self, escalations: &[Escalation], now: DateTime<Utc>) -> Result<()> {
        // The record in its final form, written whole: one request for many notices under
        // an outage. Nothing else writes a record once it is notified.
        let records = escalations
            .iter()
            .map(|escalation| {
                let mut record = self.escalation_item(escalation, "", escalation.escalated_at)?;
                record.remove("due_shard");
                record.remove("due_at");
                record.insert("notified_at".to_owned(), ts(now));
                Ok(record)
            })
            .collect::<Result<Vec<_>>>()?;
        self.batch_put(records, "BatchWriteItem notified escalations").await
    }
}
