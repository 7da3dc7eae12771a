//! Spike counters and incidents in the table.
//!
//! - `SPIKE#{channel}#{account}` / `{bucket}`: a bucket's count and its first samples; kept
//!   two days (TTL).
//! - `INCIDENTS` / `OPEN`: which incident takes further spikes, and until when.
//! - `INCIDENTS` / `{id}`: the incident; `INCIDENTS` / `{id}#ACCOUNT#{channel}#{account}`:
//!   each account that spiked, written once.
//! - `CONV#incident:{id}`: its escalations and approved posts, as any conversation's.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};

use super::{
    DynamoStore, Item, NOT_EXISTS, OUTBOX_PREFIX, conversation_pk, failed_conditions, get_n, get_s, get_ss, get_ts,
    is_conditional_failure, key, n, outbox_item, parse_outbox, put, s, ts, update,
};
use crate::domain::care::spike::QUIET;
use crate::domain::mention::Channel;
use crate::error::{Error, Result};
use crate::ports::{
    BucketCount, Incident, IncidentAccount, IncidentPost, Incidents, OutboxMessage, OutboxPurpose, SpikeCounter,
    SpikeRecord, SpikeRecorded, SpikeSample, incident_conversation, incident_escalation,
};

const INCIDENTS_PK: &str = "INCIDENTS";
const OPEN_SK: &str = "OPEN";
/// A bucket keeps this many of its messages as samples.
const SAMPLES: u64 = 8;
/// Counters outlive the longest baseline (a day) with room.
const COUNTER_RETENTION: TimeDelta = TimeDelta::days(2);

fn counter_pk(channel: Channel, account: &str) -> String {
    format!("SPIKE#{}#{account}", channel.as_str())
}

fn bucket_sk(bucket: DateTime<Utc>) -> String {
    bucket.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn account_sk(id: &str, channel: Channel, account: &str) -> String {
    format!("{id}#ACCOUNT#{}#{account}", channel.as_str())
}

fn samples_json(samples: &[SpikeSample]) -> String {
    serde_json::to_string(samples).expect("samples serialise")
}

fn parse_samples(item: &Item, attr: &str) -> Vec<SpikeSample> {
    match item.get(attr) {
        Some(AttributeValue::L(list)) => {
            list.iter().filter_map(|v| v.as_s().ok()).filter_map(|s| serde_json::from_str(s).ok()).collect()
        }
        Some(AttributeValue::S(json)) => serde_json::from_str(json).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A put whose condition compares values.
fn put_if(table: &str, item: Item, condition: &str, values: Item) -> Result<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .set_expression_attribute_values(Some(values))
        .build()
        .map_err(|e| Error::store("build put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl SpikeCounter for DynamoStore {
    async fn count_for_spike(&self, bucket: DateTime<Utc>, sample: &SpikeSample) -> Result<u64> {
        let key = key(counter_pk(sample.channel, &sample.account_id), &bucket_sk(bucket));
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression("ADD mentions :one SET item_type = :type, expires_at = :expires")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":type", s("spike_count"))
            .expression_attribute_values(":expires", n((bucket + COUNTER_RETENTION).timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| Error::store("UpdateItem spike count", e.into_service_error()))?;
        let mentions = counted.attributes.as_ref().and_then(|a| get_n(a, "mentions")).unwrap_or(0);
        if mentions <= SAMPLES {
            let sample = serde_json::to_string(sample).map_err(|e| Error::store("encode", e))?;
            let kept = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("SET samples = list_append(if_not_exists(samples, :none), :one)")
                .condition_expression("attribute_not_exists(samples) OR size(samples) < :most")
                .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
                .expression_attribute_values(":one", AttributeValue::L(vec![s(sample)]))
                .expression_attribute_values(":most", n(SAMPLES))
                .send()
                .await;
            match kept {
                Ok(_) => {}
                Err(e) if is_conditional_failure(&e) => {}
                Err(e) => return Err(Error::store("UpdateItem spike sample", e.into_service_error())),
            }
        }
        Ok(mentions)
    }

    async fn spike_counts(
        &self,
        channel: Channel,
        account: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<BucketCount>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(counter_pk(channel, account)))
            .expression_attribute_values(":from", s(bucket_sk(from)))
            .expression_attribute_values(":to", s(bucket_sk(to)))
            .send()
            .await
            .map_err(|e| Error::store("Query spike counts", e.into_service_error()))?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|item| {
                let bucket = DateTime::parse_from_rfc3339(get_s(item, "sk")?).ok()?.with_timezone(&Utc);
                let mentions = get_n(item, "mentions").unwrap_or(0);
                Some(BucketCount { bucket, mentions, samples: parse_samples(item, "samples") })
            })
            .collect())
    }
}

impl DynamoStore {
    /// The account's spike as the incident's escalation, pending notice at once.
    fn spike_escalation(&self, id: &str, spike: &SpikeRecord) -> Result<TransactWriteItem> {
        let conversation_id = incident_escalation(id, spike.channel, &spike.account_id);
        let escalation = crate::ports::Escalation { conversation_id, ..spike.escalation.clone() };
        put(
            &self.table,
            self.escalation_item(&escalation, &spike.due_shard.to_string(), escalation.escalated_at)?,
            NOT_EXISTS,
        )
    }

    fn account_item(&self, id: &str, spike: &SpikeRecord) -> Item {
        let mut item = key(INCIDENTS_PK.to_owned(), &account_sk(id, spike.channel, &spike.account_id));
        item.extend([
            ("item_type".to_owned(), s("incident_account")),
            ("incident_id".to_owned(), s(id)),
            ("channel".to_owned(), s(spike.channel.as_str())),
            ("account_id".to_owned(), s(&spike.account_id)),
            ("mentions".to_owned(), n(spike.reading.mentions)),
            ("baseline".to_owned(), n(format!("{:.3}", spike.reading.baseline))),
            ("threshold".to_owned(), n(spike.reading.threshold)),
            ("detected_at".to_owned(), ts(spike.now)),
            ("samples".to_owned(), s(samples_json(&spike.samples))),
        ]);
        item
    }

    async fn open_incident(&self, spike: &SpikeRecord) -> Result<Option<SpikeRecorded>> {
        let id = &spike.incident_id;
        let mut pointer = key(INCIDENTS_PK.to_owned(), OPEN_SK);
        pointer.extend([("incident_id".to_owned(), s(id)), ("last_spike_at".to_owned(), ts(spike.now))]);
        let mut incident = key(INCIDENTS_PK.to_owned(), id);
        incident.extend([
            ("item_type".to_owned(), s("incident")),
            ("status".to_owned(), s("open")),
            ("opened_at".to_owned(), ts(spike.now)),
            ("last_spike_at".to_owned(), ts(spike.now)),
            ("mentions".to_owned(), n(spike.reading.mentions)),
            ("channels".to_owned(), AttributeValue::Ss(vec![spike.channel.as_str().to_owned()])),
            ("suggested_post".to_owned(), s(&spike.suggested_post)),
        ]);
        let items = vec![
            put_if(
                &self.table,
                pointer,
                "attribute_not_exists(pk) OR last_spike_at < :cutoff",
                HashMap::from([(":cutoff".to_owned(), ts(spike.now - QUIET))]),
            )?,
            put(&self.table, incident, NOT_EXISTS)?,
            put(&self.table, self.account_item(id, spike), NOT_EXISTS)?,
            self.spike_escalation(id, spike)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Some(SpikeRecorded::Opened(id.clone()))),
            // Another writer opened one first: join it instead.
            Err(e) if failed_conditions(&e).is_some() => Ok(None),
            Err(e) => Err(Error::store("TransactWriteItems open incident", e.into_service_error())),
        }
    }

    async fn join_incident(&self, id: &str, spike: &SpikeRecord) -> Result<Option<SpikeRecorded>> {
        let incident = super::UpdateBuilder::default()
            .add("mentions", spike.reading.mentions as i64)
            .add_to_set("channels", &[spike.channel.as_str().to_owned()])
            .set("last_spike_at", ts(spike.now))
            .build(&self.table, key(INCIDENTS_PK.to_owned(), id), Some("attribute_exists(pk)"))?;
        let pointer = super::UpdateBuilder::default().set("last_spike_at", ts(spike.now)).value(":id", s(id)).build(
            &self.table,
            key(INCIDENTS_PK.to_owned(), OPEN_SK),
            Some("incident_id = :id"),
        )?;
        let items = vec![
            put(&self.table, self.account_item(id, spike), NOT_EXISTS)?,
            update(incident),
            update(pointer),
            self.spike_escalation(id, spike)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Some(SpikeRecorded::Joined(id.to_owned()))),
            Err(e) => match failed_conditions(&e) {
                Some(failed) if failed.first() == Some(&true) => Ok(Some(SpikeRecorded::Known(id.to_owned()))),
                // The incident closed or another opened meanwhile: look again.
                Some(_) => Ok(None),
                None => Err(Error::store("TransactWriteItems join incident", e.into_service_error())),
            },
        }
    }

    async fn incident_posts(&self, id: &str) -> Result<Vec<IncidentPost>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(conversation_pk(&incident_conversation(id))))
            .expression_attribute_values(":prefix", s(format!("{OUTBOX_PREFIX}{}#", OutboxPurpose::IncidentPost.tag())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store("Query incident posts", e.into_service_error()))?;
        out.items.unwrap_or_default().iter().map(incident_post).collect()
    }

    fn incident_of(&self, item: &Item, accounts: Vec<IncidentAccount>, posts: Vec<IncidentPost>) -> Result<Incident> {
        let what = "incident";
        let required = |value, field| super::required(value, what, field);
        Ok(Incident {
            id: required(get_s(item, "sk"), "sk")?.to_owned(),
            status: required(get_s(item, "status"), "status")?.to_owned(),
            opened_at: super::required(get_ts(item, "opened_at"), what, "opened_at")?,
            last_spike_at: super::required(get_ts(item, "last_spike_at"), what, "last_spike_at")?,
            mentions: get_n(item, "mentions").unwrap_or(0),
            channels: get_ss(item, "channels"),
            suggested_post: get_s(item, "suggested_post").unwrap_or_default().to_owned(),
            approved_at: get_ts(item, "approved_at"),
            approved_by: get_s(item, "approved_by").map(str::to_owned),
            accounts,
            posts,
        })
    }
}

fn incident_post(item: &Item) -> Result<IncidentPost> {
    let entry = parse_outbox(item)?;
    Ok(IncidentPost {
        channel: entry.message.channel.as_str().to_owned(),
        account_id: entry.message.account_id,
        text: entry.message.text,
        status: entry.status.as_str().to_owned(),
        platform_message_id: get_s(item, "sent_message_id").map(str::to_owned),
        last_error: entry.last_error,
    })
}

fn incident_account(item: &Item) -> Option<IncidentAccount> {
    Some(IncidentAccount {
        channel: get_s(item, "channel")?.to_owned(),
        account_id: get_s(item, "account_id")?.to_owned(),
        mentions: get_n(item, "mentions").unwrap_or(0),
        baseline: get_n(item, "baseline").unwrap_or(0.0),
        threshold: get_n(item, "threshold").unwrap_or(0),
        detected_at: get_ts(item, "detected_at")?,
        samples: parse_samples(item, "samples"),
    })
}

impl Incidents for DynamoStore {
    async fn record_spike(&self, spike: &SpikeRecord) -> Result<SpikeRecorded> {
        // Two tries: a writer that loses a race to open one joins the one that won.
        for _ in 0..3 {
            let pointer = self.get_consistent(key(INCIDENTS_PK.to_owned(), OPEN_SK), "GetItem open incident").await?;
            let open = pointer
                .filter(|p| get_ts(p, "last_spike_at").is_some_and(|at| at >= spike.now - QUIET))
                .and_then(|p| get_s(&p, "incident_id").map(str::to_owned));
            let recorded = match open {
                Some(id) => self.join_incident(&id, spike).await?,
                None => self.open_incident(spike).await?,
            };
            if let Some(recorded) = recorded {
                return Ok(recorded);
            }
        }
        Err(Error::store("record spike", "the open incident kept changing; the next spike tries again"))
    }

    async fn incidents(&self, limit: usize) -> Result<Vec<Incident>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(INCIDENTS_PK))
                .expression_attribute_values(":prefix", s("inc-"))
                .scan_index_forward(false)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| Error::store("Query incidents", e.into_service_error()))?;
            items.extend(out.items.unwrap_or_default());
            let incidents = items.iter().filter(|i| get_s(i, "item_type") == Some("incident")).count();
            match out.last_evaluated_key {
                Some(next) if incidents <= limit => start = Some(next),
                _ => break,
            }
        }
        let mut accounts: HashMap<String, Vec<IncidentAccount>> = HashMap::new();
        for item in items.iter().filter(|i| get_s(i, "item_type") == Some("incident_account")) {
            if let (Some(id), Some(account)) = (get_s(item, "incident_id"), incident_account(item)) {
                accounts.entry(id.to_owned()).or_default().push(account);
            }
        }
        let mut incidents = Vec::new();
        for item in items.iter().filter(|i| get_s(i, "item_type") == Some("incident")).take(limit) {
            let id = get_s(item, "sk").unwrap_or_default();
            let posts = self.incident_posts(id).await?;
            incidents.push(self.incident_of(item, accounts.remove(id).unwrap_or_default(), posts)?);
        }
        Ok(incidents)
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :id)")
            .expression_attribute_values(":pk", s(INCIDENTS_PK))
            .expression_attribute_values(":id", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Error::store("Query incident", e.into_service_error()))?;
        let items = out.items.unwrap_or_default();
        let Some(item) = items.iter().find(|i| get_s(i, "sk") == Some(id)) else { return Ok(None) };
        let accounts = items.iter().filter(|i| i != &item).filter_map(incident_account).collect();
        let posts = self.incident_posts(id).await?;
        Ok(Some(self.incident_of(item, accounts, posts)?))
    }

    async fn queue_incident_posts(
        &self,
        id: &str,
        posts: &[OutboxMessage],
        approved_by: &str,
        due_shard: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<(IncidentPost, bool)>> {
        let conversation = incident_conversation(id);
        let mut queued = HashMap::new();
        for post in posts {
            let item = outbox_item(&conversation, post, now, due_shard);
            let written = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            let created = match written {
                Ok(_) => true,
                Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => false,
                Err(e) => return Err(Error::store("PutItem incident post", e.into_service_error())),
            };
            queued.insert((post.channel.as_str().to_owned(), post.account_id.clone()), created);
        }
        let approved = super::UpdateBuilder::default()
            .set("status", s("posted"))
            .set_if_absent("approved_at", ts(now))
            .set_if_absent("approved_by", s(approved_by))
            .build(&self.table, key(INCIDENTS_PK.to_owned(), id), Some("attribute_exists(pk)"))?;
        self.update_item(approved)
            .await
            .map_err(|e| Error::store("UpdateItem approve incident", e.into_service_error()))?;
        Ok(self
            .incident_posts(id)
            .await?
            .into_iter()
            .filter_map(|post| {
                let created = *queued.get(&(post.channel.clone(), post.account_id.clone()))?;
                Some((post, created))
            })
            .collect())
    }
}
