//! SQS adapter: FIFO enqueue for the webhook.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::error::{Error, Result};
use crate::mention::Mention;
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
        Self::new(Client::new(aws), queue_url)
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
