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
        Self::new(Client::new(aws), topic_arn)
    }

    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsNotifier { client, topic_arn: topic_arn.into() }
    }
}

impl Notifier for SnsNotifier {
    async fn notify(&self, escalation: &Escalation) -> Result<()> {
        // One body per protocol: JSON for machines, text for e-mail, chat for Amazon Q Developer.
        let messages = crate::domain::notice::messages(escalation).to_string();
        // Subscriptions filter on it: the day team's, and the off-hours cover's.
        let route = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(escalation.route.as_str())
            .build()
            .map_err(|e| Error::Notify(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(crate::domain::notice::subject(escalation))
            .message_structure("json")
            .message(messages)
            .message_attributes("route", route)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::Notify(e.into_service_error().to_string()))
    }
}
