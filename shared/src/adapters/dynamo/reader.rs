//! What the HTTP API and the report ask of conversations and customers: conversations
//! listed by month (`list-index`), one conversation's view, resolving one (which stops its
//! clock), a customer's history (`customer-index`), and customer values.

use super::*;

/// The month before `month` (`2026-01` → `2025-12`).
fn previous_month(month: &str) -> Option<String> {
    let (year, month) = month.split_once('-')?;
    let (year, month): (i32, u32) = (year.parse().ok()?, month.parse().ok()?);
    Some(if month <= 1 { format!("{:04}-12", year - 1) } else { format!("{year:04}-{:02}", month - 1) })
}

fn conversation_summary(item: &Item) -> Result<ConversationSummary> {
    let view = conversation_view(item)?;
    let escalation_level: u32 = get_n(item, "escalation_level").unwrap_or(0);
    Ok(ConversationSummary {
        created_at: required(view.created_at, "conversation", "created_at")?,
        id: view.id,
        channel: view.channel,
        account_id: view.account_id,
        kind: view.kind,
        status: view.status,
        customer: view.customer,
        last_message_at: view.last_message_at,
        last_text: get_s(item, "last_text").map(str::to_owned),
        last_sentiment: view.last_sentiment,
        last_intent: view.last_intent,
        message_count: view.message_count,
        priority: get_n(item, "priority"),
        escalation_level,
        breached: escalation_level >= crate::domain::sla::BREACH,
        needs_person: view.needs_person,
        listening: view.listening,
    })
}

fn message_view(item: &Item) -> Result<MessageView> {
    let what = "message";
    Ok(MessageView {
        id: required(get_s(item, "message_id"), what, "message_id")?.to_owned(),
        direction: required(get_s(item, "direction"), what, "direction")?.to_owned(),
        kind: get_s(item, "kind").unwrap_or_default().to_owned(),
        author_id: get_s(item, "author_id").unwrap_or_default().to_owned(),
        author_handle: get_s(item, "author_handle").map(str::to_owned),
        author_name: get_s(item, "author_name").map(str::to_owned),
        text: get_s(item, "text").unwrap_or_default().to_owned(),
        created_at: required(get_ts(item, "created_at"), what, "created_at")?,
        sentiment: get_s(item, "sentiment").map(str::to_owned),
        sentiment_score: get_n(item, "sentiment_score"),
        sentiment_confidence: get_n(item, "sentiment_confidence"),
        thank: item.get("thank").and_then(|v| v.as_bool().ok()).copied(),
        intent: get_s(item, "intent").map(str::to_owned),
        priority: get_n(item, "priority"),
        urgency: get_ss(item, "urgency"),
        language: get_s(item, "language").map(str::to_owned),
        redacted: get_ss(item, "redacted"),
        automated: item.get("automated").and_then(|v| v.as_bool().ok()).copied(),
        edited_at: get_ts(item, "edited_at"),
        removed_at: get_ts(item, "removed_at"),
    })
}

fn conversation_view(item: &Item) -> Result<ConversationView> {
    let what = "conversation";
    let sla = match (get_ts(item, "sla_started_at"), get_ts(item, "ideal_due_at"), get_ts(item, "breach_due_at")) {
        (Some(started_at), Some(ideal_due_at), Some(breach_due_at)) => Some(SlaView {
            started_at,
            ideal_due_at,
            breach_due_at,
            escalation_level: get_n(item, "escalation_level").unwrap_or(0),
        }),
        _ => None,
    };
    Ok(ConversationView {
        id: required(get_s(item, "conversation_id"), what, "conversation_id")?.to_owned(),
        channel: required(get_s(item, "channel"), what, "channel")?.to_owned(),
        account_id: required(get_s(item, "account_id"), what, "account_id")?.to_owned(),
        kind: get_s(item, "kind").unwrap_or("public").to_owned(),
        status: required(get_s(item, "status"), what, "status")?.to_owned(),
        customer: CustomerRef {
            id: required(get_s(item, "customer_id"), what, "customer_id")?.to_owned(),
            handle: get_s(item, "customer_handle").map(str::to_owned),
            name: get_s(item, "customer_name").map(str::to_owned),
        },
        opened_by: get_s(item, "opened_by").unwrap_or_default().to_owned(),
        created_at: get_ts(item, "created_at"),
        last_message_at: get_ts(item, "last_message_at"),
        last_sentiment: get_s(item, "last_sentiment").map(str::to_owned),
        last_intent: get_s(item, "last_intent").map(str::to_owned),
        message_count: get_n(item, "message_count").unwrap_or(0),
        sla,
        first_response_at: get_ts(item, "first_response_at"),
        answered_at: get_ts(item, "answered_at"),
        needs_person: get_s(item, "needs_person").map(str::to_owned),
        listening: item.get("listening").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        messages: Vec::new(),
        escalations: Vec::new(),
        outbound: Vec::new(),
        tickets: Vec::new(),
    })
}

impl ConversationReader for DynamoStore {
    /// One query over the conversation's partition: the conversation item, its messages (in
    /// order, by their sort key), escalations and outbox records.
    async fn conversation_view(&self, id: &ConversationId) -> Result<Option<ConversationView>> {
        let items = self.partition(conversation_pk(id), "Query conversation").await?;
        let Some(mut view) =
            items.iter().find(|i| get_s(i, "sk") == Some("CONV")).map(conversation_view).transpose()?
        else {
            return Ok(None);
        };
        for item in &items {
            match get_s(item, "item_type") {
                Some("message") => view.messages.push(message_view(item)?),
                Some("escalation") => view.escalations.push(EscalationView {
                    level: get_n(item, "level").unwrap_or(0),
                    level_name: get_s(item, "level_name").unwrap_or_default().to_owned(),
                    sla_started_at: required(get_ts(item, "sla_started_at"), "escalation", "sla_started_at")?,
                    escalated_at: required(get_ts(item, "escalated_at"), "escalation", "escalated_at")?,
                }),
                Some("outbox") => {
                    let entry = parse_outbox(item)?;
                    view.outbound.push(OutboundView {
                        id: entry.message.key().to_string(),
                        purpose: entry.message.purpose.as_str().to_owned(),
                        sent_message_id: get_s(item, "sent_message_id").map(str::to_owned),
                        answers_message_id: entry.message.answers_message_id,
                        visibility: entry.message.target.visibility(),
                        status: entry.status.as_str().to_owned(),
                        attempts: entry.attempts,
                        text: entry.message.text,
                        created_at: entry.created_at,
                        last_error: entry.last_error,
                    });
                }
                Some("ticket") => view.tickets.push(TicketView {
                    desk: get_s(item, "desk").unwrap_or_default().to_owned(),
                    ticket_id: get_s(item, "ticket_id").unwrap_or_default().to_owned(),
                }),
                _ => {}
            }
        }
        view.messages.sort_by_key(|m| m.created_at);
        Ok(Some(view))
    }

    async fn kpi_rows(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<crate::domain::kpi::KpiRow>> {
        let from = since.to_rfc3339_opts(SecondsFormat::Millis, true);
        // List keys are `{created_at}#{id}`: `~` sorts after `#`, so `until`'s own instant is in.
        let to = format!("{}~", until.to_rfc3339_opts(SecondsFormat::Millis, true));
        let mut rows = Vec::new();
        let (mut month, last) = (list_month(until), list_month(since));
        while month >= last {
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(LIST_INDEX)
                    .key_condition_expression("list_pk = :month AND list_sk BETWEEN :from AND :to")
                    .expression_attribute_values(":month", s(list_pk(&month)))
                    .expression_attribute_values(":from", s(&from))
                    .expression_attribute_values(":to", s(&to))
                    .projection_expression(
                        "channel, #status, created_at, first_response_at, escalation_level, first_clock_at, \
                         breached_at, escalations, viral_at, first_sentiment, last_sentiment",
                    )
                    .expression_attribute_names("#status", "status")
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| Error::store("Query list-index for KPIs", e.into_service_error()))?;
                for item in out.items() {
                    let level: u32 = get_n(item, "escalation_level").unwrap_or(0);
                    let breached_now = (crate::domain::sla::BREACH..crate::domain::sla::VIRAL).contains(&level);
                    rows.push(crate::domain::kpi::KpiRow {
                        channel: get_s(item, "channel").unwrap_or_default().to_owned(),
                        status: get_s(item, "status").unwrap_or_default().to_owned(),
                        created_at: required(get_ts(item, "created_at"), "conversation", "created_at")?,
                        first_response_at: get_ts(item, "first_response_at"),
                        // Conversations stored before these were kept: a running clock asked.
                        asked: item.contains_key("first_clock_at") || item.contains_key("escalation_level"),
                        breached: item.contains_key("breached_at") || breached_now,
                        escalations: get_n(item, "escalations").unwrap_or(level.min(crate::domain::sla::VIRAL - 1)),
                        viral: item.contains_key("viral_at"),
                        sentiment: get_s(item, "first_sentiment").or(get_s(item, "last_sentiment")).map(str::to_owned),
                    });
                }
                match out.last_evaluated_key {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
            match previous_month(&month) {
                Some(previous) => month = previous,
                None => break,
            }
        }
        Ok(rows)
    }

    async fn list_conversations(
        &self,
        filter: &ConversationFilter,
        limit: usize,
        cursor: Option<&ListCursor>,
        now: DateTime<Utc>,
    ) -> Result<ConversationPage> {
        let newest = list_month(now);
        let mut oldest = newest.clone();
        for _ in 1..LIST_MONTHS {
            oldest = previous_month(&oldest).unwrap_or(oldest);
        }
        let (mut month, mut after) = match cursor {
            Some(cursor) => (cursor.month.clone(), cursor.after.clone()),
            None => (newest, None),
        };
        let mut conversations = Vec::new();
        while month >= oldest && conversations.len() < limit {
            let wanted = limit - conversations.len();
            let (found, position) = self.list_month_page(filter, &month, after.as_deref(), wanted).await?;
            conversations.extend(found);
            if let Some(last) = position {
                // Stopped inside the month: go on from the last conversation returned.
                return Ok(ConversationPage { conversations, next: Some(ListCursor { month, after: Some(last) }) });
            }
            month = previous_month(&month).unwrap_or_default();
            after = None;
        }
        let next = (month >= oldest).then_some(ListCursor { month, after: None });
        Ok(ConversationPage { conversations, next })
    }
}

impl DynamoStore {
    /// Up to `wanted` matching conversations of one month, newest first, after the list key
    /// `after`; with the list key of the last one returned when the month may have more.
    async fn list_month_page(
        &self,
        filter: &ConversationFilter,
        month: &str,
        after: Option<&str>,
        wanted: usize,
    ) -> Result<(Vec<ConversationSummary>, Option<String>)> {
        let mut found = Vec::new();
        let mut start = after.map(|list_sk| {
            // A list key ends with the conversation id, which gives its table key.
            let id = list_sk.split_once('#').map(|(_, id)| id).unwrap_or_default();
            HashMap::from([
                ("list_pk".to_owned(), s(list_pk(month))),
                ("list_sk".to_owned(), s(list_sk)),
                ("pk".to_owned(), s(format!("CONV#{id}"))),
                ("sk".to_owned(), s("CONV")),
            ])
        });
        let mut filters = Vec::new();
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(LIST_INDEX)
            .key_condition_expression("list_pk = :month")
            .expression_attribute_values(":month", s(list_pk(month)))
            .scan_index_forward(false);
        if let Some(status) = &filter.status {
            filters.push("#status = :status");
            request = request
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status));
        }
        if let Some(channel) = filter.channel {
            filters.push("channel = :channel");
            request = request.expression_attribute_values(":channel", s(channel.as_str()));
        }
        if let Some(min) = filter.min_priority {
            filters.push("priority >= :priority");
            request = request.expression_attribute_values(":priority", n(min));
        }
        match filter.breached {
            Some(true) => {
                filters.push("escalation_level >= :breach");
                request = request.expression_attribute_values(":breach", n(crate::domain::sla::BREACH));
            }
            Some(false) => {
                filters.push("(attribute_not_exists(escalation_level) OR escalation_level < :breach)");
                request = request.expression_attribute_values(":breach", n(crate::domain::sla::BREACH));
            }
            None => {}
        }
        if !filters.is_empty() {
            request = request.filter_expression(filters.join(" AND "));
        }
        loop {
            let out = request
                .clone()
                .set_exclusive_start_key(start.take())
                .limit(100)
                .send()
                .await
                .map_err(|e| Error::store("Query list-index", e.into_service_error()))?;
            let items = out.items.unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                found.push(conversation_summary(item)?);
                if found.len() == wanted {
                    let more = i + 1 < items.len() || out.last_evaluated_key.is_some();
                    let last = more.then(|| get_s(item, "list_sk").unwrap_or_default().to_owned());
                    return Ok((found, last));
                }
            }
            match out.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok((found, None)),
            }
        }
    }
}

impl ConversationResolver for DynamoStore {
    async fn resolve_conversation(&self, id: &ConversationId, now: DateTime<Utc>) -> Result<Resolution> {
        let Some(item) = self.conversation_item(id).await? else { return Ok(Resolution::NoSuchConversation) };
        let resolution = if get_s(&item, "status") == Some("resolved") {
            Resolution::AlreadyResolved
        } else {
            let mut update = UpdateBuilder::default().set("status", s("resolved")).set("resolved_at", ts(now));
            for attr in CLOCK_ATTRIBUTES {
                update = update.remove(attr);
            }
            let update = update.value(":resolved", s("resolved")).name("status").build(
                &self.table,
                key(conversation_pk(id), "CONV"),
                Some("attribute_exists(pk) AND #status <> :resolved"),
            )?;
            // Help desks hear of it with the resolution, or not at all. Shard 0: every sweep reads it.
            let forward = outbox_item(id, &crate::domain::forward::resolved(id, now), now, 0);
            match self.transact(vec![self::update(update), put(&self.table, forward, None)?]).await {
                Ok(()) => Resolution::Resolved,
                // Resolved a moment ago by someone else.
                Err(err) if failed_conditions(&err).is_some_and(|failed| failed.first() == Some(&true)) => {
                    Resolution::AlreadyResolved
                }
                Err(err) => return Err(Error::store("TransactWriteItems resolve", err.into_service_error())),
            }
        };
        // Also on a second call: the first may have stopped before this.
        if get_s(&item, "kind") == Some("direct") {
            let (channel, account, customer) = (
                get_s(&item, "channel").and_then(Channel::parse),
                get_s(&item, "account_id").unwrap_or_default(),
                get_s(&item, "customer_id").unwrap_or_default(),
            );
            if let Some(channel) = channel {
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(open_dm_key(channel, account, customer)))
                    .condition_expression("conversation_id = :id")
                    .expression_attribute_values(":id", s(&id.0))
                    .send()
                    .await;
                match deleted {
                    Ok(_) => {}
                    // The customer's open DM conversation is already another one, or none.
                    Err(err)
                        if matches!(
                            err.as_service_error(),
                            Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_))
                        ) => {}
                    Err(err) => return Err(Error::store("DeleteItem open DM pointer", err.into_service_error())),
                }
            }
        }
        Ok(resolution)
    }
}

impl CustomerReader for DynamoStore {
    async fn customer_profile(
        &self,
        channel: Channel,
        account: &str,
        customer: &str,
    ) -> Result<Option<CustomerProfile>> {
        let pk = customer_pk(channel, account, customer);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), "PROFILE")))
            .send()
            .await
            .map_err(|e| Error::store("GetItem customer", e.into_service_error()))?;
        let Some(item) = out.item else { return Ok(None) };
        let value =
            crate::ports::CustomerValues::customer_value(self, channel, customer, get_s(&item, "handle")).await?;
        let history = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(CUSTOMER_INDEX)
            .key_condition_expression("customer_pk = :customer")
            .expression_attribute_values(":customer", s(pk))
            .scan_index_forward(false)
            .limit(CUSTOMER_HISTORY)
            .send()
            .await
            .map_err(|e| Error::store("Query customer-index", e.into_service_error()))?;
        let what = "customer conversation";
        let conversations = history
            .items()
            .iter()
            .map(|c| {
                Ok(CustomerConversation {
                    id: required(get_s(c, "conversation_id"), what, "conversation_id")?.to_owned(),
                    status: get_s(c, "status").unwrap_or_default().to_owned(),
                    created_at: required(get_ts(c, "created_at"), what, "created_at")?,
                    last_message_at: get_ts(c, "last_message_at"),
                    last_sentiment: get_s(c, "last_sentiment").map(str::to_owned),
                    last_intent: get_s(c, "last_intent").map(str::to_owned),
                    message_count: get_n(c, "message_count").unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(CustomerProfile {
            channel: channel.as_str().to_owned(),
            account_id: account.to_owned(),
            id: customer.to_owned(),
            handle: get_s(&item, "handle").map(str::to_owned),
            name: get_s(&item, "name").map(str::to_owned),
            followers: get_n(&item, "followers"),
            value,
            verified: item.get("verified").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
            first_seen_at: get_ts(&item, "first_seen_at"),
            last_seen_at: get_ts(&item, "last_seen_at"),
            last_sentiment: get_s(&item, "last_sentiment").map(str::to_owned),
            message_count: get_n(&item, "message_count").unwrap_or(0),
            conversation_count: get_n(&item, "conversation_count").unwrap_or(0),
            conversations,
        }))
    }
}

fn value_key(channel: Channel, key: &crate::domain::customer_value::CustomerKey) -> Item {
    self::key(format!("VALUE#{}#{}", channel.as_str(), key.stored()), "VALUE")
}

impl crate::ports::CustomerValues for DynamoStore {
    async fn import_values(&self, rows: &[crate::domain::customer_value::ValueRow]) -> Result<usize> {
        let items = rows
            .iter()
            .map(|row| {
                let mut item = value_key(row.channel, &row.key);
                item.insert("item_type".into(), s("customer_value"));
                item.insert("channel".into(), s(row.channel.as_str()));
                item.insert("customer_key".into(), s(row.key.stored()));
                if let Some(tier) = &row.value.tier {
                    item.insert("tier".into(), s(tier));
                }
                if let Some(value) = row.value.lifetime_value {
                    item.insert("lifetime_value".into(), AttributeValue::N(value.to_string()));
                }
                if let Some(crm) = &row.value.crm_id {
                    item.insert("crm_id".into(), s(crm));
                }
                item
            })
            .collect();
        self.batch_put(items, "BatchWriteItem customer values").await?;
        Ok(rows.len())
    }

    async fn customer_value(
        &self,
        channel: Channel,
        id: &str,
        handle: Option<&str>,
    ) -> Result<Option<crate::domain::customer_value::CustomerValue>> {
        use crate::domain::customer_value::{CustomerKey, CustomerValue};
        let read = |key: CustomerKey| async move {
            self.client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(value_key(channel, &key)))
                .send()
                .await
                .map(|out| out.item)
                .map_err(|e| Error::store("GetItem customer value", e.into_service_error()))
        };
        let by_handle = async {
            match handle.filter(|h| !h.is_empty()) {
                Some(handle) => read(CustomerKey::handle(handle)).await,
                None => Ok(None),
            }
        };
        let (by_id, by_handle) = tokio::join!(read(CustomerKey::Id(id.to_owned())), by_handle);
        Ok(by_id?.or(by_handle?).map(|item| CustomerValue {
            tier: get_s(&item, "tier").map(str::to_owned),
            lifetime_value: get_n(&item, "lifetime_value"),
            crm_id: get_s(&item, "crm_id").map(str::to_owned),
        }))
    }
}
