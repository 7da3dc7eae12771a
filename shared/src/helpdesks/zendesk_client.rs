//! Forwarding to Zendesk by its Tickets API: one ticket per conversation, the customer a
//! Zendesk end user found again by `external_id` (social customers have no e-mail), their
//! later messages public comments by them, escalations internal notes, a resolution solves.
//!
//! Never two tickets: the create carries `Idempotency-Key` (the event id) for Zendesk's
//! own two-hour window, and Hark keeps its own link from conversation to ticket; a retry
//! whose first attempt's outcome is unknown looks the ticket up by its `external_id` (the
//! conversation id) before creating, however late it comes. Comments and notes have no key
//! at Zendesk: a retry looks for the event's marker among the ticket's comments first.
//!
//! Authentication is OAuth only (API tokens are retired in 2027): access tokens expire and
//! the refresh token rotates on every use, which the token manager handles as it does X's.

use serde_json::{Value, json};

use super::desk_api::{self, Kind, id_at};
use super::escalation::{CurrentTicket, EscalationDeskPolicy, TicketChange};
use super::tickets::{DeskCustomer, NewTicket, TicketAction, TicketEvent, TicketPriority, ticket_event};
use crate::credentials::ZENDESK;
use crate::domain::secret::Secret;
use crate::error::{Error, Result};
use crate::ports::{AccessTokens, ConversationId, CustomerReader, OutboxMessage, ReplySender, TicketLink, TicketLinks};

const PLATFORM: &str = "Zendesk";

pub struct ZendeskClient<T, L> {
    http: reqwest::Client,
    base_url: String,
    tokens: T,
    links: L,
    escalations: EscalationDeskPolicy,
}

/// The client as the outbox function builds it: tokens and ticket links in the table.
pub type AwsZendeskClient = ZendeskClient<
    crate::domain::oauth::TokenManager<
        crate::adapters::dynamo::DynamoStore,
        crate::adapters::http::HttpTokenEndpoint,
        crate::adapters::secrets::SecretSeeds,
    >,
    crate::adapters::dynamo::DynamoStore,
>;

impl AwsZendeskClient {
    /// `None` when the credentials have no Zendesk section.
    pub fn for_aws(
        aws: &aws_config::SdkConfig,
        store: crate::adapters::dynamo::DynamoStore,
        credentials: &crate::credentials::Credentials,
        escalations: &EscalationDeskPolicy,
    ) -> Result<Option<Self>> {
        let Some(zendesk) = &credentials.zendesk else { return Ok(None) };
        let arn = crate::config::optional_env("CREDENTIALS_SECRET_ARN");
        let seeds = credentials.zendesk_seeds("");
        let source = crate::adapters::secrets::SecretSeeds {
            client: arn.as_ref().map(|_| crate::adapters::aws_usage::clients::secrets_manager(aws)),
            arn,
            token_url: zendesk.token_url(),
            seeds_of: crate::credentials::Credentials::zendesk_seeds,
            fallback: seeds.clone(),
        };
        let tokens = crate::domain::oauth::TokenManager::new(
            PLATFORM,
            ZENDESK,
            store.clone(),
            crate::adapters::http::HttpTokenEndpoint::new()?,
            source,
            seeds,
        );
        Ok(Some(ZendeskClient::new(&zendesk.url, tokens, store)?.with_escalations(escalations.clone())))
    }
}

impl<T: AccessTokens, L: TicketLinks + CustomerReader> ZendeskClient<T, L> {
    pub fn new(base_url: &str, tokens: T, links: L) -> Result<Self> {
        Ok(ZendeskClient {
            http: desk_api::client()?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            tokens,
            links,
            escalations: EscalationDeskPolicy::default(),
        })
    }

    /// The requests sending `message` makes (`TicketAction::requests`).
    pub fn requests(&self, message: &OutboxMessage) -> Result<u32> {
        Ok(ticket_event(message, &self.escalations)?.action.requests(ZENDESK))
    }

    /// What each escalation level does to a ticket (the defaults until set).
    pub fn with_escalations(mut self, escalations: EscalationDeskPolicy) -> Self {
        self.escalations = escalations;
        self
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        token: &Secret,
    ) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.base_url);
        let request = self.http.request(method, url).query(query).bearer_auth(token.expose());
        match body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    /// One call, renewing the access token once if Zendesk refuses it.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value> {
        let kind = if method == reqwest::Method::GET { Kind::Read } else { Kind::Write };
        let mut token = self.tokens.access_token(ZENDESK).await?;
        for renewed in [false, true] {
            let mut request = self.request(method.clone(), path, query, body, &token);
            if let Some(key) = idempotency_key {
                request = request.header("idempotency-key", key);
            }
            let response = request.send().await.map_err(|e| desk_api::unsent(PLATFORM, kind, e))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED {
                if renewed {
                    return Err(Error::CredentialsRejected {
                        platform: PLATFORM,
                        account: ZENDESK.to_owned(),
                        message: "a renewed access token was refused too".into(),
                    });
                }
                token = self.tokens.after_rejection(ZENDESK, &token).await?;
                continue;
            }
            return desk_api::answer(PLATFORM, kind, response).await;
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The end user the customer is, made or updated by external id.
    async fn user(&self, customer: &DeskCustomer) -> Result<String> {
        let body = json!({"user": {"name": customer.name, "external_id": customer.external_id, "role": "end-user"}});
        let answer =
            self.call(reqwest::Method::POST, "/api/v2/users/create_or_update.json", &[], Some(&body), None).await?;
        id_at(&answer, "/user/id").ok_or_else(|| Error::PlatformOutcomeUnknown {
            platform: PLATFORM,
            message: "the user answer has no id".into(),
        })
    }

    /// The conversation's ticket as Zendesk knows it (by `external_id`), linked in the table.
    async fn find_ticket(&self, conversation: &ConversationId) -> Result<Option<TicketLink>> {
        let query = [("external_id", conversation.0.as_str())];
        let answer = self.call(reqwest::Method::GET, "/api/v2/tickets.json", &query, None, None).await?;
        // `external_id` is not unique at Zendesk: the oldest ticket is the conversation's.
        let oldest = answer["tickets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["external_id"].as_str() == Some(conversation.0.as_str()))
            .min_by_key(|t| t["id"].as_u64().unwrap_or(u64::MAX));
        let Some(ticket) = oldest else { return Ok(None) };
        let (Some(ticket_id), Some(requester_id)) = (id_at(ticket, "/id"), id_at(ticket, "/requester_id")) else {
            return Ok(None);
        };
        let link = TicketLink { ticket_id, requester_id };
        Ok(Some(self.links.link_ticket(conversation, ZENDESK, &link, chrono::Utc::now()).await?))
    }

    async fn linked(&self, conversation: &ConversationId) -> Result<Option<TicketLink>> {
        match self.links.ticket(conversation, ZENDESK).await? {
            Some(link) => Ok(Some(link)),
            None => self.find_ticket(conversation).await,
        }
    }

    async fn open(&self, event: &TicketEvent, ticket: &NewTicket) -> Result<String> {
        if let Some(link) = self.links.ticket(&event.conversation, ZENDESK).await? {
            return Ok(link.ticket_id);
        }
        let requester_id = self.user(&ticket.customer).await?;
        let first_comment = super::opening_body(&self.links, event, ticket).await;
        let body = json!({"ticket": {
            "subject": ticket.subject,
            "comment": {"body": first_comment, "public": true, "author_id": requester_id.parse::<u64>().ok()},
            "requester_id": requester_id.parse::<u64>().ok(),
            "external_id": event.conversation.0,
            "tags": ticket.tags,
            "priority": ticket.priority.zendesk(),
        }});
        let answer =
            self.call(reqwest::Method::POST, "/api/v2/tickets.json", &[], Some(&body), Some(&event.event_id)).await?;
        let ticket_id = id_at(&answer, "/ticket/id").ok_or_else(|| Error::PlatformOutcomeUnknown {
            platform: PLATFORM,
            message: "the ticket answer has no id".into(),
        })?;
        let link = TicketLink { ticket_id, requester_id };
        Ok(self.links.link_ticket(&event.conversation, ZENDESK, &link, chrono::Utc::now()).await?.ticket_id)
    }

    async fn update(&self, ticket_id: &str, ticket: Value) -> Result<String> {
        let path = format!("/api/v2/tickets/{ticket_id}.json");
        let answer = self.call(reqwest::Method::PUT, &path, &[], Some(&json!({ "ticket": ticket })), None).await?;
        Ok(id_at(&answer, "/audit/id")
            .map_or_else(|| format!("ticket {ticket_id}"), |a| format!("ticket {ticket_id} audit {a}")))
    }

    /// The ticket's priority, group and whether an agent has it.
    async fn current(&self, ticket_id: &str) -> Result<CurrentTicket> {
        let path = format!("/api/v2/tickets/{ticket_id}.json");
        let answer = self.call(reqwest::Method::GET, &path, &[], None, None).await?;
        let ticket = &answer["ticket"];
        Ok(CurrentTicket {
            priority: ticket["priority"].as_str().and_then(TicketPriority::from_zendesk),
            group: ticket["group_id"].as_u64(),
            assigned: ticket["assignee_id"].as_u64().is_some(),
        })
    }

    /// Whether a comment carrying `marker` is on the ticket (its newest page).
    async fn comment_with(&self, ticket_id: &str, marker: &str) -> Result<Option<String>> {
        let path = format!("/api/v2/tickets/{ticket_id}/comments.json");
        let answer = self.call(reqwest::Method::GET, &path, &[("sort_order", "desc")], None, None).await?;
        Ok(answer["comments"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["body"].as_str().is_some_and(|b| b.contains(marker)))
            .and_then(|c| id_at(c, "/id"))
            .map(|id| format!("ticket {ticket_id} comment {id}")))
    }
}

impl<T: AccessTokens, L: TicketLinks + CustomerReader> ReplySender for ZendeskClient<T, L> {
    async fn send(&self, message: &OutboxMessage) -> Result<String> {
        let event = ticket_event(message, &self.escalations)?;
        match &event.action {
            TicketAction::Open(ticket) => self.open(&event, ticket).await,
            TicketAction::CustomerComment { body, .. } => {
                // The ticket comes first: its create is written, and so sent, before this.
                let link = self.linked(&event.conversation).await?.ok_or(Error::Waiting {
                    platform: PLATFORM,
                    what: "the conversation's ticket, still on its way",
                })?;
                let author = link.requester_id.parse::<u64>().ok();
                let comment = json!({"comment": {"body": body, "public": true, "author_id": author}});
                self.update(&link.ticket_id, comment).await
            }
            TicketAction::Escalate { note, actions } => match self.linked(&event.conversation).await? {
                Some(link) => {
                    // The note, the raise and the move in one update: Zendesk applies all or none.
                    let current = self.current(&link.ticket_id).await?;
                    let change = TicketChange::for_ticket(current, actions.priority, actions.zendesk_group);
                    let mut update = json!({"comment": {"body": note, "public": false}});
                    if let Some(priority) = change.priority {
                        update["priority"] = json!(priority.zendesk());
                    }
                    if let Some(group) = change.group {
                        update["group_id"] = json!(group);
                    }
                    self.update(&link.ticket_id, update).await
                }
                None => Ok("no ticket to escalate".into()),
            },
            TicketAction::Solve { note } => match self.linked(&event.conversation).await? {
                Some(link) => {
                    self.update(
                        &link.ticket_id,
                        json!({"comment": {"body": note, "public": false}, "status": "solved"}),
                    )
                    .await
                }
                None => Ok("no ticket to solve".into()),
            },
        }
    }

    async fn find_sent(&self, message: &OutboxMessage, _window: crate::ports::SendWindow) -> Result<Option<String>> {
        let event = ticket_event(message, &self.escalations)?;
        let Some(link) = self.linked(&event.conversation).await? else { return Ok(None) };
        match event.action {
            TicketAction::Open(_) => Ok(Some(link.ticket_id)),
            _ => self.comment_with(&link.ticket_id, &super::tickets::marker(&event.event_id)).await,
        }
    }
}
