//! SNS adapter: escalation notifications. Subscribers (e-mail, chat, paging) are the operator's
//! choice; `domain::notice` writes what each kind of subscriber reads.

use aws_sdk_sns::Client;

use crate::error::{Error, Result};
use crate::ports::{Escalation, Notifier};

#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn from_config(aws: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self::new(super::aws_usage::clients::sns(aws), topic_arn)
    }

    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier { client, topic_arn: topic_arn.into() }
    }
}

/// Subscriptions filter on it: the day team's, and the off-hours cover's.
fn route_attribute(escalation: &Escalation) -> Result<aws_sdk_sns::types::MessageAttributeValue> {
    aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(escalation.route.as_str())
        .build()
        .map_err(|e| Error::Notify(e.to_string()))
}

impl Notifier for SnsNotifier {
    async fn notify(&self, escalation: &Escalation) -> Result<()> {
        // One body per protocol: JSON for machines, text for e-mail, chat for Amazon Q Developer.
        let messages = crate::domain::notice::messages(escalation).to_string();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(crate::domain::notice::subject(escalation))
            .message_structure("json")
            .message(messages)
            .message_attributes("route", route_attribute(escalation)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::Notify(e.into_service_error().to_string()))
    }

    async fn notify_all(&self, escalations: &[Escalation]) -> Vec<Result<()>> {
        use aws_sdk_sns::types::PublishBatchRequestEntry;
        if escalations.len() == 1 {
            return vec![self.notify(&escalations[0]).await];
        }
        let entries: Result<Vec<_>> = escalations
            .iter()
            .enumerate()
            .map(|(i, escalation)| {
                PublishBatchRequestEntry::builder()
                    .id(i.to_string())
                    .subject(crate::domain::notice::subject(escalation))
                    .message_structure("json")
                    .message(crate::domain::notice::messages(escalation).to_string())
                    .message_attributes("route", route_attribute(escalation)?)
                    .build()
                    .map_err(|e| Error::Notify(e.to_string()))
            })
            .collect();
        let all = |error: Error| escalations.iter().map(|_| Err(Error::Notify(error.to_string()))).collect();
        let entries = match entries {
            Ok(entries) => entries,
            Err(error) => return all(error),
        };
        let out = match self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => return all(Error::Notify(e.into_service_error().to_string())),
        };
        // Each entry is answered by id, as published or as failed with SNS's reason.
        let mut outcomes: Vec<Result<()>> =
            escalations.iter().map(|_| Err(Error::Notify("PublishBatch did not answer for it".into()))).collect();
        for ok in out.successful() {
            if let Some(slot) = ok.id().and_then(|id| id.parse::<usize>().ok()).and_then(|i| outcomes.get_mut(i)) {
                *slot = Ok(());
            }
        }
        for failed in out.failed() {
            if let Some(slot) = failed.id().parse::<usize>().ok().and_then(|i| outcomes.get_mut(i)) {
                *slot = Err(Error::Notify(format!("{}: {}", failed.code(), failed.message().unwrap_or_default())));
            }
        }
        outcomes
    }
}
