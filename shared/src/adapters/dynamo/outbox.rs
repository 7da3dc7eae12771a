//! Outbox records: what each conversation owes the outside world (acknowledgements,
//! replies, forwards, escalation actions), claimed under a lease and settled once; the
//! agents' reply queue; and what ops see and redrive of records that failed for good.

use super::tickets::endpoint_key;
use super::*;

impl OutboxStore for DynamoStore {
    async fn outbox(&self, conversation: &ConversationId) -> Result<Vec<OutboxEntry>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(conversation_pk(conversation)))
            .expression_attribute_values(":prefix", s("OUTBOX#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store("Query outbox", e.into_service_error()))?;
        out.items().iter().map(parse_outbox).collect()
    }

    async fn claim_outbox(
        &self,
        conversation: &ConversationId,
        record: &OutboxKey,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Claim> {
        let token = claim_token();
        // `due_at` is when any unfinished record is next looked at: the next attempt for
        // pending, the next check for unknown, the lease's end for sending. One condition
        // covers all three; the lease's end is rounded up so it never fires early.
        let claim = UpdateBuilder::default()
            .set("status", s(OutboxStatus::Sending.as_str()))
            .set("claim_token", s(&token))
            .set("claimed_at", ts(now))
            .set("lease_until", ts(lease_until))
            .set("due_at", n(lease_until.timestamp() + 1))
            .add("attempts", 1)
            .value(":pending", s(OutboxStatus::Pending.as_str()))
            .value(":unknown", s(OutboxStatus::Unknown.as_str()))
            .value(":sending", s(OutboxStatus::Sending.as_str()))
            .value(":now", n(now.timestamp()))
            .build(
                &self.table,
                outbox_key(conversation, record),
                Some("#status IN (:pending, :unknown, :sending) AND #due_at <= :now"),
            )?;
        let update = self
            .client
            .update_item()
            .table_name(claim.table_name())
            .set_key(Some(claim.key().clone()))
            .update_expression(claim.update_expression())
            .set_condition_expression(claim.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(claim.expression_attribute_names().cloned())
            .set_expression_attribute_values(claim.expression_attribute_values().cloned())
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match update {
            Ok(out) => {
                let previous =
                    out.attributes.ok_or_else(|| Error::store("UpdateItem claim outbox", "no attributes"))?;
                return Ok(Claim::Claimed { token, previous: Box::new(parse_outbox(&previous)?) });
            }
            Err(err) if matches!(err.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
            }
            Err(err) => return Err(Error::store("UpdateItem claim outbox", err.into_service_error())),
        }
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(outbox_key(conversation, record)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store("GetItem outbox", e.into_service_error()))?
            .item;
        Ok(match item {
            Some(item) => Claim::NotClaimed(parse_outbox(&item)?.status),
            None => Claim::NoRecord,
        })
    }

    async fn finish_outbox(
        &self,
        conversation: &ConversationId,
        message: &OutboxMessage,
        token: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let record = UpdateBuilder::default()
            .remove("claim_token")
            .remove("lease_until")
            .set("last_attempt_at", ts(now))
            .value(":token", s(token));
        let expires = n((now + self.outbox_retention).timestamp());
        let record = match outcome {
            SendOutcome::Sent { platform_message_id } => record
                .set("status", s(OutboxStatus::Sent.as_str()))
                .set("sent_message_id", s(platform_message_id))
                .set("finished_at", ts(now))
                .set("expires_at", expires)
                .remove("due_shard")
                .remove("due_at"),
            SendOutcome::Retry { reason, at } => record
                .set("status", s(OutboxStatus::Pending.as_str()))
                .set("last_error", s(reason))
                .set("due_at", n(at.timestamp())),
            SendOutcome::Unknown { reason, check_at, since } => record
                .set("status", s(OutboxStatus::Unknown.as_str()))
                .set("last_error", s(reason))
                .set("perhaps_sent_since", ts(*since))
                .set("due_at", n(check_at.timestamp())),
            // Kept, without expiry, where ops list failures; the sweep never reads that shard.
            SendOutcome::Failed { reason } => record
                .set("status", s(OutboxStatus::Failed.as_str()))
                .set("last_error", s(reason))
                .set("finished_at", ts(now))
                .set("due_shard", s(OUTBOX_FAILED_SHARD))
                .set("due_at", n(now.timestamp())),
            // Not an attempt: the one the claim counted is given back.
            SendOutcome::Deferred { reason, at } | SendOutcome::Waiting { reason, at } => record
                .set("status", s(OutboxStatus::Pending.as_str()))
                .set("last_error", s(reason))
                .set("due_at", n(at.timestamp()))
                .add("attempts", -1),
            SendOutcome::Cancelled { reason } | SendOutcome::LeftToPerson { reason } => record
                .set("status", s(OutboxStatus::Cancelled.as_str()))
                .set("last_error", s(reason))
                .set("finished_at", ts(now))
                .set("expires_at", expires)
                .remove("due_shard")
                .remove("due_at"),
        }
        .build(&self.table, outbox_key(conversation, &message.key()), Some("#claim_token = :token"))?;
        let mut items = vec![update(record)];
        if let (SendOutcome::Sent { .. }, true) = (outcome, message.purpose.is_human_written()) {
            // An agent's answer out on the channel: the customer is answered, as when a
            // person replies on the platform itself. (A reply to a resolved conversation
            // shows it as answered: its latest event is an answer.)
            let mut answered = UpdateBuilder::default()
                .set("status", s("answered"))
                .set("answered_at", ts(now))
                .set_if_absent("first_response_at", ts(now));
            for attr in CLOCK_ATTRIBUTES {
                answered = answered.remove(attr);
            }
            let answered = answered.build(
                &self.table,
                key(conversation_pk(conversation), "CONV"),
                Some("attribute_exists(pk)"),
            )?;
            items.push(update(answered));
        }
        if let SendOutcome::LeftToPerson { reason } = outcome {
            // What a person must pick up, on the conversation where listings and alerts see it.
            let flag = UpdateBuilder::default().set("needs_person", s(reason)).set("needs_person_at", ts(now)).build(
                &self.table,
                key(conversation_pk(conversation), "CONV"),
                Some("attribute_exists(pk)"),
            )?;
            items.push(update(flag));
        }
        if let SendOutcome::Sent { platform_message_id } = outcome
            && message.purpose != OutboxPurpose::IncidentPost
        {
            // So a customer's reply to our acknowledgement threads into this conversation.
            // (An incident's announcement answers no one: replies to it start their own.)
            let mut reference = message_ref_key(message.channel, &message.account_id, platform_message_id);
            reference.insert("item_type".into(), s("message_ref"));
            reference.insert("conversation_id".into(), s(&conversation.0));
            reference.insert("automated".into(), AttributeValue::Bool(true));
            items.push(put(&self.table, reference, None)?);
        }
        self.transact(items).await.map_err(|e| Error::store("TransactWriteItems finish outbox", e.into_service_error()))
    }

    async fn due_outbox(&self, shard: u32, now: DateTime<Utc>, limit: i32) -> Result<Vec<OutboxRef>> {
        let items = self.query_due(outbox_shard(shard), now, limit).await?;
        // Table keys are always in an index: the record is named by them.
        Ok(items.iter().filter_map(|item| outbox_ref(get_s(item, "pk")?, get_s(item, "sk")?)).collect())
    }

    async fn fan_out(
        &self,
        conversation: &ConversationId,
        broadcast: &OutboxMessage,
        token: &str,
        children: &[OutboxMessage],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let done = UpdateBuilder::default()
            .remove("claim_token")
            .remove("lease_until")
            .remove("due_shard")
            .remove("due_at")
            .set("status", s(OutboxStatus::Sent.as_str()))
            .set("sent_message_id", s(format!("{} endpoint(s)", children.len())))
            .set("finished_at", ts(now))
            .set("expires_at", n((now + self.outbox_retention).timestamp()))
            .value(":token", s(token))
            .build(&self.table, outbox_key(conversation, &broadcast.key()), Some("#claim_token = :token"))?;
        let mut items = vec![update(done)];
        for child in children {
            // The broadcast's shard: the sweep that fanned it out reads it next.
            items.push(put(&self.table, outbox_item(conversation, child, now, 0), NOT_EXISTS)?);
        }
        self.transact(items).await.map_err(|e| Error::store("TransactWriteItems fan out", e.into_service_error()))
    }

    async fn answered_at(&self, conversation: &ConversationId) -> Result<Option<DateTime<Utc>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(conversation_pk(conversation), "CONV")))
            .projection_expression("answered_at")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store("GetItem conversation", e.into_service_error()))?;
        Ok(out.item.as_ref().and_then(|item| get_ts(item, "answered_at")))
    }
}

impl ReplyQueue for DynamoStore {
    async fn queue_reply(
        &self,
        conversation: &ConversationId,
        message: &OutboxMessage,
        fingerprint: &str,
        shard: u32,
        now: DateTime<Utc>,
    ) -> Result<QueuedReply> {
        let mut item = outbox_item(conversation, message, now, shard);
        item.insert("request_fingerprint".to_owned(), s(fingerprint));
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match written {
            Ok(_) => Ok(QueuedReply::Queued(parse_outbox(&item)?)),
            Err(err) if matches!(err.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                let existing = self
                    .get_consistent(outbox_key(conversation, &message.key()), "GetItem reply")
                    .await?
                    .ok_or_else(|| Error::store("GetItem reply", "the record its key names is gone"))?;
                let fingerprint = get_s(&existing, "request_fingerprint").unwrap_or_default().to_owned();
                Ok(QueuedReply::Existing { entry: parse_outbox(&existing)?, fingerprint })
            }
            Err(err) => Err(Error::store("PutItem reply", err.into_service_error())),
        }
    }
}

/// For ops (`hark outbox`, `hark webhooks`): what failed for good, sending it again, and
/// switching a disabled help-desk endpoint back on.
impl DynamoStore {
    /// Up to `limit` failed outbox records, oldest failure first.
    pub async fn failed_outbox(&self, limit: i32) -> Result<Vec<(ConversationId, OutboxEntry)>> {
        let far = Utc::now() + TimeDelta::days(365 * 100);
        let mut failed = Vec::new();
        for item in self.query_due(OUTBOX_FAILED_SHARD.to_owned(), far, limit).await? {
            let (Some(pk), Some(sk)) = (get_s(&item, "pk"), get_s(&item, "sk")) else { continue };
            if let Some(record) = self.get_consistent(key(pk.to_owned(), sk), "GetItem failed outbox").await? {
                let conversation = ConversationId(pk.strip_prefix("CONV#").unwrap_or(pk).to_owned());
                failed.push((conversation, parse_outbox(&record)?));
            }
        }
        Ok(failed)
    }

    /// Makes a failed record pending again, due now, with a fresh count of attempts; `false`
    /// when it is no longer failed.
    pub async fn redrive_outbox(
        &self,
        conversation: &ConversationId,
        record: &OutboxKey,
        shard: u32,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let redrive = UpdateBuilder::default()
            .set("status", s(OutboxStatus::Pending.as_str()))
            .set("attempts", n(0))
            .set("due_shard", s(outbox_shard(shard)))
            .set("due_at", n(now.timestamp()))
            .set("redriven_at", ts(now))
            // A redriven record gets its full time again.
            .set("created_at", ts(now))
            .remove("finished_at")
            .value(":failed", s(OutboxStatus::Failed.as_str()))
            .build(&self.table, outbox_key(conversation, record), Some("#status = :failed"))?;
        match self.update_item(redrive).await {
            Ok(_) => Ok(true),
            Err(err) if is_conditional_failure(&err) => Ok(false),
            Err(err) => Err(Error::store("UpdateItem redrive outbox", err.into_service_error())),
        }
    }

    /// Switches a help-desk endpoint back on; `false` when it was not disabled.
    pub async fn enable_endpoint(&self, endpoint: &str) -> Result<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(endpoint_key(endpoint)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| Error::store("DeleteItem endpoint", e.into_service_error()))?;
        Ok(out.attributes.is_some())
    }
}

pub(super) fn outbox_item(
    conversation: &ConversationId,
    message: &OutboxMessage,
    now: DateTime<Utc>,
    shard: u32,
) -> Item {
    let mut item = outbox_key(conversation, &message.key());
    // The target as JSON: its shape varies by platform.
    let target = serde_json::to_string(&message.target).expect("a reply target serialises");
    item.extend([
        ("item_type".to_owned(), s("outbox")),
        ("purpose".to_owned(), s(message.purpose.as_str())),
        ("channel".to_owned(), s(message.channel.as_str())),
        ("account_id".to_owned(), s(&message.account_id)),
        ("record_id".to_owned(), s(&message.record_id)),
        ("answers_message_id".to_owned(), s(&message.answers_message_id)),
        ("target".to_owned(), s(target)),
        ("text".to_owned(), s(&message.text)),
        ("status".to_owned(), s(OutboxStatus::Pending.as_str())),
        ("attempts".to_owned(), n(0)),
        ("created_at".to_owned(), ts(now)),
        // Due at once: the writer sends it straight away, and the sweep catches it if not.
        ("due_shard".to_owned(), s(outbox_shard(shard))),
        ("due_at".to_owned(), n(now.timestamp())),
    ]);
    if let Some(at) = message.customer_wrote_at {
        item.insert("customer_wrote_at".to_owned(), ts(at));
    }
    item
}

pub(super) fn parse_outbox(item: &Item) -> Result<OutboxEntry> {
    let what = "outbox";
    let target: ReplyTarget = serde_json::from_str(required(get_s(item, "target"), what, "target")?)
        .map_err(|e| Error::store("decode", format!("outbox target: {}", crate::error::json_error_summary(&e))))?;
    let channel = required(get_s(item, "channel").and_then(Channel::parse), what, "channel")?;
    let answers_message_id = required(get_s(item, "answers_message_id"), what, "answers_message_id")?.to_owned();
    Ok(OutboxEntry {
        message: OutboxMessage {
            purpose: required(get_s(item, "purpose").and_then(OutboxPurpose::parse), what, "purpose")?,
            // Acknowledgements written before records named themselves are named by what they answer.
            record_id: get_s(item, "record_id").map_or_else(|| answers_message_id.clone(), str::to_owned),
            channel,
            account_id: required(get_s(item, "account_id"), what, "account_id")?.to_owned(),
            answers_message_id,
            target,
            text: required(get_s(item, "text"), what, "text")?.to_owned(),
            customer_wrote_at: get_ts(item, "customer_wrote_at"),
        },
        status: required(get_s(item, "status").and_then(OutboxStatus::parse), what, "status")?,
        attempts: get_n(item, "attempts").unwrap_or(0),
        created_at: required(get_ts(item, "created_at"), what, "created_at")?,
        last_error: get_s(item, "last_error").map(str::to_owned),
        claimed_at: get_ts(item, "claimed_at"),
        perhaps_sent_since: get_ts(item, "perhaps_sent_since"),
    })
}
