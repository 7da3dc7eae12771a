//! A native help desk's ticket for a conversation (`TICKET#{desk}`), and the Standard
//! Webhooks endpoints switched off after failing (`ENDPOINT#webhook#{id}`).

use super::*;

fn ticket_key(conversation: &ConversationId, desk: &str) -> Item {
    key(conversation_pk(conversation), &format!("TICKET#{desk}"))
}

fn ticket_link(item: &Item) -> Option<TicketLink> {
    Some(TicketLink {
        ticket_id: get_s(item, "ticket_id")?.to_owned(),
        requester_id: get_s(item, "requester_id")?.to_owned(),
    })
}

impl TicketLinks for DynamoStore {
    async fn ticket(&self, conversation: &ConversationId, desk: &str) -> Result<Option<TicketLink>> {
        let item = self.get_consistent(ticket_key(conversation, desk), "GetItem ticket").await?;
        Ok(item.as_ref().and_then(ticket_link))
    }

    async fn link_ticket(
        &self,
        conversation: &ConversationId,
        desk: &str,
        link: &TicketLink,
        now: DateTime<Utc>,
    ) -> Result<TicketLink> {
        let mut item = ticket_key(conversation, desk);
        item.extend([
            ("item_type".to_owned(), s("ticket")),
            ("desk".to_owned(), s(desk)),
            ("ticket_id".to_owned(), s(&link.ticket_id)),
            ("requester_id".to_owned(), s(&link.requester_id)),
            ("linked_at".to_owned(), ts(now)),
        ]);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(link.clone()),
            Err(err) if matches!(err.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                self.ticket(conversation, desk)
                    .await?
                    .ok_or_else(|| Error::store("PutItem ticket", "the link its condition found is gone"))
            }
            Err(err) => Err(Error::store("PutItem ticket", err.into_service_error())),
        }
    }
}

pub(super) fn endpoint_key(endpoint: &str) -> Item {
    key(format!("ENDPOINT#webhook#{endpoint}"), "ENDPOINT")
}

impl EndpointSwitch for DynamoStore {
    async fn disabled(&self, endpoint: &str) -> Result<Option<(DateTime<Utc>, String)>> {
        let item = self.get_consistent(endpoint_key(endpoint), "GetItem endpoint").await?;
        Ok(item.and_then(|item| {
            Some((get_ts(&item, "disabled_at")?, get_s(&item, "reason").unwrap_or_default().to_owned()))
        }))
    }

    async fn disable(&self, endpoint: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
        let mut item = endpoint_key(endpoint);
        item.extend([
            ("item_type".to_owned(), s("endpoint")),
            ("endpoint".to_owned(), s(endpoint)),
            ("disabled_at".to_owned(), ts(now)),
            ("reason".to_owned(), s(reason)),
        ]);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| Error::store("PutItem endpoint", e.into_service_error()))
    }
}
