//! Forwarding to Freshdesk by its API v2: one ticket per conversation, the customer a
//! contact found again by `unique_external_id`, the conversation id in a custom field of
//! the ticket, later messages incoming public notes by the contact, escalations private
//! notes with the priority raised, a resolution sets the ticket Resolved.
//!
//! Freshdesk has no idempotency key. Hark keeps its own link from conversation to ticket,
//! and before a create is made again after an unknown outcome it looks for the ticket: the
//! contact's tickets, filtered on the custom field. (Freshdesk's search API would do the
//! same by query, but its index trails new tickets; the list does not.) Notes are looked
//! for by the event's marker before they are added again.

use serde_json::{Value, json};

use super::desk_api::{self, Kind, id_at};
use super::escalation::{CurrentTicket, EscalationDeskPolicy, TicketChange};
use super::tickets::{DeskCustomer, NewTicket, TicketAction, TicketEvent, TicketPriority, ticket_event};
use crate::credentials::FRESHDESK;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::{ConversationId, CustomerReader, OutboxMessage, ReplySender, TicketLink, TicketLinks};

const PLATFORM: &str = "Freshdesk";
/// Ticket status Open and Resolved; source Chat (a social message is a conversation, and
/// the API may not set Freshdesk's own social sources).
const STATUS_OPEN: u8 = 2;
const STATUS_RESOLVED: u8 = 4;
const SOURCE_CHAT: u8 = 7;

pub struct FreshdeskClient<L> {
    http: reqwest::Client,
    base_url: String,
    api_key: Secret,
    custom_field: String,
    links: L,
    escalations: EscalationDeskPolicy,
}

pub type AwsFreshdeskClient = FreshdeskClient<crate::adapters::dynamo::DynamoStore>;

impl<L: TicketLinks + CustomerReader> FreshdeskClient<L> {
    /// `None` when the credentials have no Freshdesk section.
    pub fn from_credentials(credentials: &crate::credentials::Credentials, links: L) -> Result<Option<Self>> {
        let Some(freshdesk) = &credentials.freshdesk else { return Ok(None) };
        Ok(Some(FreshdeskClient {
            http: desk_api::client()?,
            base_url: freshdesk.url.trim_end_matches('/').to_owned(),
            api_key: freshdesk.api_key.clone(),
            custom_field: freshdesk.custom_field.clone(),
            links,
            escalations: EscalationDeskPolicy::default(),
        }))
    }

    /// The requests sending `message` makes (`TicketAction::requests`).
    pub fn requests(&self, message: &OutboxMessage) -> Result<u32> {
        Ok(ticket_event(message, &self.escalations)?.action.requests(FRESHDESK))
    }

    /// What each escalation level does to a ticket (the defaults until set).
    pub fn with_escalations(mut self, escalations: EscalationDeskPolicy) -> Self {
        self.escalations = escalations;
        self
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value> {
        let kind = if method == reqwest::Method::GET { Kind::Read } else { Kind::Write };
        // Freshdesk's Basic authentication: the API key as user, any password.
        let url = format!("{}{path}", self.base_url);
        let mut request = self.http.request(method, url).query(query).basic_auth(self.api_key.expose(), Some("X"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| desk_api::unsent(PLATFORM, kind, e))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Error::CredentialsRejected {
                platform: PLATFORM,
                account: FRESHDESK.to_owned(),
                message: "the API key was refused".into(),
            });
        }
        desk_api::answer(PLATFORM, kind, response).await
    }

    /// The contact the customer is, by `unique_external_id`, made if new.
    async fn contact(&self, customer: &DeskCustomer) -> Result<String> {
        if let Some(id) = self.existing_contact(&customer.external_id).await? {
            return Ok(id);
        }
        let body = json!({"name": customer.name, "unique_external_id": customer.external_id});
        match self.call(reqwest::Method::POST, "/api/v2/contacts", &[], Some(&body)).await {
            Ok(answer) => id_at(&answer, "/id").ok_or_else(|| Error::PlatformOutcomeUnknown {
                platform: PLATFORM,
                message: "the contact answer has no id".into(),
            }),
            // Made meanwhile by another attempt: Freshdesk refuses the duplicate value.
            Err(Error::PlatformRejected { status: 409, .. }) => {
                self.existing_contact(&customer.external_id).await?.ok_or_else(|| Error::PlatformUnavailable {
                    platform: PLATFORM,
                    message: "the contact exists but could not be read".into(),
                })
            }
            Err(error) => Err(error),
        }
    }

    /// [U] The contract does not settle that the contacts list takes `unique_external_id` as
    /// a filter: the answer is filtered here as well, so a filter the API ignored can never
    /// make another contact the requester (a 409 on create still finds none, and retries).
    async fn existing_contact(&self, external_id: &str) -> Result<Option<String>> {
        let query = [("unique_external_id", external_id)];
        let answer = self.call(reqwest::Method::GET, "/api/v2/contacts", &query, None).await?;
        Ok(answer
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["unique_external_id"].as_str() == Some(external_id))
            .and_then(|c| id_at(c, "/id")))
    }

    /// The conversation's ticket among the contact's, linked in the table.
    async fn find_ticket(&self, conversation: &ConversationId, customer: &DeskCustomer) -> Result<Option<TicketLink>> {
        let Some(contact) = self.existing_contact(&customer.external_id).await? else { return Ok(None) };
        let query = [
            ("requester_id", contact.as_str()),
            ("order_by", "created_at"),
            ("order_type", "asc"),
            ("per_page", "100"),
        ];
        let answer = self.call(reqwest::Method::GET, "/api/v2/tickets", &query, None).await?;
        let ours = answer
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["custom_fields"][&self.custom_field].as_str() == Some(conversation.0.as_str()));
        let Some(ticket_id) = ours.and_then(|t| id_at(t, "/id")) else { return Ok(None) };
        let link = TicketLink { ticket_id, requester_id: contact };
        Ok(Some(self.links.link_ticket(conversation, FRESHDESK, &link, chrono::Utc::now()).await?))
    }

    async fn linked(
        &self,
        conversation: &ConversationId,
        customer: Option<&DeskCustomer>,
    ) -> Result<Option<TicketLink>> {
        match (self.links.ticket(conversation, FRESHDESK).await?, customer) {
            (Some(link), _) => Ok(Some(link)),
            (None, Some(customer)) => self.find_ticket(conversation, customer).await,
            (None, None) => Ok(None),
        }
    }

    async fn open(&self, event: &TicketEvent, ticket: &NewTicket) -> Result<String> {
        if let Some(link) = self.links.ticket(&event.conversation, FRESHDESK).await? {
            return Ok(link.ticket_id);
        }
        let contact = self.contact(&ticket.customer).await?;
        let description = super::opening_body(&self.links, event, ticket).await;
        let body = json!({
            "subject": ticket.subject,
            "description": html(&description),
            "requester_id": contact.parse::<u64>().ok(),
            "status": STATUS_OPEN,
            "priority": ticket.priority.freshdesk(),
            "source": SOURCE_CHAT,
            "tags": ticket.tags,
            "custom_fields": { &self.custom_field: event.conversation.0 },
        });
        let answer = self.call(reqwest::Method::POST, "/api/v2/tickets", &[], Some(&body)).await?;
        let ticket_id = id_at(&answer, "/id").ok_or_else(|| Error::PlatformOutcomeUnknown {
            platform: PLATFORM,
            message: "the ticket answer has no id".into(),
        })?;
        let link = TicketLink { ticket_id, requester_id: contact };
        Ok(self.links.link_ticket(&event.conversation, FRESHDESK, &link, chrono::Utc::now()).await?.ticket_id)
    }

    async fn note(&self, ticket_id: &str, body: &str, private: bool, by: Option<&str>) -> Result<String> {
        let mut note = json!({"body": html(body), "private": private});
        if let Some(contact) = by {
            // As the customer wrote it: from outside, by them.
            note["incoming"] = json!(true);
            note["user_id"] = json!(contact.parse::<u64>().ok());
        }
        let answer =
            self.call(reqwest::Method::POST, &format!("/api/v2/tickets/{ticket_id}/notes"), &[], Some(&note)).await?;
        Ok(id_at(&answer, "/id")
            .map_or_else(|| format!("ticket {ticket_id}"), |n| format!("ticket {ticket_id} note {n}")))
    }

    async fn set(&self, ticket_id: &str, fields: Value) -> Result<()> {
        self.call(reqwest::Method::PUT, &format!("/api/v2/tickets/{ticket_id}"), &[], Some(&fields)).await.map(|_| ())
    }

    /// The ticket's priority, group and whether an agent has it.
    async fn current(&self, ticket_id: &str) -> Result<CurrentTicket> {
        let ticket = self.call(reqwest::Method::GET, &format!("/api/v2/tickets/{ticket_id}"), &[], None).await?;
        Ok(CurrentTicket {
            priority: ticket["priority"].as_u64().and_then(TicketPriority::from_freshdesk),
            group: ticket["group_id"].as_u64(),
            assigned: ticket["responder_id"].as_u64().is_some(),
        })
    }

    async fn note_with(&self, ticket_id: &str, marker: &str) -> Result<Option<String>> {
        let path = format!("/api/v2/tickets/{ticket_id}/conversations");
        let answer = self.call(reqwest::Method::GET, &path, &[("per_page", "100")], None).await?;
        Ok(answer
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| ["body", "body_text"].iter().any(|k| c[k].as_str().is_some_and(|b| b.contains(marker))))
            .and_then(|c| id_at(c, "/id"))
            .map(|id| format!("ticket {ticket_id} note {id}")))
    }
}

/// Plain text as the HTML Freshdesk's bodies are.
fn html(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    escaped.replace('\n', "<br>")
}

fn customer_of(action: &TicketAction) -> Option<&DeskCustomer> {
    match action {
        TicketAction::Open(ticket) => Some(&ticket.customer),
        TicketAction::CustomerComment { customer, .. } => Some(customer),
        TicketAction::Escalate { .. } | TicketAction::Solve { .. } => None,
    }
}

impl<L: TicketLinks + CustomerReader> ReplySender for FreshdeskClient<L> {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let event = ticket_event(message, &self.escalations)?;
        let customer = customer_of(&event.action);
        match &event.action {
            TicketAction::Open(ticket) => self.open(&event, ticket).await,
            TicketAction::CustomerComment { body, .. } => {
                let link = self.linked(&event.conversation, customer).await?.ok_or(Error::Waiting {
                    platform: PLATFORM,
                    what: "the conversation's ticket, still on its way",
                })?;
                self.note(&link.ticket_id, body, false, Some(&link.requester_id)).await
            }
            TicketAction::Escalate { note, actions } => match self.linked(&event.conversation, None).await? {
                Some(link) => {
                    // The change first, then the note that find_sent looks for: a retry after
                    // a lost answer sets the same fields again, harmlessly, and notes once.
                    let current = self.current(&link.ticket_id).await?;
                    let change = TicketChange::for_ticket(current, actions.priority, actions.freshdesk_group);
                    if !change.is_empty() {
                        let mut fields = json!({});
                        if let Some(priority) = change.priority {
                            fields["priority"] = json!(priority.freshdesk());
                        }
                        if let Some(group) = change.group {
                            fields["group_id"] = json!(group);
                        }
                        self.set(&link.ticket_id, fields).await?;
                    }
                    self.note(&link.ticket_id, note, true, None).await
                }
                None => Ok("no ticket to escalate".into()),
            },
            TicketAction::Solve { note } => match self.linked(&event.conversation, None).await? {
                Some(link) => {
                    self.set(&link.ticket_id, json!({"status": STATUS_RESOLVED})).await?;
                    self.note(&link.ticket_id, note, true, None).await
                }
                None => Ok("no ticket to solve".into()),
            },
        }
    }

    async fn find_sent(&self, message: &OutboxMessage, _window: crate::ports::SendWindow) -> Result<Option<String>> {
        let event = ticket_event(message, &self.escalations)?;
        let Some(link) = self.linked(&event.conversation, customer_of(&event.action)).await? else { return Ok(None) };
        match event.action {
            TicketAction::Open(_) => Ok(Some(link.ticket_id)),
            _ => self.note_with(&link.ticket_id, &super::tickets::marker(&event.event_id)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_becomes_html_that_shows_it_as_written() {
        assert_eq!(super::html("a <b> & \"c\"\nd"), "a &lt;b&gt; &amp; &quot;c&quot;<br>d");
    }
}
