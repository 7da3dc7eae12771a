//! The processor function: consumes mention batches from the FIFO queue, classifies,
//! threads into conversations, stores each message exactly once, starts the SLA clock and
//! acknowledges complaints and questions through the outbox.
//!
//! Failures are per message (`ReportBatchItemFailures`): a message that could not be stored
//! is redelivered by SQS and, after the queue's max receive count, moved to the dead-letter
//! queue. Within a FIFO message group, the messages after a failure are not processed in
//! this invocation, so one customer's messages never overtake each other.
//!
//! Once a message is stored, its acknowledgement is the outbox's business: it is sent once
//! here, straight away, and if that fails for any reason the outbox sweep retries it on its
//! own schedule. A platform outage never holds back, repeats or dead-letters a customer's
//! messages.

mod spikes;
mod value_cache;

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use hark_shared::channels::x::comparable_text;
use hark_shared::domain::care::{CarePolicies, Inbound, ReplyKind, decide_inbound};
use hark_shared::domain::classify::{
    CareClassifier, Classification, Classifier, ClassifierConfig, Context, PriorityWhy, Reason, TrainedClassifier,
    stored_form,
};
use hark_shared::domain::customer_value::CustomerValue;
use hark_shared::domain::forward::{StoredMessage, Subscription};
use hark_shared::domain::mention::{Direction, Mention, MessageAction};
use hark_shared::domain::outbox::{Delivered, OutboxPolicy};
use hark_shared::domain::sla::SlaPolicies;
use hark_shared::metrics::Metrics;
use hark_shared::ports::{
    Amended, Amendment, Clock, ConversationId, ConversationState, ConversationStore, CustomerValues, FastTrackRecord,
    InboundRecord, KnownMessage, NewConversation, OutboundRecord, OutboxKey, OutboxMessage, OutboxPurpose, OutboxStore,
    Recorded, ReplySender, Route, SystemClock, TextFetcher, due_shard,
};
use hark_shared::ports::{Incidents, SpikeCounter, SpikeRecorded};
use hark_shared::{Error, Retry};

pub use spikes::SpikeWatch;
pub use value_cache::ValueCache;

#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    #[error("message {message_id} has no body")]
    EmptyBody { message_id: String },
    #[error("message {message_id} is not a mention: {reason}")]
    NotAMention { message_id: String, reason: String },
    /// A reply of the brand's whose customer the platform did not name, and whose parent
    /// is not stored yet: the parent travels in another queue group and may still come.
    #[error("the message {parent} that {message_id} answers is not stored yet")]
    ParentNotYetStored { message_id: String, parent: String },
    #[error(transparent)]
    Shared(#[from] Error),
}

impl ProcessorError {
    /// The one place a failure becomes a queue decision.
    fn retry(&self) -> Retry {
        match self {
            // Poison: redelivery cannot fix it, so it goes to the DLQ after the receive count.
            ProcessorError::EmptyBody { .. } | ProcessorError::NotAMention { .. } => Retry::Never,
            ProcessorError::ParentNotYetStored { .. } => Retry::Soon,
            ProcessorError::Shared(error) => error.retry(),
        }
    }
}

pub struct Processor<S, R> {
    pub store: S,
    pub replies: R,
    pub outbox: OutboxPolicy,
    pub classifier: Box<dyn Classifier>,
    /// Each account's business hours, texts and thanks (`domain::care`).
    pub care: CarePolicies,
    pub sla: SlaPolicies,
    pub due_shards: u32,
    /// How many receives a message may wait for something outside it: a brand reply for
    /// its parent to be stored (see [`ProcessorError::ParentNotYetStored`]), a mention for
    /// the platform to give its text. Always fewer than the queue's max receive count, so
    /// waiting never dead-letters a message.
    pub wait_receives: u32,
    /// The help desks each stored message is forwarded to (the outbox sweep delivers).
    pub forwarding: Vec<Subscription>,
    pub clock: Box<dyn Clock>,
    /// Customer values read lately.
    pub values: ValueCache,
    /// Accounts' spike checks, so a burst is not a burst of reads.
    pub spikes: SpikeWatch,
}

/// The customer's tier when the classifier counts it as valued (it raised the priority).
fn valued_tier(c: &Classification) -> Option<String> {
    c.reasons.iter().find_map(|r| match r {
        Reason::Priority { why: PriorityWhy::ValuedCustomer(tier), .. } => Some(tier.clone()),
        _ => None,
    })
}

/// What happened to one message, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Stored {
        /// What became of its acknowledgement, when it has one.
        acknowledgement: Option<Delivered>,
        /// What the care KPIs count of it.
        care: CareCounts,
    },
    Duplicate,
    ReplyRecorded {
        stops_clock: bool,
    },
    /// The brand wrote outside any known conversation (a proactive tweet): nothing to answer.
    OutsideConversation,
    /// An edit or a removal was applied to the stored message.
    Amended,
    /// A message removed before it was seen: recorded, never answered.
    RemovedUnseen,
    /// An edit or a removal of a message Hark does not store (one of its own).
    NothingToAmend,
}

/// A stored customer message, as the dimensioned metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CareCounts {
    pub channel: &'static str,
    pub sentiment: &'static str,
    pub new_conversation: bool,
    pub fast_tracked: bool,
    pub spike: bool,
}

impl CareCounts {
    fn count(&self, metrics: &mut Metrics) {
        let channel = [("Channel", self.channel)];
        metrics.count_by("Messages", &[("Channel", self.channel), ("Sentiment", self.sentiment)], 1);
        for (name, happened) in
            [("Conversations", self.new_conversation), ("FastTracked", self.fast_tracked), ("Spikes", self.spike)]
        {
            if happened {
                metrics.count_by(name, &channel, 1);
            }
        }
    }
}

impl Outcome {
    fn metric(self) -> &'static str {
        match self {
            Outcome::Stored { .. } => "MessagesStored",
            Outcome::Duplicate => "Duplicates",
            Outcome::ReplyRecorded { .. } => "RepliesRecorded",
            Outcome::OutsideConversation => "OutsideConversation",
            Outcome::Amended | Outcome::RemovedUnseen | Outcome::NothingToAmend => "MessagesAmended",
        }
    }
}

/// The default classifier with the account's tuning (`CLASSIFIER_CONFIG`, JSON), and the
/// company's trained model when `CLASSIFIER_MODEL_PATH` names one (a file from a Lambda
/// layer). A configured model that cannot be read stops the function from starting.
pub fn load_classifier(config: Option<String>, model_path: Option<String>) -> hark_shared::Result<Box<dyn Classifier>> {
    let config: ClassifierConfig = match config {
        Some(json) => serde_json::from_str(&json).map_err(|e| Error::Config(format!("CLASSIFIER_CONFIG: {e}")))?,
        None => ClassifierConfig::default(),
    };
    let care = CareClassifier::new(config);
    let Some(path) = model_path else { return Ok(Box::new(care)) };
    let bytes = std::fs::read(&path).map_err(|e| Error::Config(format!("CLASSIFIER_MODEL_PATH {path}: {e}")))?;
    let model = hark_shared::domain::classify::model::LinearModel::from_bytes(&bytes)
        .map_err(|e| Error::Config(format!("CLASSIFIER_MODEL_PATH {path}: {e}")))?;
    tracing::info!(label = model.header.label, classes = ?model.header.classes, "trained classifier loaded");
    Ok(Box::new(TrainedClassifier { care, model }))
}

pub struct Config {
    pub classifier: Box<dyn Classifier>,
    pub table: String,
    pub x_api_base_url: String,
    pub meta_graph_base_url: String,
    pub meta_graph_version: String,
    pub sla: SlaPolicies,
    pub due_shards: u32,
    pub care: CarePolicies,
    pub wait_receives: u32,
}

impl Config {
    pub fn from_env() -> hark_shared::Result<Self> {
        use hark_shared::config::{env_or, optional_env, required_env};
        let due_shards = env_or("DUE_INDEX_SHARDS", 4u32)?;
        if !(1..=64).contains(&due_shards) {
            return Err(Error::Config(format!("DUE_INDEX_SHARDS must be 1..=64, not {due_shards}")));
        }
        Ok(Config {
            classifier: load_classifier(optional_env("CLASSIFIER_CONFIG"), optional_env("CLASSIFIER_MODEL_PATH"))?,
            table: required_env("TABLE_NAME")?,
            x_api_base_url: env_or("X_API_BASE_URL", "https://api.x.com".to_owned())?,
            meta_graph_base_url: env_or("META_GRAPH_BASE_URL", "https://graph.facebook.com".to_owned())?,
            meta_graph_version: env_or("META_GRAPH_VERSION", "v26.0".to_owned())?,
            sla: SlaPolicies::from_env()?,
            due_shards,
            care: CarePolicies::from_env()?,
            wait_receives: wait_receives(env_or("MAX_RECEIVE_COUNT", 5u32)?),
        })
    }
}

/// Waits at most two receives, and never as long as the queue's max receive count.
pub fn wait_receives(max_receive_count: u32) -> u32 {
    max_receive_count.saturating_sub(1).min(2)
}

pub type AwsProcessor = Processor<
    hark_shared::adapters::dynamo::DynamoStore,
    hark_shared::channels::Outbound<hark_shared::channels::x::AwsXApiClient>,
>;

impl AwsProcessor {
    pub async fn from_env() -> hark_shared::Result<Self> {
        let config = Config::from_env()?;
        let aws = hark_shared::config::aws().await;
        let credentials = hark_shared::credentials::Credentials::load(&aws).await?;
        let store = hark_shared::adapters::dynamo::DynamoStore::from_config(&aws, &config.table);
        let replies = hark_shared::channels::Outbound::new(
            hark_shared::channels::x::XApiClient::for_aws(&aws, &config.x_api_base_url, &config.table, &credentials)?,
            hark_shared::channels::meta::MetaClient::for_aws(
                &aws,
                &config.meta_graph_base_url,
                &config.meta_graph_version,
                &credentials,
            )?,
            hark_shared::channels::bluesky::client::AwsBlueskyClient::for_aws(&aws, &config.table, &credentials)?,
            hark_shared::channels::youtube::client::AwsYouTubeClient::from_env(&aws, &config.table, &credentials)?,
            // The processor sends acknowledgements only: forwards go out from the outbox function.
            hark_shared::helpdesks::HelpDesks::webhooks_only(
                hark_shared::helpdesks::webhook_sender::WebhookSender::new(&Default::default(), store.clone())?,
            ),
            &credentials,
        )?;
        Ok(Processor {
            replies,
            store,
            outbox: OutboxPolicy::default(),
            classifier: config.classifier,
            care: config.care,
            sla: config.sla,
            due_shards: config.due_shards,
            wait_receives: config.wait_receives,
            forwarding: credentials.subscriptions(),
            clock: Box::new(SystemClock),
            values: ValueCache::default(),
            spikes: SpikeWatch::default(),
        })
    }
}

impl<S, R> Processor<S, R>
where
    S: ConversationStore + OutboxStore + CustomerValues + SpikeCounter + Incidents,
    R: ReplySender + TextFetcher,
{
    /// Handles one SQS batch and reports the messages to redeliver.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut metrics = Metrics::new("processor");
        // Keep each FIFO group's order; different groups proceed concurrently.
        let mut groups: Vec<(Option<String>, Vec<&SqsMessage>)> = Vec::new();
        for record in &event.records {
            let group = record.attributes.get("MessageGroupId").cloned();
            match groups.iter_mut().find(|(g, _)| group.is_some() && *g == group) {
                Some((_, members)) => members.push(record),
                None => groups.push((group, vec![record])),
            }
        }
        let results = join_all(groups.iter().map(|(_, records)| self.handle_group(records))).await;

        let mut response = SqsBatchResponse::default();
        for (outcomes, failed) in results {
            for outcome in outcomes {
                if let Outcome::Stored { acknowledgement, care } = outcome {
                    if let Some(delivered) = acknowledgement {
                        metrics.count(delivered.metric(), 1);
                    }
                    care.count(&mut metrics);
                }
                metrics.count(outcome.metric(), 1);
            }
            metrics.count("Failures", failed.len() as u64);
            for message_id in failed {
                response.add_failure(message_id);
            }
        }
        metrics.emit();
        response
    }

    /// Processes a group's messages in order; at the first failure the rest of the group is
    /// returned unprocessed. Returns the outcomes and the ids to redeliver.
    async fn handle_group(&self, records: &[&SqsMessage]) -> (Vec<Outcome>, Vec<String>) {
        let mut outcomes = Vec::new();
        for (index, record) in records.iter().enumerate() {
            let message_id = record.message_id.clone().unwrap_or_default();
            match self.handle_record(record).await {
                Ok(outcome) => outcomes.push(outcome),
                Err(error) => {
                    tracing::error!(%error, message_id, retry = ?error.retry(), "message failed");
                    let failed = records[index..].iter().map(|r| r.message_id.clone().unwrap_or_default()).collect();
                    return (outcomes, failed);
                }
            }
        }
        (outcomes, Vec::new())
    }

    async fn handle_record(&self, record: &SqsMessage) -> Result<Outcome, ProcessorError> {
        let message_id = record.message_id.clone().unwrap_or_default();
        let body =
            record.body.as_deref().ok_or_else(|| ProcessorError::EmptyBody { message_id: message_id.clone() })?;
        let mention: Mention = serde_json::from_str(body).map_err(|e| ProcessorError::NotAMention {
            message_id,
            reason: hark_shared::error::json_error_summary(&e),
        })?;
        let (channel, platform_message_id, kind) = (mention.channel, mention.message_id.clone(), mention.kind);
        let receives = record.attributes.get("ApproximateReceiveCount").and_then(|n| n.parse().ok()).unwrap_or(1);
        let outcome = match (mention.action, mention.direction) {
            (MessageAction::Edited | MessageAction::Removed, _) => self.amend(mention, receives).await?,
            (MessageAction::Created, Direction::Inbound) => self.inbound(mention, receives).await?,
            (MessageAction::Created, Direction::Outbound) => self.outbound(&mention, receives).await?,
        };
        tracing::info!(%channel, platform_message_id, ?kind, ?outcome, "message processed");
        Ok(outcome)
    }

    /// `receives`: how many times SQS has handed this message out, this time included.
    pub async fn inbound(&self, mut mention: Mention, receives: u32) -> Result<Outcome, ProcessorError> {
        // A redelivery finds its message already stored; it only finishes what the first
        // delivery may have left undone (an acknowledgement that failed to send).
        match self.store.known_message(mention.channel, &mention.account_id, &mention.message_id).await? {
            Some(KnownMessage::In(conversation)) => {
                // Its automatic answer is an acknowledgement, or else perhaps a thank-you.
                for key in [OutboxKey::acknowledgement(&mention.message_id), OutboxKey::thanks(&mention.message_id)] {
                    if self.deliver_automatic(&conversation, &key).await != Delivered::NoRecord {
                        break;
                    }
                }
                return Ok(Outcome::Duplicate);
            }
            Some(KnownMessage::RemovedUnseen) => return Ok(Outcome::RemovedUnseen),
            None => {}
        }
        if mention.text_source.is_some() && mention.text.is_empty() {
            self.fetch_text(&mut mention, receives).await?;
        }
        let m = &mention;
        let value = self.customer_value(m).await;
        let classification = self.classify(m, value.as_ref());
        let mut conversation = self.thread(m).await?;
        // The conversation's customer, valued by the CRM, counts as reach for the fast track.
        let valued = valued_tier(&classification);
        let by_customer = conversation.facts.customer_id.as_deref().is_none_or(|c| c == m.customer_id);
        if by_customer {
            conversation.facts.valued = valued.clone();
        }
        let policy = self.care.for_account(&m.account_id);
        // The customer's thank-yous are read only for a message that may be thanked.
        let thanked = if classification.thank.thank && policy.thanks && !conversation.thanked {
            self.store.thanks_given(m.channel, &m.account_id, &m.customer_id).await?
        } else {
            HashMap::new()
        };
        let inbound = Inbound {
            mention: m,
            classification: &classification,
            acknowledged: conversation.acknowledged || conversation.thanked,
            answered_at: conversation.answered_at,
            thanked: &thanked,
            conversation: &conversation.facts,
        };
        let decision = decide_inbound(policy, self.sla.for_mention(m), &inbound, self.clock.now());
        let outbox = |purpose: OutboxPurpose, target, text| OutboxMessage {
            purpose,
            record_id: m.message_id.clone(),
            channel: m.channel,
            account_id: m.account_id.clone(),
            answers_message_id: m.message_id.clone(),
            target,
            text,
            customer_wrote_at: None,
        };
        let (acknowledgement, thanks) = match decision.reply {
            Some(reply) if reply.kind == ReplyKind::Thanks => {
                let template = reply.template_id.unwrap_or_default();
                (None, Some((outbox(OutboxPurpose::Thanks, reply.target, reply.text), template)))
            }
            Some(reply) => (Some(outbox(OutboxPurpose::Acknowledgement, reply.target, reply.text)), None),
            None => (None, None),
        };
        let automatic = acknowledgement.as_ref().or(thanks.as_ref().map(|(t, _)| t)).map(|o| o.purpose);
        let fast_track = decision
            .fast_track
            .as_ref()
            .map(|fast| self.fast_track_record(m, &conversation, policy, fast, &classification));
        let record = InboundRecord {
            mention: m,
            conversation: &conversation.id,
            classification: &classification,
            // Everything is kept for the record; only what asks for an answer starts a clock.
            sla: decision.clock.unwrap_or_else(|| self.sla.for_mention(m).start(m.received_at)),
            starts_clock: decision.clock.is_some(),
            due_shard: due_shard(&conversation.id, self.due_shards),
            acknowledgement,
            thanks,
            customer_tier: if by_customer { valued } else { None },
            engagement_added: decision.engagement_added,
            risks_added: decision.risks_added.iter().map(|k| k.as_str().to_owned()).collect(),
            fast_track,
            forwards: self.forwards(m, &conversation, &classification, value.as_ref()),
        };
        let queued = match self.store.record_inbound(&record).await? {
            Recorded::Stored { acknowledgement_queued } => acknowledgement_queued,
            Recorded::Duplicate => return Ok(Outcome::Duplicate),
        };
        // Counted once, when first stored. Watching must never hold a message back.
        let mut spike = false;
        if hark_shared::domain::care::spike::counts(&classification) {
            let (text, _) = stored_form(&m.text, &classification.privacy);
            let counted = spikes::Counted {
                mention: m,
                conversation: &conversation.id,
                text: &text,
                due_shard: record.due_shard,
            };
            match spikes::observe(&self.store, &self.spikes, policy, counted, self.clock.now()).await {
                Ok(Some(recorded)) => {
                    spike = matches!(recorded, SpikeRecorded::Opened(_) | SpikeRecorded::Joined(_));
                    tracing::warn!(?recorded, account = %m.account_id, "outage spike")
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::error!(%error, account = %m.account_id, "spike watch failed; the message is stored")
                }
            }
        }
        tracing::info!(
            conversation = %conversation.id,
            new_conversation = conversation.created,
            sentiment = ?classification.sentiment,
            confidence = classification.confidence,
            intent = ?classification.intent,
            priority = classification.priority,
            urgency = ?classification.urgency.iter().map(|u| u.kind).collect::<Vec<_>>(),
            off_hours = decision.off_hours,
            fast_track = ?decision.fast_track.as_ref().map(|f| &f.reasons),
            automatic_answer = ?automatic,
            quiet_because = decision.quiet_because,
            "message classified and threaded"
        );
        let acknowledgement = match (queued, automatic) {
            (true, Some(purpose)) => {
                let key = OutboxKey { purpose, id: m.message_id.clone() };
                Some(self.deliver_automatic(&conversation.id, &key).await)
            }
            _ => None,
        };
        let care = CareCounts {
            channel: m.channel.as_str(),
            sentiment: classification.sentiment.as_str(),
            new_conversation: conversation.created,
            fast_tracked: decision.fast_track.is_some() && !conversation.facts.viral,
            spike,
        };
        Ok(Outcome::Stored { acknowledgement, care })
    }

    /// The message's events for each help desk, as stored: personal data posted in public
    /// stays redacted. A redelivery that finds the conversation already open still reports
    /// the message that opened it as the conversation's creation.
    fn forwards(
        &self,
        m: &Mention,
        conversation: &ConversationState,
        c: &Classification,
        value: Option<&CustomerValue>,
    ) -> Vec<OutboxMessage> {
        if self.forwarding.is_empty() {
            return Vec::new();
        }
        let (text, redacted) = hark_shared::domain::classify::stored_form(&m.text, &c.privacy);
        let anchor = conversation.id.anchor();
        let opened =
            conversation.created || anchor == m.message_id || anchor.strip_prefix("dm:") == Some(&m.message_id);
        let stored = StoredMessage {
            conversation: &conversation.id,
            opened,
            mention: m,
            text: &text,
            redacted: &redacted,
            classification: c,
            value,
        };
        hark_shared::domain::forward::forwards(&stored, &self.forwarding)
    }

    /// A fast-tracked conversation's shortened clock and its escalation, notified at once
    /// by the escalator's next run (it is written in the due index as pending).
    fn fast_track_record(
        &self,
        m: &Mention,
        conversation: &ConversationState,
        policy: &hark_shared::domain::care::CarePolicy,
        fast: &hark_shared::domain::care::FastTrack,
        c: &Classification,
    ) -> FastTrackRecord {
        use hark_shared::domain::sla::{VIRAL, WARNING, level_name};
        let now = self.clock.now();
        // The running clock's next checkpoint, shortened; past its breach the ladder's
        // repeats keep their times.
        let next_due = conversation.facts.running.and_then(|(_, level)| match level {
            0 => Some(fast.clock.first_due()),
            WARNING => Some(fast.clock.breach_due_at),
            _ => None,
        });
        let (text, _) = stored_form(&m.text, &c.privacy);
        let customer = conversation.facts.customer_id.clone().unwrap_or_else(|| m.customer_id.clone());
        let escalation = hark_shared::ports::Escalation {
            conversation_id: conversation.id.clone(),
            channel: m.channel.as_str().to_owned(),
            account_id: m.account_id.clone(),
            customer_handle: (m.author.id == customer).then(|| m.author.handle.clone()).flatten(),
            customer_id: customer,
            level: VIRAL,
            level_name: level_name(VIRAL).to_owned(),
            sla_started_at: fast.clock.started_at,
            breach_due_at: fast.clock.breach_due_at,
            escalated_at: now,
            last_text: Some(text.chars().take(280).collect()),
            route: if policy.hours.is_open(now) { Route::Day } else { Route::OffHours },
            reasons: fast.reasons.clone(),
            needs_person: None,
            // A fast track is due the moment it is decided.
            due_at: Some(now),
        };
        FastTrackRecord { clock: fast.clock, next_due, escalation }
    }

    fn classify(&self, m: &Mention, value: Option<&CustomerValue>) -> Classification {
        let context = Context {
            followers: m.author.followers,
            verified: m.author.verified,
            channel: Some(m.channel.as_str().to_owned()),
            private: m.kind.is_private(),
            tier: value.and_then(|v| v.tier.clone()),
            ..Context::default()
        };
        self.classifier.classify(&m.text, &context)
    }

    /// What the message's author is worth, as the CRM says: read from the table at most
    /// once a minute per customer (imports are rare; messages are not). A failed read is
    /// logged and the message goes on without it.
    async fn customer_value(&self, m: &Mention) -> Option<CustomerValue> {
        let key = (m.channel, m.author.id.clone());
        if let Some(cached) = self.values.get(&key, self.clock.now()) {
            return cached;
        }
        match self.store.customer_value(m.channel, &m.author.id, m.author.handle.as_deref()).await {
            Ok(value) => {
                self.values.put(key, value.clone(), self.clock.now());
                value
            }
            Err(error) => {
                tracing::warn!(%error, "customer value not read; going on without it");
                None
            }
        }
    }

    /// Fills in the text (and author) of a message whose event carried none. A platform
    /// that cannot give it now is asked again on a redelivery or two; after that, or when it
    /// never will, the message is stored saying so: an outage never dead-letters it.
    async fn fetch_text(&self, m: &mut Mention, receives: u32) -> Result<(), ProcessorError> {
        match self.replies.fetch_text(m).await {
            Ok(fetched) => {
                m.text = fetched.text;
                if fetched.author_handle.is_some() {
                    m.author.handle = fetched.author_handle;
                }
                if let Some(at) = fetched.created_at {
                    m.created_at = at;
                }
                Ok(())
            }
            Err(error) if error.retry() != Retry::Never && receives <= self.wait_receives => Err(error.into()),
            Err(error) => {
                tracing::warn!(%error, "the message's text cannot be fetched; stored without it");
                m.text = format!("[{} gave no text for this message: {error}]", m.channel);
                Ok(())
            }
        }
    }

    /// An edit or a removal on the platform. An edit of a message never seen is the message
    /// itself, late: it is stored as new.
    async fn amend(&self, mention: Mention, receives: u32) -> Result<Outcome, ProcessorError> {
        let classification = (mention.action == MessageAction::Edited).then(|| self.classify(&mention, None));
        let (text, redacted) = match &classification {
            Some(c) => {
                let (text, redacted) = stored_form(&mention.text, &c.privacy);
                (Some(text), redacted)
            }
            None => (None, Vec::new()),
        };
        let amendment = Amendment { mention: &mention, text: text.as_deref(), redacted: &redacted };
        match self.store.amend_message(&amendment).await? {
            Amended::Updated { conversation } => {
                tracing::info!(%conversation, action = ?mention.action, "message amended");
                Ok(Outcome::Amended)
            }
            Amended::RemovedUnseen => Ok(Outcome::RemovedUnseen),
            Amended::NotStored
                if mention.action == MessageAction::Edited && mention.direction == Direction::Inbound =>
            {
                let original = Mention { action: MessageAction::Created, ..mention };
                self.inbound(original, receives).await
            }
            Amended::NotStored => Ok(Outcome::NothingToAmend),
        }
    }

    /// A reply joins the conversation of what it answers; a DM joins the customer's open DM
    /// conversation; anything else opens a conversation anchored so that racing writers agree.
    async fn thread(&self, m: &Mention) -> Result<ConversationState, ProcessorError> {
        if m.kind.is_private() {
            if let Some(open) = self.store.open_direct_conversation(m.channel, &m.account_id, &m.customer_id).await? {
                return Ok(open);
            }
            let id = ConversationId::direct(m.channel, &m.account_id, &m.message_id);
            return Ok(self.store.open_conversation(&NewConversation { id, opened_by: m }).await?);
        }
        let anchor = match &m.parent_id {
            Some(parent) => {
                if let Some(id) = self.store.conversation_of_message(m.channel, &m.account_id, parent).await?
                    && let Some(state) = self.store.conversation(&id).await?
                {
                    return Ok(state);
                }
                // Replies to the brand's own broadcast each start their own conversation;
                // replies to a customer's post we have not stored yet anchor on that post,
                // so the post and its replies meet in one conversation whichever lands first.
                if m.parent_author_id.as_deref() == Some(m.account_id.as_str()) { &m.message_id } else { parent }
            }
            None => &m.message_id,
        };
        let id = ConversationId::public(m.channel, &m.account_id, anchor);
        Ok(self.store.open_conversation(&NewConversation { id, opened_by: m }).await?)
    }

    /// The brand answered a customer's message Hark has not stored yet. Platforms do not
    /// keep their webhooks in order: X may deliver the answer before the post it answers,
    /// in the same queue group (so waiting for the post would only hold it up behind the
    /// answer). Dropping the answer would leave the post, arriving a moment later,
    /// awaiting a reply it has had, its clock running and escalating. So the answer opens
    /// the conversation anchored on that message, as a customer's early reply does, and the
    /// message joins it answered. Only where the platform names the parent's author and it
    /// is not the brand: a reply in the brand's own thread answers no one.
    async fn anchor_on_unseen_parent(&self, m: &Mention, parent: &str) -> Result<Option<ConversationId>, Error> {
        let Some(parent_author) = m.parent_author_id.as_deref().filter(|a| *a != m.account_id) else {
            return Ok(None);
        };
        // The conversation's customer is the parent's author; their handle comes with their message.
        let opened_by = Mention {
            author: hark_shared::domain::mention::Author {
                id: parent_author.to_owned(),
                handle: None,
                name: None,
                followers: None,
                verified: false,
            },
            ..m.clone()
        };
        let id = ConversationId::public(m.channel, &m.account_id, parent);
        Ok(Some(self.store.open_conversation(&NewConversation { id, opened_by: &opened_by }).await?.id))
    }

    async fn outbound(&self, m: &Mention, receives: u32) -> Result<Outcome, ProcessorError> {
        if self.store.known_message(m.channel, &m.account_id, &m.message_id).await?.is_some() {
            // Already recorded, or it is our own acknowledgement, referenced when it was sent.
            return Ok(Outcome::Duplicate);
        }
        let conversation = if m.kind.is_private() {
            self.store.open_direct_conversation(m.channel, &m.account_id, &m.customer_id).await?.map(|c| c.id)
        } else {
            match &m.parent_id {
                Some(parent) => match self.store.conversation_of_message(m.channel, &m.account_id, parent).await? {
                    Some(conversation) => Some(conversation),
                    None => self.anchor_on_unseen_parent(m, parent).await?,
                },
                None => None,
            }
        };
        let Some(conversation) = conversation else {
            // The customer of a reply the platform named only by its parent is in another
            // queue group than the parent: the parent may be a moment behind.
            if let Some(parent) = &m.parent_id
                && m.customer_id == *parent
                && receives <= self.wait_receives
            {
                return Err(ProcessorError::ParentNotYetStored {
                    message_id: m.message_id.clone(),
                    parent: parent.clone(),
                });
            }
            return Ok(Outcome::OutsideConversation);
        };
        let automated = match m.automated {
            // The platform says who sent it (Meta names the sending app).
            Some(automated) => automated,
            // Our acknowledgement's echo can arrive before its send is recorded; its text gives
            // it away (or a follow-up's). An agent's reply is a person's answer however it is sent.
            None => {
                let text = comparable_text(&m.text);
                self.store.outbox(&conversation).await?.iter().any(|entry| {
                    !entry.message.purpose.is_human_written() && comparable_text(&entry.message.text) == text
                })
            }
        };
        let record = OutboundRecord { mention: m, conversation: &conversation, automated };
        Ok(match self.store.record_outbound(&record).await? {
            Recorded::Stored { .. } => Outcome::ReplyRecorded { stops_clock: !automated },
            Recorded::Duplicate => Outcome::Duplicate,
        })
    }

    /// Sends the message's automatic answer (acknowledgement or thanks) if it has one that
    /// is due. Whatever happens is recorded on the outbox record, which the sweep takes up
    /// again; nothing here can fail the message, which is already stored.
    async fn deliver_automatic(&self, conversation: &ConversationId, key: &OutboxKey) -> Delivered {
        let delivered = hark_shared::domain::outbox::deliver(
            &self.store,
            &self.replies,
            self.clock.as_ref(),
            &self.outbox,
            conversation,
            key,
        )
        .await;
        delivered.unwrap_or_else(|error| {
            // The record was claimed but its outcome not recorded: the lease hands it to the sweep.
            tracing::warn!(%error, conversation = %conversation, record = %key, "automatic answer left to the outbox sweep");
            Delivered::Abandoned
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hark_shared::domain::classify::Sentiment;
    use std::time::Duration;

    #[test]
    fn a_trained_model_from_the_layer_path_takes_over_its_label() {
        use hark_shared::domain::classify::model::{LinearModel, TrainOptions};
        let lexicon = CareClassifier::default();
        // A company whose customers call a "bump" a complaint, which the default lists do not know.
        let mut rows = Vec::new();
        for i in 0..20 {
            rows.push((format!("got a bump on order {i}"), "negative".to_owned()));
            rows.push((format!("order {i} arrived, all good"), "positive".to_owned()));
        }
        let options = TrainOptions { bucket_bits: 10, ..TrainOptions::default() };
        let model = LinearModel::train("sentiment", &rows, &lexicon, options).unwrap();
        let path = std::env::temp_dir().join(format!("hark-model-{}.bin", std::process::id()));
        std::fs::write(&path, model.to_bytes()).unwrap();

        let trained = load_classifier(None, Some(path.display().to_string())).unwrap();
        let default = load_classifier(None, None).unwrap();
        let context = Context::default();
        assert_eq!(trained.classify("another bump on my order", &context).sentiment, Sentiment::Negative);
        assert_eq!(default.classify("another bump on my order", &context).sentiment, Sentiment::Neutral);

        std::fs::write(&path, b"not a model").unwrap();
        let error = load_classifier(None, Some(path.display().to_string())).err().unwrap();
        assert!(error.to_string().contains("not a Hark model"), "{error}");
        let _ = std::fs::remove_file(&path);
        let error = load_classifier(None, Some("/nonexistent/model.bin".into())).err().unwrap();
        assert!(error.to_string().contains("CLASSIFIER_MODEL_PATH"), "{error}");
        let error = load_classifier(Some("{\"words\": 3}".into()), None).err().unwrap();
        assert!(error.to_string().contains("CLASSIFIER_CONFIG"), "{error}");
    }

    #[test]
    fn poison_messages_are_never_retryable() {
        let poison = ProcessorError::NotAMention { message_id: "m".into(), reason: "x".into() };
        assert_eq!(poison.retry(), Retry::Never);
        let limited =
            ProcessorError::Shared(Error::RateLimited { platform: "X API", retry_after: Duration::from_secs(9) });
        assert_eq!(limited.retry(), Retry::After(Duration::from_secs(9)));
    }
}
