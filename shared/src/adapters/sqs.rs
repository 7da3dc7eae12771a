//! SQS adapter: FIFO enqueue for the webhook, and the dead-letter redrive ops run.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::domain::mention::Mention;
use crate::error::{Error, Result};
use crate::ports::MentionQueue;

/// SendMessageBatch takes at most 10 entries and 256 KiB in all.
const MAX_BATCH_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn from_config(aws: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(super::aws_usage::clients::sqs(aws), queue_url)
    }

    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        SqsQueue { client, queue_url: queue_url.into() }
    }

    async fn send_batch(&self, entries: Vec<SendMessageBatchRequestEntry>) -> Result<()> {
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| Error::Queue {
            operation: "SendMessageBatch",
            message: e.into_service_error().to_string(),
        })?;
        if out.failed().is_empty() {
            return Ok(());
        }
        let reasons: Vec<String> = out
            .failed()
            .iter()
            .map(|f| format!("entry {}: {} {}", f.id(), f.code(), f.message().unwrap_or_default()))
            .collect();
        Err(Error::Queue { operation: "SendMessageBatch", message: reasons.join("; ") })
    }
}

impl MentionQueue for SqsQueue {
    async fn enqueue(&self, mentions: &[Mention]) -> Result<()> {
        let mut batch = Vec::new();
        let mut batch_bytes = 0;
        for (index, mention) in mentions.iter().enumerate() {
            let body = serde_json::to_string(mention).map_err(|e| Error::Invalid(e.to_string()))?;
            if body.len() > MAX_BATCH_BYTES {
                return Err(Error::Invalid(format!("mention {} is larger than an SQS message", mention.message_id)));
            }
            if batch.len() == MAX_BATCH_ENTRIES || batch_bytes + body.len() > MAX_BATCH_BYTES {
                self.send_batch(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += body.len();
            let entry = SendMessageBatchRequestEntry::builder()
                .id(index.to_string())
                .message_body(body)
                .message_group_id(mention.queue_group_id())
                .message_deduplication_id(mention.queue_deduplication_id())
                .build()
                .map_err(|e| Error::Invalid(e.to_string()))?;
            batch.push(entry);
        }
        if !batch.is_empty() {
            self.send_batch(batch).await?;
        }
        Ok(())
    }
}

/// Moves up to `max` messages from a FIFO dead-letter queue back to its source queue, in
/// order within each message group, and returns how many moved. Each keeps its body and
/// group; it gets a new deduplication id, since SQS would drop a repeat of the original
/// within its five-minute window. Storing is idempotent, so a message redriven twice is
/// still stored once.
pub async fn redrive(client: &Client, dead_letter_url: &str, source_url: &str, max: usize) -> Result<usize> {
    use aws_sdk_sqs::types::MessageSystemAttributeName as Attribute;
    let mut moved = 0;
    let run = chrono::Utc::now().timestamp_millis();
    while moved < max {
        let received = client
            .receive_message()
            .queue_url(dead_letter_url)
            .max_number_of_messages((max - moved).min(10) as i32)
            .wait_time_seconds(1)
            .message_system_attribute_names(Attribute::MessageGroupId)
            .message_system_attribute_names(Attribute::MessageDeduplicationId)
            .send()
            .await
            .map_err(queue_error("ReceiveMessage"))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for message in messages {
            let attributes = message.attributes();
            let attribute = |name: Attribute| attributes.and_then(|a| a.get(&name)).cloned().unwrap_or_default();
            let group = attribute(Attribute::MessageGroupId);
            let deduplication = format!("{}#redrive-{run}", attribute(Attribute::MessageDeduplicationId));
            // SQS caps deduplication ids at 128 characters.
            let deduplication: String =
                deduplication.chars().rev().take(128).collect::<Vec<_>>().into_iter().rev().collect();
            client
                .send_message()
                .queue_url(source_url)
                .message_body(message.body().unwrap_or_default())
                .message_group_id(if group.is_empty() { "redrive".to_owned() } else { group })
                .message_deduplication_id(deduplication)
                .send()
                .await
                .map_err(queue_error("SendMessage"))?;
            client
                .delete_message()
                .queue_url(dead_letter_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(queue_error("DeleteMessage"))?;
            moved += 1;
        }
    }
    Ok(moved)
}

fn queue_error<E, R>(operation: &'static str) -> impl FnOnce(aws_sdk_sqs::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    move |e| Error::Queue { operation, message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string() }
}
