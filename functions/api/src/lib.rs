//! The HTTP API (`/v1`), for help desks, agents' tools and scripts. Every route needs an
//! API key (`Authorization: Bearer hark_…`, made with `hark api-key create`) with the
//! route's scope; the OpenAPI document (`docs/openapi.json`) describes every route and is
//! served at `/v1/openapi.json`.
//!
//! Order of work: the route, then the key, then the request's parameters. Every refusal of
//! a key is the same 401, so a prober learns nothing about which keys exist.
//!
//! Beside `/v1`, the function takes help desks' own webhooks (`/helpdesks/zendesk`,
//! `/helpdesks/freshdesk`): an agent's public comment becomes a reply to the customer, a
//! solved ticket resolves the conversation. Those are authenticated by each help desk's
//! secret (`HelpDeskSecret`), never by an API key.

mod incidents;

use hark_shared::adapters::dynamo::DynamoStore;
use hark_shared::channels::answer::{self, Answering};
use hark_shared::config::env_or;
use hark_shared::domain::agent_reply::{self, ReplyRefused, Visibility};
use hark_shared::domain::api_key::{KeyRefused, PresentedKey, Scope};
use hark_shared::domain::api_request::{
    BadRequest, FollowUpAsked, Listing, ReplyRequest, ResolveRequest, conversation_id, encode_cursor, is_platform_id,
    kpi_period, object_body, percent_decoded,
};
use hark_shared::domain::mention::Channel;
use hark_shared::domain::reply::{DEFAULT_FOLLOW_UP, FollowUpTemplates};
use hark_shared::helpdesks::answers::{self, DeskEvent};
use hark_shared::helpdesks::{DeskSecrets, WebhookRefused, freshdesk, zendesk};
use hark_shared::metrics::Metrics;
use hark_shared::ports::{
    ApiKeyStore, Clock, ConversationId, ConversationReader, ConversationResolver, ConversationView, CustomerReader,
    CustomerValues, Incidents, OutboxMessage, OutboxPurpose, QueuedReply, ReplyQueue, Resolution, SystemClock,
    due_shard,
};
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

/// The OpenAPI 3.1 document, as the repository keeps it.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");
const PREFIX: &str = "/v1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no route for {0}")]
    NotFound(String),
    #[error("method {0} not allowed here")]
    MethodNotAllowed(Method, &'static str),
    #[error(transparent)]
    Key(#[from] KeyRefused),
    /// A help desk's webhook that could not be authenticated (the reason is for the log).
    #[error("help-desk webhook refused: {0}")]
    DeskRefused(String),
    #[error("{0}")]
    BadRequest(String),
    /// Well formed, but not something that can be done (a repeated key with another reply,
    /// a conversation with nothing to answer).
    #[error("{0}")]
    Unprocessable(String),
    #[error("this Idempotency-Key was used for a different reply; use a new key for a new reply")]
    KeyReused,
    #[error("no conversation {0}")]
    NoConversation(String),
    #[error("no customer {0}")]
    NoCustomer(String),
    #[error("no incident {0}")]
    NoIncident(String),
    #[error("the store failed: {0}")]
    Store(#[from] hark_shared::Error),
}

impl From<BadRequest> for ApiError {
    fn from(refused: BadRequest) -> Self {
        ApiError::BadRequest(refused.0)
    }
}

impl ApiError {
    /// The one place errors become HTTP statuses.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) | ApiError::NoConversation(_) | ApiError::NoCustomer(_) | ApiError::NoIncident(_) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed(..) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Key(KeyRefused::Scope(_)) => StatusCode::FORBIDDEN,
            ApiError::Key(_) | ApiError::DeskRefused(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable(_) | ApiError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the caller is told: nothing about keys beyond "unauthorized", nothing about
    /// the table.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Key(KeyRefused::Scope(scope)) => format!("forbidden: the key lacks the {scope} scope"),
            ApiError::Key(_) | ApiError::DeskRefused(_) => "unauthorized".to_owned(),
            ApiError::Store(_) => "temporarily unavailable, please retry".to_owned(),
            other => other.to_string(),
        }
    }
}

pub struct State<S> {
    pub store: S,
    pub clock: Box<dyn Clock>,
    /// The public message that closes a thread on resolving, per account.
    pub follow_ups: FollowUpTemplates,
    /// What authenticates help desks' own webhooks (`/helpdesks/{desk}`).
    pub desks: DeskSecrets,
    /// Shards of the due index the outbox sweep reads (`DUE_INDEX_SHARDS`).
    pub due_shards: u32,
    /// A ticket solved in a help desk closes a public thread handled privately with the
    /// follow-up (`FOLLOW_UP_ON_SOLVED`: `handled-privately`, or `never`).
    pub follow_up_on_solved: bool,
}

impl State<DynamoStore> {
    /// Reads configuration once, at cold start.
    pub async fn from_env() -> Result<Self, hark_shared::Error> {
        let aws = hark_shared::config::aws().await;
        let table = hark_shared::config::required_env("TABLE_NAME")?;
        Ok(State {
            store: DynamoStore::from_config(&aws, table),
            clock: Box::new(SystemClock),
            follow_ups: FollowUpTemplates::new(
                &env_or("FOLLOW_UP_TEMPLATE", DEFAULT_FOLLOW_UP.to_owned())?,
                &env_or("FOLLOW_UP_TEMPLATES", "{}".to_owned())?,
                &env_or("ACK_SIGNATURE", String::new())?,
            )
            .map_err(hark_shared::Error::Config)?,
            desks: DeskSecrets::load(&aws).await?,
            due_shards: env_or("DUE_INDEX_SHARDS", 4)?,
            follow_up_on_solved: match env_or("FOLLOW_UP_ON_SOLVED", "handled-privately".to_owned())?.as_str() {
                "handled-privately" => true,
                "never" => false,
                other => {
                    return Err(hark_shared::Error::Config(format!(
                        "FOLLOW_UP_ON_SOLVED is handled-privately or never, not {:?}",
                        other.chars().take(40).collect::<String>()
                    )));
                }
            },
        })
    }
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::Text(body))
        .expect("static response parts are valid")
}

/// Handles one API Gateway request. Never fails: every error is an HTTP answer.
pub async fn handle<S: Store>(state: &State<S>, request: Request) -> Result<Response<Body>, lambda_http::Error> {
    let mut metrics = Metrics::new("api");
    let response = match route(state, &request).await {
        Ok(answer) => {
            let mut response = json_response(answer.status, answer.body);
            if answer.replayed {
                response.headers_mut().insert("idempotent-replayed", http::HeaderValue::from_static("true"));
            }
            response
        }
        Err(error) => {
            let status = error.status();
            if status.is_server_error() {
                tracing::error!(%error, "API request failed");
                metrics.count("ApiFailures", 1);
            } else {
                tracing::warn!(%error, status = status.as_u16(), "API request refused");
                metrics.count(if status == StatusCode::UNAUTHORIZED { "Unauthorized" } else { "Refused" }, 1);
            }
            let mut response =
                json_response(status, serde_json::json!({ "error": error.public_message() }).to_string());
            if let ApiError::MethodNotAllowed(_, allowed) = error {
                response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static(allowed));
            }
            response
        }
    };
    metrics.emit();
    Ok(response)
}

/// Everything the API reads and writes.
pub trait Store:
    ApiKeyStore + ConversationReader + ConversationResolver + CustomerReader + CustomerValues + Incidents + ReplyQueue
{
}
impl<S> Store for S where
    S: ApiKeyStore
        + ConversationReader
        + ConversationResolver
        + CustomerReader
        + CustomerValues
        + Incidents
        + ReplyQueue
{
}

/// A route's answer.
struct Answer {
    status: StatusCode,
    body: String,
    /// Repeats an earlier request's outcome (same idempotency key).
    replayed: bool,
}

impl Answer {
    fn ok(body: String) -> Self {
        Answer { status: StatusCode::OK, body, replayed: false }
    }
}

/// The routes.
enum Route<'a> {
    OpenApi,
    Conversations,
    Conversation(&'a str),
    Resolve(&'a str),
    Reply(&'a str),
    Customer(&'a str, &'a str, &'a str),
    CustomerValues,
    Kpis,
    Incidents,
    Incident(&'a str),
    IncidentPost(&'a str),
}

impl Route<'_> {
    /// The one method each route answers, and the scope it needs.
    fn method_and_scope(&self) -> (Method, &'static str, Scope) {
        match self {
            Route::OpenApi
            | Route::Conversations
            | Route::Conversation(_)
            | Route::Customer(..)
            | Route::Kpis
            | Route::Incidents
            | Route::Incident(_) => (Method::GET, "GET", Scope::Read),
            // Approving a post speaks for the brand in public, as a reply does.
            Route::Resolve(_) | Route::Reply(_) | Route::IncidentPost(_) => (Method::POST, "POST", Scope::Reply),
            Route::CustomerValues => (Method::PUT, "PUT", Scope::Configure),
        }
    }
}

async fn route<S: Store>(state: &State<S>, request: &Request) -> Result<Answer, ApiError> {
    let path = request.uri().path();
    if let Some(desk) = path.strip_prefix("/helpdesks/") {
        return desk_webhook(state, request, desk).await;
    }
    let route = match path.strip_prefix(PREFIX).map(|p| p.split('/').collect::<Vec<_>>()).as_deref() {
        Some(["", "openapi.json"]) => Route::OpenApi,
        Some(["", "conversations"]) => Route::Conversations,
        Some(["", "kpis"]) => Route::Kpis,
        Some(["", "customer-values"]) => Route::CustomerValues,
        Some(["", "conversations", id]) => Route::Conversation(id),
        Some(["", "conversations", id, "resolve"]) => Route::Resolve(id),
        Some(["", "conversations", id, "replies"]) => Route::Reply(id),
        Some(["", "customers", channel, account, customer]) => Route::Customer(channel, account, customer),
        Some(["", "incidents"]) => Route::Incidents,
        Some(["", "incidents", id]) => Route::Incident(id),
        Some(["", "incidents", id, "post"]) => Route::IncidentPost(id),
        _ => return Err(ApiError::NotFound(path.chars().take(200).collect())),
    };
    let (method, allowed, scope) = route.method_and_scope();
    if request.method() != method {
        return Err(ApiError::MethodNotAllowed(request.method().clone(), allowed));
    }
    let key_id = authorise(state, request, scope).await?;
    let body = match route {
        Route::Reply(id) => return reply(state, request, conversation_id(id)?, &key_id).await,
        Route::IncidentPost(id) => return incidents::approve(state, request, id, &key_id).await,
        Route::Incidents => incidents::list(state).await?,
        Route::Incident(id) => incidents::show(state, id).await?,
        Route::OpenApi => OPENAPI.to_owned(),
        Route::Conversations => {
            let query = Listing::from_query(request.uri().query().unwrap_or_default())?;
            let page = state
                .store
                .list_conversations(&query.filter, query.limit, query.cursor.as_ref(), state.clock.now())
                .await?;
            let next_cursor = page.next.as_ref().map(encode_cursor);
            let body = serde_json::json!({ "conversations": page.conversations, "next_cursor": next_cursor });
            body.to_string()
        }
        Route::Resolve(id) => resolve(state, request, conversation_id(id)?).await?,
        Route::CustomerValues => import_customer_values(state, request).await?,
        Route::Kpis => {
            let now = state.clock.now();
            let (since, until) = kpi_period(request.uri().query().unwrap_or_default(), now)?;
            let rows = state.store.kpi_rows(since, until).await?;
            let summary = hark_shared::domain::kpi::summarise(&rows, since, until);
            serde_json::to_string(&summary).expect("KPIs serialise")
        }
        Route::Customer(channel, account, customer) => {
            let invalid =
                || ApiError::BadRequest("invalid customer: /v1/customers/{channel}/{account}/{customer}".into());
            let channel = Channel::parse(channel).ok_or_else(invalid)?;
            let (account, customer) = (percent_decoded(account), percent_decoded(customer));
            let (Some(account), Some(customer)) = (account, customer) else { return Err(invalid()) };
            if !is_platform_id(&account) || !is_platform_id(&customer) {
                return Err(invalid());
            }
            let profile = state
                .store
                .customer_profile(channel, &account, &customer)
                .await?
                .ok_or_else(|| ApiError::NoCustomer(format!("{channel}/{account}/{customer}")))?;
            serde_json::to_string(&profile).expect("a customer profile serialises")
        }
        Route::Conversation(id) => {
            let id = conversation_id(id)?;
            let view = state.store.conversation_view(&id).await?.ok_or(ApiError::NoConversation(id.0))?;
            serde_json::to_string(&view).expect("a conversation view serialises")
        }
    };
    Ok(Answer::ok(body))
}

/// The largest customer-value import the API takes; larger files go through `hark customers import`.
const MAX_IMPORT_BODY: usize = 1024 * 1024;

/// `PUT /v1/customer-values`: the CRM's mapping (CSV or a JSON array), checked whole before
/// anything is written.
async fn import_customer_values<S: Store>(state: &State<S>, request: &Request) -> Result<String, ApiError> {
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_IMPORT_BODY {
        return Err(ApiError::BadRequest(format!(
            "the body is over {MAX_IMPORT_BODY} bytes; import larger files with `hark customers import`"
        )));
    }
    let text = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("the body is not UTF-8 text".into()))?;
    let rows = hark_shared::domain::customer_value::parse_import(text).map_err(|errors| {
        let shown: Vec<String> = errors.iter().take(20).map(ToString::to_string).collect();
        let more = errors.len().saturating_sub(shown.len());
        let tail = if more > 0 { format!("; and {more} more") } else { String::new() };
        ApiError::BadRequest(format!("nothing imported: {}{tail}", shown.join("; ")))
    })?;
    let stored = state.store.import_values(&rows).await?;
    Ok(serde_json::json!({ "stored": stored }).to_string())
}

/// The largest reply body read: the longest text any channel takes, escaped, with room.
const MAX_REPLY_BODY: usize = 16 * 1024;

/// Queues an agent's reply in the outbox, once per idempotency key; the outbox sweep sends
/// it on its next run. The API holds no channel credentials: it can write what is to be
/// sent, never send it.
async fn reply<S: Store>(
    state: &State<S>,
    request: &Request,
    conversation: ConversationId,
    api_key_id: &str,
) -> Result<Answer, ApiError> {
    let refused = |e: ReplyRefused| ApiError::BadRequest(e.to_string());
    let header = request.headers().get("idempotency-key").and_then(|v| v.to_str().ok());
    let idempotency_key = agent_reply::idempotency_key(header).map_err(refused)?;
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_REPLY_BODY {
        return Err(ApiError::BadRequest(format!("the body is over {MAX_REPLY_BODY} bytes")));
    }
    let asked: ReplyRequest =
        object_body(body, "the body must be {\"text\": \"…\", \"visibility\": \"public\" | \"private\"}")?;
    let view =
        state.store.conversation_view(&conversation).await?.ok_or(ApiError::NoConversation(conversation.0.clone()))?;
    let channel = channel_of(&view)?;
    let text = agent_reply::checked_text(channel, &asked.text).map_err(refused)?;
    let record_id = agent_reply::record_id(api_key_id, idempotency_key);
    let answer = Outgoing { purpose: OutboxPurpose::AgentReply, record_id, text, visibility: asked.visibility };
    let (body, replayed) = queue(state, &conversation, &view, answer).await?;
    Ok(Answer { status: StatusCode::ACCEPTED, body: body.to_string(), replayed })
}

fn channel_of(view: &ConversationView) -> Result<Channel, ApiError> {
    Channel::parse(&view.channel).ok_or_else(|| ApiError::Unprocessable("unknown channel".into()))
}

/// A message a person (or their tool) asks Hark to send.
struct Outgoing {
    purpose: OutboxPurpose,
    record_id: String,
    text: String,
    visibility: Visibility,
}

/// Puts `outgoing` in the outbox, addressed to where the channel lets it answer the
/// customer's latest message; the same record again when its key was used for the same
/// text and place. Returns the record as the API shows it, and whether it was there before.
async fn queue<S: Store>(
    state: &State<S>,
    conversation: &ConversationId,
    view: &ConversationView,
    outgoing: Outgoing,
) -> Result<(serde_json::Value, bool), ApiError> {
    let channel = channel_of(view)?;
    let latest = view
        .messages
        .iter()
        .rev()
        .find(|m| m.direction == "inbound" && m.removed_at.is_none())
        .ok_or_else(|| ApiError::Unprocessable("the conversation has no customer message to answer".into()))?;
    let answering = Answering {
        channel,
        direct: view.kind == "direct",
        customer_id: &view.customer.id,
        anchor_id: conversation.anchor(),
        latest_id: &latest.id,
        latest_is_post: latest.kind == "post",
    };
    let target =
        answer::agent_reply(&answering, outgoing.visibility).map_err(|why| ApiError::Unprocessable(why.into()))?;
    let message = OutboxMessage {
        purpose: outgoing.purpose,
        record_id: outgoing.record_id,
        channel,
        account_id: view.account_id.clone(),
        answers_message_id: latest.id.clone(),
        target,
        text: outgoing.text,
        customer_wrote_at: Some(latest.created_at),
    };
    let fingerprint = agent_reply::fingerprint(&message.text, outgoing.visibility);
    let shard = due_shard(conversation, state.due_shards);
    let now = state.clock.now();
    let (entry, replayed) = match state.store.queue_reply(conversation, &message, &fingerprint, shard, now).await? {
        QueuedReply::Queued(entry) => (entry, false),
        QueuedReply::Existing { entry, fingerprint: earlier } if earlier == fingerprint => (entry, true),
        QueuedReply::Existing { .. } => return Err(ApiError::KeyReused),
    };
    tracing::info!(conversation = %conversation, record = %entry.message.key(), replayed, "queued for the outbox");
    let body = serde_json::json!({
        "id": entry.message.key().to_string(),
        "conversation_id": conversation.0,
        "status": entry.status.as_str(),
        "visibility": outgoing.visibility,
        "target": entry.message.target,
        "answers_message_id": entry.message.answers_message_id,
        "text": entry.message.text,
        "attempts": entry.attempts,
        "created_at": entry.created_at,
        "last_error": entry.last_error,
    });
    Ok((body, replayed))
}

/// The largest help-desk webhook read (Zendesk events carry the whole ticket).
const MAX_DESK_BODY: usize = 256 * 1024;

/// `POST /helpdesks/zendesk` and `/helpdesks/freshdesk`: a help desk's own webhook,
/// authenticated by its secret (never an API key), verified over the raw bytes before
/// anything reads it. An agent's public comment is queued as a reply, once per event (the
/// event id names the outbox record, so a redelivery finds it there); a solved ticket
/// resolves the conversation. What is not for Hark is answered 200, so it is not retried.
async fn desk_webhook<S: Store>(state: &State<S>, request: &Request, desk: &str) -> Result<Answer, ApiError> {
    if !matches!(desk, "zendesk" | "freshdesk") {
        return Err(ApiError::NotFound(format!("/helpdesks/{}", desk.chars().take(40).collect::<String>())));
    }
    if request.method() != Method::POST {
        return Err(ApiError::MethodNotAllowed(request.method().clone(), "POST"));
    }
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_DESK_BODY {
        return Err(ApiError::BadRequest(format!("the body is over {MAX_DESK_BODY} bytes")));
    }
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let refused = |e: WebhookRefused| ApiError::DeskRefused(format!("{desk}: {e}"));
    let unconfigured = || ApiError::DeskRefused(format!("no {desk} secret is configured"));
    let event = if desk == "zendesk" {
        let secrets = state.desks.zendesk.as_ref().ok_or_else(unconfigured)?;
        let (timestamp, signature) = (header(zendesk::TIMESTAMP_HEADER), header(zendesk::SIGNATURE_HEADER));
        zendesk::verify(&secrets.signing_secret, timestamp, signature, body, state.clock.now()).map_err(refused)?;
        answers::zendesk(body, secrets.hark_user_id.as_deref())
    } else {
        let secrets = state.desks.freshdesk.as_ref().ok_or_else(unconfigured)?;
        freshdesk::verify(&secrets.secret, header(freshdesk::SECRET_HEADER)).map_err(refused)?;
        answers::freshdesk(body)
    }
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let ignored = |reason: &str| serde_json::json!({ "outcome": "ignored", "reason": reason });
    let outcome = match event {
        DeskEvent::Ignored(reason) => ignored(&reason),
        DeskEvent::Answer { event_id, conversation, text } => match state.store.conversation_view(&conversation).await?
        {
            None => ignored("no such conversation"),
            Some(view) => {
                let text = agent_reply::checked_text(channel_of(&view)?, &text)
                    .map_err(|e| ApiError::Unprocessable(format!("the agent's answer cannot be posted: {e}")))?;
                let record_id = format!("{desk}.{event_id}");
                let answer =
                    Outgoing { purpose: OutboxPurpose::AgentReply, record_id, text, visibility: Visibility::Public };
                match queue(state, &conversation, &view, answer).await {
                    Ok((reply, replayed)) => {
                        serde_json::json!({ "outcome": "queued", "replayed": replayed, "reply": reply })
                    }
                    // The same event id with other words: the first one stands.
                    Err(ApiError::KeyReused) => ignored("this event was taken before"),
                    Err(other) => return Err(other),
                }
            }
        },
        DeskEvent::Solved { conversation, .. } => {
            // Solved in the desk after a private answer (a DM, a private reply, a call): the
            // public thread gets the follow-up, once per customer message, before it closes.
            let mut follow_up = serde_json::Value::Null;
            if state.follow_up_on_solved
                && let Some(view) = state.store.conversation_view(&conversation).await?
                && view.kind != "direct"
                && !view.answered_in_public()
            {
                let customer = &view.customer;
                let text =
                    state.follow_ups.render(&view.account_id, customer.name.as_deref(), customer.handle.as_deref());
                follow_up = match queue_follow_up(state, &conversation, &view, text).await {
                    Ok(body) => body,
                    // A follow-up already queued for that message, in other words: it stands.
                    Err(ApiError::Unprocessable(_)) => serde_json::Value::Null,
                    Err(other) => return Err(other),
                };
            }
            match state.store.resolve_conversation(&conversation, state.clock.now()).await? {
                Resolution::Resolved => {
                    serde_json::json!({ "outcome": "resolved", "changed": true, "follow_up": follow_up })
                }
                Resolution::AlreadyResolved => {
                    serde_json::json!({ "outcome": "resolved", "changed": false, "follow_up": follow_up })
                }
                Resolution::NoSuchConversation => ignored("no such conversation"),
            }
        }
    };
    tracing::info!(desk, outcome = %outcome["outcome"], "help-desk webhook taken");
    Ok(Answer::ok(outcome.to_string()))
}

/// Resolves the conversation, first queuing the follow-up when asked: a short public
/// message on the thread (the account's template, or the caller's words). Follow-ups are
/// for public threads; a DM conversation gets one only in words the caller gives. The
/// follow-up is keyed by the customer's latest message, so resolving again never sends a
/// second one.
async fn resolve<S: Store>(state: &State<S>, request: &Request, id: ConversationId) -> Result<String, ApiError> {
    let body: &[u8] = request.body().as_ref();
    if body.len() > MAX_REPLY_BODY {
        return Err(ApiError::BadRequest(format!("the body is over {MAX_REPLY_BODY} bytes")));
    }
    let asked: ResolveRequest = if body.is_empty() {
        ResolveRequest::default()
    } else {
        object_body(body, "the body is empty or {\"follow_up\": true | false | \"text\"}")?
    };
    let mut follow_up = serde_json::Value::Null;
    if let Some(asked) = asked.follow_up.filter(|a| !matches!(a, FollowUpAsked::Template(false))) {
        let view = state.store.conversation_view(&id).await?.ok_or(ApiError::NoConversation(id.0.clone()))?;
        let channel = channel_of(&view)?;
        let text = match asked {
            FollowUpAsked::Template(_) if view.kind == "direct" => {
                return Err(ApiError::Unprocessable(
                    "follow-ups are for public threads; for a DM conversation give the words (\"follow_up\": \"…\")"
                        .into(),
                ));
            }
            FollowUpAsked::Template(_) => {
                let customer = &view.customer;
                state.follow_ups.render(&view.account_id, customer.name.as_deref(), customer.handle.as_deref())
            }
            FollowUpAsked::Text(text) => {
                agent_reply::checked_text(channel, &text).map_err(|e| ApiError::BadRequest(e.to_string()))?
            }
        };
        follow_up = queue_follow_up(state, &id, &view, text).await?;
    }
    let resolved = match state.store.resolve_conversation(&id, state.clock.now()).await? {
        Resolution::Resolved => true,
        Resolution::AlreadyResolved => false,
        Resolution::NoSuchConversation => return Err(ApiError::NoConversation(id.0)),
    };
    let queued = !follow_up.is_null();
    tracing::info!(conversation = %id, resolved, follow_up = queued, "conversation resolved through the API");
    Ok(serde_json::json!({ "id": id.0, "status": "resolved", "changed": resolved, "follow_up": follow_up }).to_string())
}

/// Queues the follow-up that closes a public thread, keyed by the customer's latest message:
/// resolving again never sends a second one, and a repeat in other words is refused.
async fn queue_follow_up<S: Store>(
    state: &State<S>,
    id: &ConversationId,
    view: &ConversationView,
    text: String,
) -> Result<serde_json::Value, ApiError> {
    let latest_inbound =
        view.messages.iter().rev().find(|m| m.direction == "inbound").map(|m| m.id.clone()).unwrap_or_default();
    let outgoing = Outgoing {
        purpose: OutboxPurpose::FollowUp,
        record_id: format!("follow-up.{latest_inbound}"),
        text,
        visibility: Visibility::Public,
    };
    match queue(state, id, view, outgoing).await {
        Ok((body, _)) => Ok(body),
        Err(ApiError::KeyReused) => {
            Err(ApiError::Unprocessable("a follow-up in other words was already queued".into()))
        }
        Err(other) => Err(other),
    }
}

/// The key in `Authorization`, checked against its record for `scope`.
/// Returns the key's id, which scopes what the caller names (idempotency keys).
async fn authorise<S: ApiKeyStore>(state: &State<S>, request: &Request, scope: Scope) -> Result<String, ApiError> {
    let header = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let presented = PresentedKey::from_authorization(header)?;
    let record = state.store.api_key(presented.id).await?.ok_or(KeyRefused::Unknown)?;
    presented.check(&record, scope)?;
    tracing::info!(key = presented.id, "API key accepted");
    Ok(presented.id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_is_json_and_3_1() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(document["paths"]["/v1/conversations/{id}"]["get"].is_object());
    }

    #[test]
    fn the_openapi_document_names_every_channel() {
        fn enums<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a serde_json::Value>) {
            match value {
                serde_json::Value::Object(map) => {
                    for (key, v) in map {
                        if key == "enum" && v.as_array().is_some_and(|e| e.iter().any(|c| c == "facebook")) {
                            found.push(v);
                        } else {
                            enums(v, found);
                        }
                    }
                }
                serde_json::Value::Array(list) => list.iter().for_each(|v| enums(v, found)),
                _ => {}
            }
        }
        let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let mut found = Vec::new();
        enums(&document, &mut found);
        let channels: Vec<&str> = hark_shared::domain::mention::Channel::ALL.iter().map(|c| c.as_str()).collect();
        assert!(!found.is_empty());
        for listed in found {
            assert_eq!(listed, &serde_json::json!(channels));
        }
    }
}
