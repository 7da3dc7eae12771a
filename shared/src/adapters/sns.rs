//! SNS adapter: escalation notifications. Subscribers (e-mail, chat, paging) are the operator's choice.

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

/// E-mail subjects must be ASCII and at most 100 characters.
fn subject(escalation: &Escalation) -> String {
    let who = escalation
        .customer_handle
        .as_deref()
        .map(|h| format!("@{h}"))
        .unwrap_or_else(|| escalation.customer_id.clone());
    let waited = (escalation.escalated_at - escalation.sla_started_at).num_minutes();
    let text = format!("Hark {}: {} {} waiting {waited} min", escalation.level_name, escalation.channel, who);
    text.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(100).collect()
}

impl Notifier for SnsNotifier {
    async fn notify(&self, escalation: &Escalation) -> Result<()> {
        let message = serde_json::to_string_pretty(escalation).map_err(|e| Error::Notify(e.to_string()))?;
        // Subscriptions filter on it: the day team's, and the off-hours cover's.
        let route = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(escalation.route.as_str())
            .build()
            .map_err(|e| Error::Notify(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject(escalation))
            .message(message)
            .message_attributes("route", route)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::Notify(e.into_service_error().to_string()))
    }
}
